"""The one exception a view raises to answer with an error: the API renders it as JSON
(`{"error": ..., "detail": [...]}`), the pages as an error page. An action's refusal
(shared/actions/errors.py) becomes one here (`as_api_error`: the one map of refusals to statuses)."""

from flask import request

from shared.actions.errors import ActionError, Conflict, Invalid, NotFound, Unavailable, field_error

__all__ = ["STATUS_OF", "ApiError", "as_api_error", "field_error", "wants_page"]


class ApiError(Exception):
    """Answer `status` with the message `error` (plus per-field `detail` and extra `headers`)."""

    def __init__(self, status: int, error: str, detail: list[dict] | None = None, headers: dict | None = None):
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


STATUS_OF: dict[type[ActionError], int] = {NotFound: 404, Conflict: 409, Invalid: 422, Unavailable: 503}


def as_api_error(exc: ActionError) -> ApiError:
    """The HTTP answer to an action's refusal."""
    status = next((s for kind, s in STATUS_OF.items() if isinstance(exc, kind)), 500)
    return ApiError(status, exc.message, exc.detail)


def wants_page(api_prefix: str) -> bool:
    """Whether the current request's error is answered with an HTML page rather than JSON: the
    one rule for addresses no blueprint answers (an unknown path, a method a path does not take).
    Under the API's prefix, JSON always (its clients read it); elsewhere a page when the client
    prefers HTML to JSON (a browser), JSON otherwise (curl's `*/*`, scripts)."""
    if request.path == api_prefix or request.path.startswith(api_prefix + "/"):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
