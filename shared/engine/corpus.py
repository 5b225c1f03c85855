"""Corpus handling: reading text, the paper's cleaning, optional transforms, and the vocabulary.

Pipeline (`prepare`): clean -> transforms -> vocabulary -> integer ids.
- `clean` is the paper's preprocessing: newlines normalised, non-ASCII characters replaced by ASCII
  look-alikes (via `anyascii`) or dropped, then only printable ASCII plus "\\n" and "\\t" kept.
- `apply_transforms` optionally lowercases (the paper's option) and turns leading runs of four
  spaces into tabs (the paper's future work), and `undo_transforms` reverses the tabs.
- `Vocabulary` maps characters to ids and back, vectorised with numpy.
Corpora can also be built from a folder of files or from the built-in Python standard library.
"""

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from anyascii import anyascii

from .builtin import BUILTIN_PYTHON, stdlib_python_files, strip_docstrings_and_comments

__all__ = [
    "BUILTIN_PYTHON", "CorpusError", "CorpusStats", "Vocabulary", "apply_transforms",
    "build_from_folder", "builtin_python_corpus", "clean", "corpus_stats", "decode_bytes",
    "prepare", "read_text", "strip_docstrings_and_comments", "undo_transforms",
]

TAB_WIDTH = 4


class CorpusError(ValueError):
    """A problem with a corpus that the user can fix; the message is one clear sentence."""


# --- reading ------------------------------------------------------------------------------------

def _check_errors_mode(errors: str) -> None:
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")


def decode_bytes(data: bytes, name: str, errors: str = "strict") -> str:
    """Decode UTF-8 bytes named `name` (a file or upload name, used in messages).

    Data containing NUL bytes is rejected as binary. With errors="strict", invalid UTF-8 raises
    CorpusError naming the byte offset; with errors="replace" undecodable bytes become U+FFFD
    (which `clean` drops). A leading byte order mark is removed.
    """
    _check_errors_mode(errors)
    if b"\x00" in data:
        raise CorpusError(f"{name}: contains NUL bytes, so it looks like a binary file, not text")
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{name}: invalid UTF-8 at byte {exc.start}") from None
    return text.removeprefix("\ufeff")


def read_text(path, errors: str = "strict") -> str:
    """Read a file as UTF-8 text by the rules of `decode_bytes`; file problems are CorpusErrors."""
    _check_errors_mode(errors)
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise CorpusError(f"{path}: permission denied") from None
    return decode_bytes(data, str(path), errors)


# --- cleaning and transforms --------------------------------------------------------------------

_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# ASCII bytes that clean() drops: control characters other than "\n" and "\t", and DEL.
_DROPPED_ASCII = bytes(b for b in range(128) if not (0x20 <= b <= 0x7E or b in (0x09, 0x0A)))
_LEADING_SPACES = re.compile(r"^ +", re.MULTILINE)
_LEADING_WHITESPACE = re.compile(r"^[ \t]+", re.MULTILINE)


def _transliterate(match: re.Match) -> str:
    return anyascii(match.group())


