"""The HTTP API under /api/v1: one blueprint per resource, JSON errors everywhere. The app factory
(services/app.py) calls `init_app`; requests are validated by the pydantic models in
services/api/schemas.py, which also make the OpenAPI document. `GET /healthz` needs no token."""

from flask_openapi3 import OpenAPI

from . import checkpoints, corpora, errors, health, jobs, quota_errors, samples
from .auth import SECURITY_SCHEMES
from .errors import validation_error_response
from .schemas import ErrorBody

__all__ = ["SECURITY_SCHEMES", "ErrorBody", "init_app", "validation_error_response"]


def init_app(app: OpenAPI) -> None:
    errors.init_app(app)
    quota_errors.init_app(app)
    for blueprint in (health.bp, corpora.bp, jobs.bp, samples.bp, checkpoints.bp):
        app.register_api(blueprint)
