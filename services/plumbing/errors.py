"""The one exception a view raises to answer with an error: the API renders it as JSON
(`{"error": ..., "detail": [...]}`), the admin pages as an error page."""


class ApiError(Exception):
    """Answer `status` with the message `error` (plus per-field `detail` and extra `headers`)."""

    def __init__(self, status: int, error: str, detail: list[dict] | None = None, headers: dict | None = None):
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def field_error(field: str, msg: str, type_: str = "value_error") -> dict:
    """One `detail` entry in the shape pydantic uses, for checks done after validation."""
    return {"loc": [field], "msg": msg, "type": type_}