def clean(text: str) -> str:
    """The paper's preprocessing; the result holds only printable ASCII, "\\n" and "\\t".

    "\\r\\n" and "\\r" become "\\n"; U+FFFD (undecodable bytes) is dropped; other non-ASCII
    characters become ASCII look-alikes ("é" -> "e", curly quotes -> straight ones) or are dropped
    when they have none; remaining control characters are dropped.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffd", "")
    if not text.isascii():
        text = _NON_ASCII_RUN.sub(_transliterate, text)
    return text.encode("ascii").translate(None, _DROPPED_ASCII).decode("ascii")


def _spaces_to_tabs(match: re.Match) -> str:
    tabs, spaces = divmod(len(match.group()), TAB_WIDTH)
    return "\t" * tabs + " " * spaces


def _tabs_to_spaces(match: re.Match) -> str:
    return match.group().replace("\t", " " * TAB_WIDTH)


def apply_transforms(text: str, *, lowercase: bool, tabs: bool) -> str:
    """Optional transforms of cleaned text.

    lowercase: `text.lower()` (the paper's option, fewer characters to predict).
    tabs: the leading run of spaces of every line becomes one tab per 4 spaces, the remainder
    kept as spaces after the tabs; spaces elsewhere in the line are untouched.
    """
    if lowercase:
        text = text.lower()
    if tabs:
        text = _LEADING_SPACES.sub(_spaces_to_tabs, text)
    return text


def undo_transforms(text: str, *, tabs: bool) -> str:
    """Reverse `apply_transforms` as far as possible: each tab in a line's leading whitespace
    becomes 4 spaces. Lowercasing cannot be undone."""
    if tabs:
        text = _LEADING_WHITESPACE.sub(_tabs_to_spaces, text)
    return text


# --- vocabulary ---------------------------------------------------------------------------------

def _code_points(text: str) -> np.ndarray:
    """The code point of every character, as uint32."""
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def _unique_chars(text: str) -> str:
    """The sorted distinct characters of a text (vectorised over its ASCII part)."""
    utf8 = np.frombuffer(text.encode("utf-8", errors="surrogatepass"), dtype=np.uint8)
    counts = np.bincount(utf8, minlength=256)[:128]  # bytes below 128 are exactly the ASCII chars
    present = np.flatnonzero(counts).astype(np.uint8)
    chars = set(present.tobytes().decode("ascii"))
    if not text.isascii():
        codes = _code_points(text)
        chars.update(chr(code) for code in np.unique(codes[codes >= 128]).tolist())
    return "".join(sorted(chars))


class Vocabulary:
    """The characters of a corpus; a character's id is its index in `chars`.

    `from_text` sorts the characters; the constructor keeps the given order, so a vocabulary saved
    with a model (`to_json`) maps to exactly the same ids when loaded (`from_json`).
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str):
            raise TypeError("chars must be a string")
        if len(set(chars)) != len(chars):
            raise CorpusError("a vocabulary cannot contain the same character twice")
        self.chars = chars
        self._codes = _code_points(chars)
        self._narrow = not chars or int(self._codes.max()) < 256
        if self._narrow:
            self._known = np.zeros(256, dtype=bool)
            self._known[self._codes] = True
            self._lookup = np.zeros(256, dtype=self.dtype)
            self._lookup[self._codes] = np.arange(len(chars), dtype=self.dtype)
            self._narrow_codes = self._codes.astype(np.uint8)

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        """The vocabulary of every distinct character in `text`, sorted."""
        return cls(_unique_chars(text))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Vocabulary({self.chars!r})"

    @property
    def dtype(self) -> np.dtype:
        """uint8 ids when there are at most 256 characters, else int32."""
        return np.dtype(np.uint8) if len(self.chars) <= 256 else np.dtype(np.int32)

    def encode(self, text: str, *, skip_unknown: bool = False) -> np.ndarray:
        """Ids of the characters of `text`, as a 1-D array of `self.dtype`.

        A character not in the vocabulary raises CorpusError naming it, or is left out when
        `skip_unknown` is true.
        """
        if self._narrow and text.isascii():
            codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
            known = self._known[codes]
            if not known.all():
                codes = self._handle_unknown(codes, known, skip_unknown)
            return self._lookup[codes]
        return self._encode_wide(text, skip_unknown)

    def _encode_wide(self, text: str, skip_unknown: bool) -> np.ndarray:
        """The general path for non-ASCII text or vocabularies: search sorted code points."""
        codes = _code_points(text)
        order = np.argsort(self._codes)
        sorted_codes = self._codes[order]
        if len(sorted_codes) == 0:
            positions = np.zeros(len(codes), dtype=np.intp)
            known = np.zeros(len(codes), dtype=bool)
        else:
            positions = np.minimum(np.searchsorted(sorted_codes, codes), len(sorted_codes) - 1)
            known = sorted_codes[positions] == codes
        if not known.all():
            positions = self._handle_unknown(positions, known, skip_unknown, codes)
        return order[positions].astype(self.dtype) if len(order) else positions.astype(self.dtype)

    @staticmethod
    def _handle_unknown(values, known, skip_unknown, codes=None):
        if skip_unknown:
            return values[known]
        first = int((values if codes is None else codes)[np.argmin(known)])
        raise CorpusError(f"character {chr(first)!r} (U+{first:04X}) is not in the vocabulary")

    def decode(self, ids) -> str:
        """The text of a sequence of ids (list or array, any integer dtype)."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size == 0:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise CorpusError("character ids must be integers")
        if int(ids.min()) < 0 or int(ids.max()) >= len(self.chars):
            raise CorpusError(f"character ids must lie in 0..{len(self.chars) - 1}")
        if self._narrow:
            return self._narrow_codes[ids].tobytes().decode("latin-1")
        return self._codes[ids].tobytes().decode("utf-32-le", errors="surrogatepass")

    def to_json(self) -> list[str]:
        """The characters as a JSON-serialisable list, in id order."""
        return list(self.chars)

    @classmethod
    def from_json(cls, data) -> "Vocabulary":
        """Rebuild a vocabulary from `to_json` output (a list of one-character strings)."""
        if isinstance(data, str):
            return cls(data)
        if not isinstance(data, list) or not all(isinstance(c, str) and len(c) == 1 for c in data):
            raise CorpusError("a saved vocabulary must be a list of one-character strings")
        return cls("".join(data))


# --- statistics and preparation -----------------------------------------------------------------

@dataclass(frozen=True)
class CorpusStats:
    """What cleaning and the transforms did to a corpus.

    `clean_chars`, `clean_unique` and `vocabulary` describe the text after cleaning and the
    transforms; `bytes` is the size of the raw corpus in bytes.
    """

    raw_chars: int
    raw_unique: int
    clean_chars: int
    clean_unique: int
    bytes: int
    vocabulary: str

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        """A short human-readable report, one fact per line."""
        return "\n".join([
            f"size: {self.bytes:,} bytes",
            f"characters: {self.raw_chars:,} -> {self.clean_chars:,}",
            f"unique characters: {self.raw_unique} -> {self.clean_unique}",
            f"vocabulary: {self.vocabulary!r}",
        ])


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def _prepared_text(raw_text: str, lowercase: bool, tabs: bool) -> str:
    return apply_transforms(clean(raw_text), lowercase=lowercase, tabs=tabs)


def corpus_stats(
    raw_text: str, *, lowercase: bool = False, tabs: bool = False, raw_bytes: int | None = None
) -> CorpusStats:
    """Counts before and after preparation. `raw_bytes` defaults to the UTF-8 size of the text."""
    text = _prepared_text(raw_text, lowercase, tabs)
    vocabulary = _unique_chars(text)
    return CorpusStats(
        raw_chars=len(raw_text),
        raw_unique=len(_unique_chars(raw_text)),
        clean_chars=len(text),
        clean_unique=len(vocabulary),
        bytes=_utf8_size(raw_text) if raw_bytes is None else raw_bytes,
        vocabulary=vocabulary,
    )


def prepare(
    raw_text: str, *, lowercase: bool = False, tabs: bool = False
) -> tuple[np.ndarray, Vocabulary]:
    """Clean, transform, build the vocabulary and encode: the ids and vocabulary to train on."""
    text = _prepared_text(raw_text, lowercase, tabs)
    if not text:
        raise CorpusError("corpus is empty after cleaning")
    vocabulary = Vocabulary.from_text(text)
    if len(vocabulary) < 2:
        raise CorpusError("corpus has only 1 distinct character after cleaning; 2 are needed")
    return vocabulary.encode(text), vocabulary


# --- building corpora from files ----------------------------------------------------------------

def _check_max_bytes(max_bytes: int | None) -> None:
    if max_bytes is not None and (not isinstance(max_bytes, int) or max_bytes <= 0):
        raise ValueError(f"max_bytes must be a positive integer or None, not {max_bytes!r}")


def _concatenate(files, *, errors: str, strip_docs: bool, max_bytes: int | None) -> str:
    """Join the texts of files, each followed by "\\n", skipping binary files.

    With `max_bytes`, reading stops once that many characters are collected and the result is
    cut to exactly `max_bytes` characters.
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
        if max_bytes is not None and total >= max_bytes:
            break
    return "".join(pieces)[:max_bytes]


