"""GET /healthz: is the service usable? Checks the database, the broker and the object store."""

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import text

from shared.queue import check_broker

from ..context import get_celery, get_db, get_store
from .schemas import Health

bp = APIBlueprint("health", __name__, abp_tags=[Tag(name="health")])


def _database() -> None:
    get_db().execute(text("SELECT 1"))


def _broker() -> None:
    check_broker(get_celery())


def _storage() -> None:
    get_store().check()


def _check(name: str, probe) -> str:
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 - any failure makes the dependency unavailable
        current_app.logger.warning("health check %s failed: %s", name, exc)
        return f"error: {type(exc).__name__}"
    return "ok"


@bp.get("/healthz", responses={200: Health, 503: Health})
def healthz():
    """Health of the API and its dependencies (no authentication)."""
    checks = {
        name: _check(name, probe)
        for name, probe in (("database", _database), ("broker", _broker), ("storage", _storage))
    }
    ok = all(result == "ok" for result in checks.values())
    return {"status": "ok" if ok else "unavailable", **checks}, 200 if ok else 503
