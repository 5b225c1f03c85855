"""Corpora built from files: a folder's files matching a glob, or the built-in corpus (this machine's
Python standard library sources), concatenated in a stable order, binary files skipped."""

from pathlib import Path

from .builtin import stdlib_python_files, strip_docstrings_and_comments
from .corpus import CorpusError, check_errors_mode, decode_bytes


def _check_max_chars(max_chars: int | None) -> None:
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars <= 0):
        raise ValueError(f"max_chars must be a positive integer or None, not {max_chars!r}")


def _concatenate(files, *, errors: str, strip_docs: bool, max_chars: int | None) -> str:
    """Join the texts of files, each followed by "\\n", skipping binary files.

    With `max_chars`, reading stops once that many characters are collected and the result is
    cut to exactly `max_chars` characters.
    """
    pieces, total = [], 0
    for path in files:
        data = Path(path).read_bytes()
        if b"\x00" in data:
            continue
        text = decode_bytes(data, str(path), errors)
        if strip_docs:
            text = strip_docstrings_and_comments(text)
        pieces.append(text + "\n")
        total += len(text) + 1
        if max_chars is not None and total >= max_chars:
            break
    return "".join(pieces)[:max_chars]


def build_from_folder(
    folder,
    pattern: str = "**/*.py",
    *,
    errors: str = "replace",
    strip_docs: bool = False,
    max_chars: int | None = None,
) -> str:
    """Concatenate the files under `folder` matching the glob `pattern`, in sorted path order.

    Each file is followed by "\\n"; files with NUL bytes (binary) are skipped. `strip_docs` removes
    comments and docstrings from each file. `max_chars` caps the length of the result, in
    characters of decoded text.
    """
    check_errors_mode(errors)
    _check_max_chars(max_chars)
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder}: no such folder")
    files = sorted(
        (path for path in folder.glob(pattern) if path.is_file()),
        key=lambda path: path.relative_to(folder).parts,
    )
    if not files:
        raise CorpusError(f"{folder}: no files match {pattern!r}")
    text = _concatenate(files, errors=errors, strip_docs=strip_docs, max_chars=max_chars)
    if not text:
        raise CorpusError(f"{folder}: every file matching {pattern!r} looks binary")
    return text


def builtin_python_corpus(*, strip_docs: bool = False, max_chars: int | None = None) -> str:
    """The built-in corpus: this machine's Python standard library sources.

    All `*.py` files under the stdlib folder except installed packages, test suites, idlelib,
    pydoc data and caches, in sorted order; nothing is downloaded. `strip_docs` and `max_chars`
    are as in `build_from_folder`.
    """
    _check_max_chars(max_chars)
    files = stdlib_python_files()
    if not files:
        raise CorpusError("no Python standard library sources were found on this machine")
    return _concatenate(files, errors="replace", strip_docs=strip_docs, max_chars=max_chars)
