"""Labels and retention: the name, notes and tags a user sets on a job or corpus, and the retention
policy a job keeps (the lifecycle's RetentionPolicy owns its bounds)."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.actions.inputs import TAG_PATTERN, CorpusName, plain_text
from shared.lifecycle.retention import RetentionPolicy

Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]
Notes = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(plain_text)]


def _unique(tags: list[str] | None) -> list[str] | None:
    return None if tags is None else list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=16), AfterValidator(_unique)]


class Labels(BaseModel):
    """A name, notes and tags (1-32 of a-z 0-9 _ . : -, starting with a letter or digit; at most 16)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: CorpusName | None = Field(None, description="1-128 printable characters, no path separators")
    notes: Notes | None = Field(None, description="free text, at most 10,000 characters")
    tags: Tags | None = Field(None, description="replaces the tags; [] removes them all")


class RetentionIn(RetentionPolicy):
    """Which of the job's checkpoints stay in storage (the others are deleted as epochs land): the
    lifecycle's RetentionPolicy, its bounds and defaults, as the API takes it."""


LABEL_FIELDS = frozenset({"name", "notes", "tags", "retention"})