def build_from_folder(
    folder,
    pattern: str = "**/*.py",
    *,
    errors: str = "replace",
    strip_docs: bool = False,
    max_bytes: int | None = None,
) -> str:
    """Concatenate the files under `folder` matching the glob `pattern`, in sorted path order.

    Each file is followed by "\\n"; files with NUL bytes (binary) are skipped. `strip_docs` removes
    comments and docstrings from each file. `max_bytes` caps the size of the result, counted in
    characters of decoded text (the same as bytes once cleaned to ASCII).
    """
    _check_errors_mode(errors)
    _check_max_bytes(max_bytes)
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder}: no such folder")
    files = sorted(
        (path for path in folder.glob(pattern) if path.is_file()),
        key=lambda path: path.relative_to(folder).parts,
    )
    if not files:
        raise CorpusError(f"{folder}: no files match {pattern!r}")
    text = _concatenate(files, errors=errors, strip_docs=strip_docs, max_bytes=max_bytes)
    if not text:
        raise CorpusError(f"{folder}: every file matching {pattern!r} looks binary")
    return text


def builtin_python_corpus(*, strip_docs: bool = False, max_bytes: int | None = None) -> str:
    """The built-in corpus `BUILTIN_PYTHON`: this machine's Python standard library sources.

    All `*.py` files under the stdlib folder except installed packages, test suites, idlelib,
    pydoc data and caches, in sorted order; nothing is downloaded. `strip_docs` and `max_bytes`
    are as in `build_from_folder`.
    """
    _check_max_bytes(max_bytes)
    files = stdlib_python_files()
    if not files:
        raise CorpusError("no Python standard library sources were found on this machine")
    return _concatenate(files, errors="replace", strip_docs=strip_docs, max_bytes=max_bytes)


class CorpusStatsBuilder:  # TEMPORARY until the engine-seams merge (not constant memory)
    def __init__(self, name: str):
        import hashlib

        self.name, self._parts, self._sha = name, [], hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        if b"\x00" in chunk:
            raise CorpusError(f"{self.name}: contains NUL bytes, so it looks like a binary file, not text")
        self._parts.append(chunk)
        self._sha.update(chunk)

    @property
    def bytes(self) -> int:
        return sum(len(p) for p in self._parts)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def finish(self) -> CorpusStats:
        data = b"".join(self._parts)
        stats = corpus_stats(decode_bytes(data, self.name), raw_bytes=len(data))
        if stats.clean_chars == 0:
            raise CorpusError("corpus is empty after cleaning")
        if stats.clean_unique < 2:
            raise CorpusError(
                f"corpus has only {stats.clean_unique} distinct character after cleaning; at least 2 are needed"
            )
        return stats
