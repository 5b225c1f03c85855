"""Python that the built-in corpus does not hold: the sources of third-party packages installed with
this project (its pinned dependencies), docstrings and comments stripped, files whose lines are
mostly the standard library's dropped, split by file into a training text and a held-out text.

- PACKAGES: well-kept, human-written packages (black- or ruff-formatted for the most part);
- test suites are left out, as from the built-in corpus (folders test, tests and testing, files
  test_*.py, *_test.py and conftest.py): thousands of near-identical assertions teach copying;
- a file is dropped when STDLIB_SHARE or more of its distinct lines (20+ characters once stripped of
  indentation) are lines of the built-in corpus (vendored or copied standard library code), or when
  it is an exact copy of a file already taken;
- the files are shuffled with a fixed seed, so the text mixes the packages;
- a file goes to the held-out text when the hash of its path says so (1 file in HELDOUT_EVERY):
  the model never sees a line of it in training.

The same pins give the same texts on every machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import random
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.engine.data.assembly import builtin_python_corpus
from shared.engine.data.builtin import strip_docstrings_and_comments
from shared.engine.data.corpus import clean

PACKAGES = ("keras", "sqlalchemy", "celery", "kombu", "flask", "werkzeug", "jinja2", "click", "alembic", "_pytest")
STDLIB_SHARE = 0.3
HELDOUT_EVERY = 20
MIN_LINE = 20
TEST_FOLDERS = frozenset({"test", "tests", "testing"})


def is_test_file(path: Path) -> bool:
    name = path.name
    return (
        bool(TEST_FOLDERS & set(path.parts[:-1]))
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


@dataclass(frozen=True)
class ThirdParty:
    train: str
    heldout: str
    files: int  # files in the training text
    heldout_files: int
    dropped: int  # files dropped as copies of the standard library or of another file
    packages: tuple[str, ...]


def package_folder(name: str) -> Path:
    loaded = getattr(sys.modules.get(name), "__file__", None)
    if loaded:  # imported already (its __spec__ may be None)
        return Path(loaded).parent
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _lines(text: str) -> set[str]:
    return {s for s in (line.strip() for line in text.splitlines()) if len(s) >= MIN_LINE}


@lru_cache(maxsize=1)
def _stdlib_lines() -> frozenset[str]:
    return frozenset(_lines(builtin_python_corpus(strip_docs=True)))


def _is_heldout(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % HELDOUT_EVERY == 0


def third_party_python(train_chars: int, heldout_chars: int, packages: tuple[str, ...] = PACKAGES) -> ThirdParty:
    """`train_chars` characters of training text and `heldout_chars` of held-out text (cleaned)."""
    paths = [
        (f"{name}/{path.relative_to(folder).as_posix()}", path)
        for name in packages
        for folder in [package_folder(name)]
        for path in sorted(folder.rglob("*.py"))
        if not is_test_file(path.relative_to(folder))
    ]
    random.Random(0).shuffle(paths)
    stdlib, seen = _stdlib_lines(), set()
    train: list[str] = []
    heldout: list[str] = []
    sizes = {"train": 0, "heldout": 0}
    dropped = 0
    for name, path in paths:
        if sizes["train"] >= train_chars and sizes["heldout"] >= heldout_chars:
            break
        part, target = ("heldout", heldout_chars) if _is_heldout(name) else ("train", train_chars)
        if sizes[part] >= target:
            continue
        text = clean(strip_docstrings_and_comments(path.read_text(encoding="utf-8", errors="replace")))
        digest = hashlib.sha256(text.encode()).digest()
        lines = _lines(text)
        if not lines or digest in seen or len(lines & stdlib) >= STDLIB_SHARE * len(lines):
            dropped += 1
            continue
        seen.add(digest)
        (heldout if part == "heldout" else train).append(text + "\n")
        sizes[part] += len(text) + 1
    if sizes["train"] < train_chars or sizes["heldout"] < heldout_chars:
        raise RuntimeError(f"the packages {', '.join(packages)} hold too little Python: {sizes}")
    return ThirdParty(
        train="".join(train)[:train_chars],
        heldout="".join(heldout)[:heldout_chars],
        files=len(train),
        heldout_files=len(heldout),
        dropped=dropped,
        packages=packages,
    )
