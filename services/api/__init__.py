"""The HTTP API: `create_app()` builds a flask-openapi3 app with one blueprint per resource.

JSON lives under /api/v1; the OpenAPI document is /api/v1/openapi.json, generated from the
pydantic models that validate requests (services/api/schemas.py). `GET /healthz` needs no token.
"""

from flask_openapi3 import Info, OpenAPI
from werkzeug.routing import IntegerConverter

from services.admin import init_admin
from shared.db.session import normalize_url
from shared.settings import Settings, get_settings

from . import context, corpora, errors, health, jobs, samples
from .auth import SECURITY_SCHEMES
from .schemas import ErrorBody

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
        info=Info(title="charlstm", version="1.0.0",
                  description="Train character-level stateful LSTM text generators and sample from them."),
        security_schemes=SECURITY_SCHEMES,
        doc_prefix=API_PREFIX,
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_model=ErrorBody,
        validation_error_callback=errors.validation_error_response,
    )
    app.url_map.converters["int"] = IdConverter
    app.config.update(
        SETTINGS=settings,
        DATABASE_URL=normalize_url(settings.resolved_database_url),
        SECRET_KEY=settings.secret_key or None,
        MAX_CONTENT_LENGTH=JSON_BODY_LIMIT,
    )
    context.init_app(app, settings)
    errors.init_app(app)
    for blueprint in (health.bp, corpora.bp, jobs.bp, samples.bp):
        app.register_api(blueprint)
    init_admin(app)
    return app
