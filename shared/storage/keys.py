"""Where things live in the object store: every key is built here, from ids the server made,
never from user input.

The fencing rule: what a job, sample or analysis attempt writes goes under a key that names its
lease (the token of its claim), so no two attempts ever write the same key and an attempt that lost
its claim cannot overwrite what another recorded; the database records each key, only recorded
keys are read, and the reconciler deletes what no record references (shared.lifecycle.objects)."""

from uuid import uuid4

#: the folders whose objects are written by attempts (fenced) and swept when no record names them
ATTEMPT_PREFIXES = ("jobs/", "samples/", "analyses/")


def new_corpus_key() -> str:
    return f"corpora/{uuid4().hex}.txt"


def checkpoint_key(job_id: int, epoch: int, lease: str) -> str:
    """An epoch's checkpoint folder written under `lease` (a key prefix: `<key>/model.keras`,
    `<key>/checkpoint.json`). Rows from before leases recorded `jobs/<id>/epoch-NNNN`."""
    return f"jobs/{job_id}/{lease}/epoch-{epoch:04d}"


def job_prefix(job_id: int) -> str:
    """Every object of a job's checkpoints, of every attempt."""
    return f"jobs/{job_id}/"


def lease_prefix(job_id: int, lease: str) -> str:
    """Every checkpoint one attempt (lease) of a job wrote."""
    return f"jobs/{job_id}/{lease}/"


def sample_key(sample_id: int, texts: int, lease: str) -> str:
    """One text as `.txt`, several as one `.zip`, written under `lease`."""
    return f"samples/{sample_id}-{lease}.{'txt' if texts == 1 else 'zip'}"


def legacy_sample_keys(sample_id: int) -> tuple[str, str]:
    """Where samples were written before leases (a delete still removes them)."""
    return f"samples/{sample_id}.txt", f"samples/{sample_id}.zip"


def sample_lease_prefix(sample_id: int, lease: str) -> str:
    return f"samples/{sample_id}-{lease}."


def analysis_key(analysis_id: int, lease: str) -> str:
    """A neuron analysis's result (one JSON object: text, top cells' activations, correlations),
    written under `lease`."""
    return f"analyses/{analysis_id}-{lease}.json"


def analysis_lease_prefix(analysis_id: int, lease: str) -> str:
    return f"analyses/{analysis_id}-{lease}."


def legacy_analysis_key(analysis_id: int) -> str:
    return f"analyses/{analysis_id}.json"


def corpus_index_key(corpus_key: str, lowercase: bool = False) -> str:
    """The novelty index (suffix array, `.npz`) of a corpus, next to it: built once per corpus (and
    per case: a lowercased model is compared with the lowercased corpus) by a sampling worker."""
    stem = corpus_key.removesuffix(".txt")
    return f"{stem}.{'lower.' if lowercase else ''}index.npz"
