"""What the workers page shows about the broker: its address (password masked) and transport, read
from the Celery app's configuration without connecting. The workers themselves come from the
worker registry in the database and the queue depths from shared.lifecycle.registry; nothing here
talks to the workers (no broadcast: a page view must not depend on, or disturb, any worker).
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery


@dataclass(frozen=True)
class BrokerLabel:
    broker: str
    transport: str


def broker_label(celery: Celery) -> BrokerLabel:
    """The broker's URL (no password) and transport name; never connects, never raises."""
    try:
        conn = celery.connection_for_read()
        try:
            return BrokerLabel(
                conn.as_uri(include_password=not conn.password),  # a password is masked
                getattr(conn.transport, "driver_type", "") or str(conn.transport_cls),
            )
        finally:
            conn.release()
    except Exception:  # noqa: BLE001 - a label is not worth an error page
        return BrokerLabel("", "")
