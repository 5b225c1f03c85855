"""JSON error bodies for every failure: `{"error": "...", "detail": [...]}`. Never an HTML page."""

import json

from flask import Flask, current_app, jsonify
from kombu.exceptions import OperationalError as BrokerError
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError as DatabaseError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared.actions import ActionError
from shared.storage import StorageError

from ..plumbing.errors import ApiError, as_api_error


def error_response(status: int, error: str, detail: list | None = None, headers: dict | None = None):
    body = {"error": error} if detail is None else {"error": error, "detail": detail}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def validation_error_response(exc: ValidationError):
    """flask-openapi3's hook: 422 naming every bad field by `loc`."""
    detail = json.loads(exc.json(include_url=False, include_input=False))
    unknown = "unknown query parameter" if exc.title.endswith("Query") else "unknown field"
    for error in detail:
        if error["type"] == "extra_forbidden":
            error["msg"] = f"{unknown}; the accepted ones are in /api/v1/openapi.json"
    return error_response(422, "request validation failed", detail)


def _api_error(exc: ApiError):
    return error_response(exc.status, exc.error, exc.detail, exc.headers)


def _action_error(exc: ActionError):
    return _api_error(as_api_error(exc))


def http_error(exc: HTTPException):
    """An HTTP error as JSON (the app-level answer for API clients: services/app.py)."""
    if exc.response is not None:  # abort(response), e.g. from flask-openapi3's validation
        return exc.response
    if isinstance(exc, RequestEntityTooLarge):
        return error_response(413, "request body too large")
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}  # Allow, WWW-Authenticate
    return error_response(exc.code or 500, (exc.name or "error").lower(), headers=headers)


RETRY_AFTER = {"Retry-After": "5"}


def _storage_error(exc: StorageError):
    current_app.logger.error("object storage failed: %s", exc)
    return error_response(503, "object storage unavailable", headers=RETRY_AFTER)


def _database_error(exc: Exception):
    current_app.logger.error("database unavailable: %s", exc)
    return error_response(503, "database unavailable", headers=RETRY_AFTER)


def _broker_error(exc: Exception):
    current_app.logger.error("broker unavailable: %s", exc)
    return error_response(503, "broker unavailable", headers=RETRY_AFTER)


def _unexpected(exc: Exception):
    current_app.logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal server error")


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(ActionError, _action_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(StorageError, _storage_error)
    app.register_error_handler(DatabaseError, _database_error)
    app.register_error_handler(PoolTimeout, _database_error)
    app.register_error_handler(BrokerError, _broker_error)
    app.register_error_handler(Exception, _unexpected)
