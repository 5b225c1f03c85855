"""Request hooks of the API's blueprints: a JSON object body on the routes that take one."""

from flask import request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from ..plumbing.errors import ApiError, field_error

_JSON_TYPES = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def json_body_on(*endpoints: str):
    """A `before_request` hook: require_json_object() on POSTs to these endpoints."""

    def hook() -> None:
        if request.method == "POST" and request.endpoint in endpoints:
            require_json_object()

    return hook


def require_json_object() -> None:
    """A `before_request` hook for routes with a JSON body: 415 unless it is sent as JSON, 400
    unless it parses, 422 unless it is an object (the model then names each bad field)."""
    if not request.is_json:
        raise ApiError(415, "the request body must be JSON, sent with Content-Type: application/json")
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()  # a chunked body is cut at the limit by Werkzeug, not refused
    try:
        body = request.get_json()
    except (BadRequest, RecursionError) as exc:  # json.loads fails deep nesting with a RecursionError
        why = exc.description if isinstance(exc, BadRequest) else "nested too deeply"
        raise ApiError(400, "the request body is not valid JSON", [field_error("body", why, "json_invalid")]) from exc
    if not isinstance(body, dict):
        got = _JSON_TYPES.get(type(body), "a number")
        raise ApiError(
            422,
            "the request body must be a JSON object",
            [field_error("body", f"expected an object, got {got}", "model_type")],
        )
