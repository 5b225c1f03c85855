"""Admin status pages under /admin: jobs (live progress and loss curves), workers and queues,
corpora. Server-rendered Jinja templates, one CSS and one vanilla JS file, no CDN.

The app factory (services/app.py) calls `init_app(app)`.
"""

from flask import Flask

from . import views  # noqa: F401 - registers the routes on admin_bp
from .blueprint import FETCHED_ENDPOINTS, PUBLIC_ENDPOINTS, admin_bp, register

__all__ = ["FETCHED_ENDPOINTS", "PUBLIC_ENDPOINTS", "admin_bp", "init_app"]


def init_app(app: Flask) -> None:
    """Register the admin pages (their routes are in views.py)."""
    register(app)
