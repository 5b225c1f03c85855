"""Models every resource uses: the error body, paging, the answers any operation may give, health."""

from typing import Any

from pydantic import BaseModel, Field

from shared.actions.inputs import (
    NoQuery,
)


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description='where the problem is, e.g. ["layers"]')
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: a message, and for validation errors one entry per bad field."""

    error: str
    detail: list[ErrorDetail] | None = None


_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}

# Answers any operation may give, documented on each (an operation's own entry wins):
# 431 comes from the HTTP server (services/serve.py) before the app sees the request; 503 from the
# server's load shedding or from a dependency that did not answer within DEPENDENCY_TIMEOUT.
EVERY_OPERATION_RESPONSES: dict[Any, Any] = {
    431: {
        "description": "the request line and headers together are over 64 KiB (answered by the HTTP server)",
        "content": _ERROR_CONTENT,
    },
    503: {
        "description": "overloaded (shed), or the database, broker or object storage did not answer in time: "
        "retry after Retry-After seconds",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait before retrying (when known)",
                "schema": {"type": "integer"},
            }
        },
        "content": _ERROR_CONTENT,
    },
}


class PageQuery(NoQuery):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(20, ge=1, le=100)


class Page(BaseModel):
    page: int
    per_page: int
    total: int


class Liveness(BaseModel):
    status: str = Field(description="always ok: the API process answers")


class Health(BaseModel):
    status: str = Field(description="ok, or unavailable when a dependency failed")
    database: str
    broker: str
    storage: str
