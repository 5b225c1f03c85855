"""Corpora: the upload form, the answer, the list."""

import unicodedata
from typing import Annotated, Any

from flask import has_request_context, request
from flask_openapi3 import FileStorage
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.actions.inputs import (
    CorpusName,
)

from ...plumbing.answers import UtcDatetime
from .common import Page, PageQuery
from .labels import Tag


def _is_file(value: Any) -> Any:
    if not hasattr(value, "stream"):
        raise ValueError("expected a file upload")
    return value


class CorpusForm(BaseModel):
    """A UTF-8 text file. The name is only a label (default: the file's name)."""

    model_config = ConfigDict(extra="forbid")

    file: Annotated[FileStorage, AfterValidator(_is_file)]
    name: CorpusName | None = Field(
        None, description="1-128 printable characters, no path separators; kept as Unicode (NFC), trimmed"
    )

    @field_validator("name", mode="before")
    @classmethod
    def _raw_name(cls, value):
        # flask-openapi3 JSON-decodes form fields ("123" -> 123); a name is always the raw text
        if has_request_context() and "name" in request.form:
            value = request.form["name"]
        return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


class CorpusPath(BaseModel):
    corpus_id: int = Field(json_schema_extra={"example": 1})


class CorpusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    bytes: int
    sha256: str
    raw_chars: int = Field(description="characters in the upload")
    raw_unique: int = Field(description="distinct characters in the upload")
    clean_chars: int = Field(description="characters after cleaning (non-ASCII replaced or dropped)")
    clean_unique: int = Field(description="distinct characters after cleaning")
    vocabulary: str = Field(description="the distinct characters after cleaning")
    created_at: UtcDatetime
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)


class CorpusList(Page):
    items: list[CorpusOut]


class CorpusQuery(PageQuery):
    tag: Tag | None = Field(None, description="only corpora with this tag")
