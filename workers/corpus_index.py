"""What the sampling worker compares samples with: a corpus's novelty index (a suffix array,
`shared.engine.measures.novelty.CorpusIndex`), its character counts and whether it is Python-like.

The index is built once per corpus (and case) by the first sampling worker that needs it, from the
cleaned corpus (lowercased when the model was trained so), and stored in object storage next to
the corpus (`keys.corpus_index_key`); later samples, on any worker, download it. Each worker keeps
the last SAMPLE_INDEX_CACHE_SIZE of them loaded (the model cache's LRU, one load per key)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shared.settings import get_settings
from shared.storage import NotFound, ObjectStore, get_store
from shared.storage.keys import corpus_index_key

from .errors import JobError
from .model_cache import ModelCache

if TYPE_CHECKING:
    from shared.engine.measures.novelty import CorpusIndex
    from shared.engine.measures.verdict import CorpusProfile

log = logging.getLogger(__name__)

_LOWER = "#lower"  # cache keys: the corpus key, with this suffix for the lowercased corpus

_cache: ModelCache | None = None
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class CorpusReference:
    index: CorpusIndex
    counts: dict[str, int]
    python: bool
    profile: CorpusProfile  # the corpus's own figures, what a sample's verdict compares it with
    build_seconds: float | None = None  # set when this worker built the index (None: downloaded)


def _reference(index: CorpusIndex, data: np.ndarray, build_seconds: float | None) -> CorpusReference:
    from shared.engine.measures.corpus_profile import profile_corpus
    from shared.engine.measures.sample_report import counts_of_bytes

    text = data.tobytes().decode("ascii", errors="replace")  # a cleaned corpus is ASCII
    profile = profile_corpus(text, counts_of_bytes(data))
    return CorpusReference(index, profile.counts, profile.python, profile, build_seconds)


def build_reference(store: ObjectStore, corpus_key: str, lowercase: bool, folder: Path) -> CorpusReference:
    """Download the corpus, clean it as training did, build its index and store it."""
    from shared.engine.data.corpus import apply_transforms, clean, decode_bytes
    from shared.engine.measures.novelty import CorpusIndex

    path = folder / "corpus.txt"
    try:
        store.retrying(lambda: store.get_file(corpus_key, path), f"download {corpus_key}")
    except NotFound:
        raise JobError(f"the corpus file {corpus_key} is missing from object storage") from None
    text = apply_transforms(clean(decode_bytes(path.read_bytes(), corpus_key)), lowercase=lowercase, tabs=False)
    path.unlink()
    began = time.perf_counter()
    index = CorpusIndex.build(text)
    seconds = time.perf_counter() - began
    log.info("corpus index for %s: %s characters in %.2f s", corpus_key, f"{len(text):,}", seconds)
    saved = folder / "index.npz"
    index.save(saved)
    key = corpus_index_key(corpus_key, lowercase)
    try:
        store.retrying(lambda: store.put_file(key, saved), f"upload {key}")
    except Exception as exc:  # noqa: BLE001  the index still serves this worker; the next one builds it again
        log.warning("corpus index %s could not be stored: %s", key, exc)
    return _reference(index, np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8), seconds)


def load_reference(cache_key: str, store: ObjectStore | None = None) -> CorpusReference:
    """The reference of `corpus_key[#lower]`: the stored index, or a new one built and stored."""
    from shared.engine.measures.novelty import CorpusIndex

    store = store or get_store()
    corpus_key, lowercase = cache_key.removesuffix(_LOWER), cache_key.endswith(_LOWER)
    root = get_settings().scratch_dir
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="index-", dir=root))
    try:
        saved = folder / "index.npz"
        try:
            store.get_file(corpus_index_key(corpus_key, lowercase), saved)
        except NotFound:
            return build_reference(store, corpus_key, lowercase, folder)
        index = CorpusIndex.load(saved)
        with np.load(saved, allow_pickle=False) as arrays:
            data = arrays["data"]
        return _reference(index, data, None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def reference_cache() -> ModelCache:
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = ModelCache(get_settings().sample_index_cache_size, load_reference, name="corpus index cache")
        return _cache


def corpus_reference(corpus_key: str, lowercase: bool) -> CorpusReference:
    return reference_cache().get(corpus_key + (_LOWER if lowercase else ""))
