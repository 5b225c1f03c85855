"""The sampling worker's figures in-process against the workers' (moto) S3: the corpus index is
built once, stored next to the corpus and loaded from there; a text copied from the corpus scores
as copied, a made-up one does not."""

from shared.db.models import Corpus
from shared.lifecycle import SamplingWork
from shared.storage.keys import corpus_index_key
from tests.workers.processes import stdlib_text
from workers import corpus_index
from workers.sampling import measure_texts


def test_figures_against_the_corpus_index(db, make_corpus, worker_store, monkeypatch):
    corpus_text = stdlib_text(30_000)
    corpus_id = make_corpus(corpus_text)
    with db() as session:
        key = session.get(Corpus, corpus_id).object_key
    work = SamplingWork(
        sample_id=1, job_id=1, checkpoint_key="unused", length=0, temperatures=[0.5, 1.0], count=1,
        seed_text=None, random_seed=None, corpus_key=key,
    )  # fmt: skip
    copied = corpus_text[5_000:9_000]
    made_up = "".join(f"zq{i}x = wv{i * 7} + kk({i})\n" for i in range(200))
    monkeypatch.setattr(corpus_index, "get_store", lambda: worker_store)
    monkeypatch.setattr(corpus_index, "_cache", None)
    quality, novelty = measure_texts(work, None, [copied, made_up], ["sample-1-t0.5.txt", "sample-1-t1.txt"])

    assert corpus_index_key(key) in worker_store.list("corpora/")
    assert [q["name"] for q in quality] == ["sample-1-t0.5.txt", "sample-1-t1.txt"]
    assert quality[0]["balanced_lines"] is not None  # the stdlib corpus is Python-like
    assert quality[0]["char_divergence"] < quality[1]["char_divergence"]
    assert novelty is not None
    assert novelty[0]["copied_lines"] > 0.9 and novelty[0]["longest_copy"] >= 3_900
    assert novelty[0]["copied_chars"] >= 3_900 and novelty[0]["temperature"] == 0.5
    assert novelty[1]["copied_lines"] == 0.0 and novelty[1]["longest_copy"] < 20 and novelty[1]["spans"] == []

    # a fresh worker (empty cache) loads the stored index instead of building it again
    monkeypatch.setattr(corpus_index, "_cache", None)
    reference = corpus_index.corpus_reference(key, False)
    assert reference.build_seconds is None and reference.python
    _, again = measure_texts(work, None, [copied, made_up], ["a", "b"])
    assert again is not None and again[0]["longest_copy"] == novelty[0]["longest_copy"]
