"""The pages every user has (any API token signs in, not only an admin's), the landing page at
`/` and the API documentation (Swagger UI from local static files at /api/v1/docs).

The app factory (services/app.py) calls `init_app(app)` after the admin pages are registered
(the pages share their session cookie, CSRF settings and stylesheet).
"""

from flask_openapi3 import OpenAPI

from . import analysis_views, cancel_views, compare, docs, sample_views, views  # noqa: F401 - they register the routes on pages_bp
from .blueprint import pages_bp

__all__ = ["init_app", "pages_bp"]


def init_app(app: OpenAPI) -> None:
    """Register the user pages, the landing page and the API docs (once)."""
    if pages_bp.name in app.blueprints:
        return
    from ..admin import init_app as init_admin

    init_admin(app)  # does nothing when already registered; sets the secret key and CSRF config
    app.register_blueprint(pages_bp)
    docs.init_app(app)
