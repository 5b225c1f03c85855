"""The text of a running sample as it is written: its worker appends pieces (each text's new
characters, in order) while its attempt holds the lease (the fencing rule: a cancelled, lost or
handed-back attempt writes nothing), the text stream reads them from a character offset, and
work.py deletes a sample's pieces when an attempt starts it and when it ends (succeeded, failed,
cancelled, lost): from then on its stored text is the one authority."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..db.models import Sample, SamplePiece, WorkStatus


def append_pieces(session: Session, sample_id: int, lease: str, pieces: list[tuple[int, int, str]]) -> bool:
    """Add `pieces` (text_index, offset, text) of the sample while the attempt holding `lease`
    runs it; False (nothing written) when it no longer does."""
    held = select(Sample.id).where(Sample.id == sample_id, Sample.status == WorkStatus.running, Sample.lease == lease)
    if session.scalar(held.with_for_update()) is None:
        return False
    session.add_all(
        SamplePiece(sample_id=sample_id, text_index=index, offset=offset, text=text)
        for index, offset, text in pieces
        if text
    )
    return True


def read_pieces(session: Session, sample_id: int, text_index: int, offset: int) -> str:
    """The characters of text `text_index` written so far from character `offset` on ("" when
    there are none yet)."""
    end = SamplePiece.offset + func.length(SamplePiece.text)
    rows = session.execute(
        select(SamplePiece.offset, SamplePiece.text)
        .where(SamplePiece.sample_id == sample_id, SamplePiece.text_index == text_index, end > offset)
        .order_by(SamplePiece.offset)
    ).all()
    text, position = [], offset
    for start, piece in rows:
        if start > position:  # a gap: pieces of an attempt not yet (or never) written
            break
        text.append(piece[position - start :])
        position = start + len(piece)
    return "".join(text)


def clear_pieces(session: Session, sample_id: int) -> None:
    """Delete the sample's pieces (work.py: an attempt starts it, or it ends)."""
    session.execute(delete(SamplePiece).where(SamplePiece.sample_id == sample_id))
