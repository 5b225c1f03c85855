"""Where things live in the object store: every key is built here, from ids the server made,
never from user input."""

from uuid import uuid4


def new_corpus_key() -> str:
    return f"corpora/{uuid4().hex}.txt"


def checkpoint_key(job_id: int, epoch: int) -> str:
    """An epoch's checkpoint folder (a key prefix: `<key>/model.keras`, `<key>/checkpoint.json`)."""
    return f"jobs/{job_id}/epoch-{epoch:04d}"


def sample_key(sample_id: int, texts: int) -> str:
    """One text as `.txt`, several as one `.zip`."""
    return f"samples/{sample_id}.txt" if texts == 1 else f"samples/{sample_id}.zip"


def analysis_key(analysis_id: int) -> str:
    """A neuron analysis's result: one JSON object (text, top cells' activations, correlations)."""
    return f"analyses/{analysis_id}.json"


def corpus_index_key(corpus_key: str, lowercase: bool = False) -> str:
    """The novelty index (suffix array, `.npz`) of a corpus, next to it: built once per corpus (and
    per case: a lowercased model is compared with the lowercased corpus) by a sampling worker."""
    stem = corpus_key.removesuffix(".txt")
    return f"{stem}.{'lower.' if lowercase else ''}index.npz"
