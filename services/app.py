"""The web app: `create_app()` builds one Flask (flask-openapi3) app serving the JSON API under
/api/v1 (its OpenAPI document at /api/v1/openapi.json) and the pages (services/web: the user pages,
the admin pages under /admin), with one database session per request, the object store and the
Celery app on `app.extensions`.

services/serve.py (waitress) serves `create_app()`.
"""

from flask_openapi3 import Info, OpenAPI
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from shared.settings import Settings, get_settings

from . import api, web
from .plumbing import context, metrics
from .plumbing.errors import wants_page

API_PREFIX = "/api/v1"
JSON_BODY_LIMIT = 1024 * 1024  # uploads get their own limit, MAX_UPLOAD_BYTES


class IdConverter(IntegerConverter):
    """`<int:...>` in paths: at most 20 digits, so that a longer number is a 404 like any other
    id that does not exist (Werkzeug's converter fails on thousands of digits, and answers 405)."""

    regex = r"\d{1,20}"


def create_app(settings: Settings | None = None) -> OpenAPI:
    settings = settings or get_settings()
    app = OpenAPI(
        __name__,
        info=Info(
            title="charlstm",
            version="1.0.0",
            description="Train character-level stateful LSTM text generators and sample from them.",
        ),
        security_schemes=api.SECURITY_SCHEMES,
        doc_prefix=API_PREFIX,
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_model=api.ErrorBody,
        validation_error_callback=api.validation_error_response,
    )
    app.url_map.converters["int"] = IdConverter
    app.config.update(SECRET_KEY=settings.secret_key or None, MAX_CONTENT_LENGTH=JSON_BODY_LIMIT)
    context.init_app(app, settings)
    metrics.init_app(app, api.health.readiness)  # GET /metrics; first, so that it times every request
    api.init_app(app)
    web.init_app(app)
    app.register_error_handler(HTTPException, http_error)  # in place of the API's JSON-only one
    return app


def http_error(exc: HTTPException):
    """An address no blueprint answers (an unknown path, a method it does not take): a browser
    gets the site's error page, an API client JSON (the rule: plumbing's wants_page)."""
    if exc.response is None and wants_page(API_PREFIX):
        from .web.pages.blueprint import site_error_page

        return site_error_page(exc)
    return api.http_error(exc)
