"""A finished sample with stored texts and figures (as the sampling worker leaves it), for the
page tests and the browser tests of the sample pages."""

from __future__ import annotations

import io
import zipfile

from shared import lifecycle
from shared.db.models import Job
from shared.engine.inference.sample import sample_names
from shared.storage.keys import sample_key
from tests.browser.browser_helpers import TEST_LEASE

COPIED = "def copied_from_the_corpus(x):\n    return x + 1\n"


def sample_text(temperature: float, lines: int = 40) -> str:
    """A made-up text with one copied span, and a `<` to check the escaping."""
    body = "".join(f"value_{i} = {i} < {temperature:g}  # t={temperature:g}\n" for i in range(lines))
    return body[:200] + COPIED + body[200:]


def figures(name: str, temperature: float, text: str) -> tuple[dict, dict]:
    start = text.index(COPIED)
    quality = {
        "name": name, "temperature": temperature, "chars": len(text), "lines": text.count("\n"), "blocks": 1,
        "parse_rate": 1.0, "balanced_lines": 0.95, "indent_multiple_of_4": 1.0, "identifiers_defined": 0.5,
        "bits_per_char": 1.5 + temperature, "char_divergence": 0.05,
    }  # fmt: skip
    novelty = {
        "name": name, "temperature": temperature, "chars": len(text), "lines_counted": 40, "lines_copied": 1,
        "copied_lines": 0.025, "longest_copy": len(COPIED), "longest_copy_start": start, "min_span": 20,
        "spans": [[start, start + len(COPIED)]], "spans_total": 1, "copied_chars": len(COPIED),
    }  # fmt: skip
    return quality, novelty


def finished_sample(session, store, job_id: int, temperatures: list[float]) -> int:
    """A succeeded sample of `job_id`'s best epoch: one text per temperature, stored, with figures."""
    job = session.get(Job, job_id)
    epoch = lifecycle.best_epoch(job)
    assert epoch is not None
    sample = lifecycle.create_sample(
        session, job.owner_id, job, epoch, length=2000, temperatures=temperatures, count=1, seed_text=None,
        random_seed=None, precision="int8", top_k=7,
    )  # fmt: skip
    session.commit()
    names = sample_names(temperatures, 1)
    texts = [sample_text(t) for t in temperatures]
    key = sample_key(sample.id, len(texts), TEST_LEASE)
    if len(texts) == 1:
        store.put_bytes(key, texts[0].encode())
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in zip(names, texts, strict=True):
                archive.writestr(name, text)
        store.put_bytes(key, buffer.getvalue())
    pairs = [figures(n, t, x) for n, t, x in zip(names, temperatures, texts, strict=True)]
    lifecycle.finish_sample(session, sample.id, key, quality=[q for q, _ in pairs], novelty=[n for _, n in pairs])
    session.commit()
    return sample.id
