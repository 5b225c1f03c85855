"""Samples: the answer, with its texts' quality and novelty figures."""

from pydantic import BaseModel, ConfigDict, Field

from shared.actions.inputs import (
    NoQuery,
    Precision,
)
from shared.db.models import WorkStatus

from ...plumbing.answers import UtcDatetime
from .common import Page


class SamplePath(BaseModel):
    sample_id: int = Field(json_schema_extra={"example": 1})


class StreamQuery(NoQuery):
    """Where a text stream starts: `offset` characters in (default: the Last-Event-ID header an
    EventSource sends when it reconnects, else 0) of text `text` (0-based, the download's order)."""

    offset: int | None = Field(None, ge=0, le=2**31 - 1)
    text: int = Field(0, ge=0, le=10_000)


class TextQuality(BaseModel):
    """The quality figures of one text (shared.engine.measures.quality): a figure is null where it does not
    apply (the Python measures of a corpus that is not Python-like)."""

    name: str = Field(description="the text's file name, as in the download's zip")
    temperature: float
    chars: int
    lines: int
    verdict: str | None = Field(
        None,
        description="degenerate, text, python-shaped or parses: the text judged against its corpus's own figures "
        "(shared/engine/measures/verdict.py)",
    )
    verdict_reason: str | None = Field(None, description="why, in one line, with the figures that decided it")
    repeated_share: float | None = Field(
        None, description="share of the text in repeated runs (a character or a line repeated)"
    )
    distinct_ngrams_ratio: float | None = Field(
        None, description="the text's distinct 8-character windows over the corpus's at the same length"
    )
    blocks: int | None = Field(None, description="top-level blocks (statements at column 0 and their bodies)")
    parse_rate: float | None = Field(None, description="share of top-level blocks that ast.parse accepts")
    balanced_lines: float | None = Field(None, description="share of non-blank lines whose brackets balance")
    indent_multiple_of_4: float | None = Field(None, description="share of indented lines indented by 4k columns")
    identifiers_defined: float | None = Field(
        None, description="share of names read in parsing blocks that the block defines or imports (or builtins)"
    )
    bits_per_char: float | None = Field(
        None,
        description="the model's confidence: bits per character of the text under the model that wrote it "
        "(float32), over its first bits_chars; low for a text that repeats itself, so not a quality figure",
    )
    bits_chars: int | None = Field(None, description="characters bits_per_char was measured on (at most 10,000)")
    char_divergence: float | None = Field(
        None, description="Jensen-Shannon divergence (bits, 0-1) of the text's characters from the corpus's"
    )


class TextNovelty(BaseModel):
    """How much of one text is copied from the training corpus (shared.engine.measures.novelty)."""

    name: str
    temperature: float
    chars: int
    lines_counted: int = Field(description="lines of 20+ characters (stripped)")
    lines_copied: int = Field(description="of those, the lines found verbatim in the corpus")
    copied_lines: float | None = Field(description="lines_copied / lines_counted")
    longest_copy: int = Field(description="the longest substring found verbatim in the corpus, characters")
    longest_copy_start: int | None
    min_span: int = Field(description="non-blank characters for a copy to count as a span")
    spans: list[list[int]] = Field(description="copied [start, end) character ranges: the longest ones only")
    spans_total: int | None = Field(None, description="copied spans in all (spans keeps the longest 200)")
    copied_chars: int = Field(description="characters covered by all copied spans")


class SampleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    status: WorkStatus
    error: str | None
    progress: float = Field(description="fraction of the characters generated")
    length: int
    temperatures: list[float]
    count: int
    seed_text: str | None
    random_seed: int | None
    epoch: int | None = Field(description="the checkpoint epoch the texts come from")
    precision: Precision | None = Field(description="the weights the texts were sampled with")
    top_k: int | None
    top_p: float | None
    quality: list[TextQuality] | None = Field(description="per text, in the order of the download: null until done")
    novelty: list[TextNovelty] | None = Field(
        description="per text, against the job's training corpus: null until done"
    )
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class SampleList(Page):
    items: list[SampleOut]
