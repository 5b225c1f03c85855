"""Past a user's quota (shared.lifecycle.quotas.QuotaExceeded): 429 with a JSON error naming each
limit and the user's current use, `{"error": "quota exceeded: ...", "detail": [...]}`; each detail
has `loc`, `msg`, `type` ("quota_exceeded"), `quota` (its name), `limit` and `current`. The
request's transaction is rolled back, so nothing is stored or queued."""

from flask import Flask

from shared.lifecycle.quotas import QuotaExceeded

from .errors import error_response


def _quota_exceeded(exc: QuotaExceeded):
    return error_response(429, exc.message, exc.detail)


def init_app(app: Flask) -> None:
    app.register_error_handler(QuotaExceeded, _quota_exceeded)
