"""Corpus handling: reading text, the paper's cleaning, optional transforms, and the vocabulary.

Pipeline (`prepare`): clean -> transforms -> vocabulary -> integer ids.
- `clean` is the paper's preprocessing: newlines normalised, non-ASCII characters replaced by ASCII
  look-alikes (via `anyascii`) or dropped, then only printable ASCII plus "\\n" and "\\t" kept.
- `apply_transforms` optionally lowercases (the paper's option) and turns leading runs of four
  spaces into tabs (the paper's future work), and `undo_transforms` reverses the tabs.
- `Vocabulary` maps characters to ids and back, vectorised with numpy.
- `check_trainable` is the rule for a corpus that can be trained on.
Upload statistics live in `stats.py`; corpora built from files in `assembly.py`.
"""

import re
from pathlib import Path

import numpy as np
from anyascii import anyascii

__all__ = [
    "CorpusError",
    "Vocabulary",
    "apply_transforms",
    "check_trainable",
    "clean",
    "check_errors_mode",
    "unique_chars",
    "decode_bytes",
    "prepare",
    "prepared_text",
    "read_text",
    "undo_transforms",
]

TAB_WIDTH = 4


class CorpusError(ValueError):
    """A problem with a corpus that the user can fix; the message is one clear sentence."""


# --- reading ------------------------------------------------------------------------------------


def check_errors_mode(errors: str) -> None:
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")


def decode_bytes(data: bytes, name: str, errors: str = "strict") -> str:
    """Decode UTF-8 bytes named `name` (a file or upload name, used in messages).

    Data containing NUL bytes is rejected as binary. With errors="strict", invalid UTF-8 raises
    CorpusError naming the byte offset; with errors="replace" undecodable bytes become U+FFFD
    (which `clean` drops). A leading byte order mark is removed.
    """
    check_errors_mode(errors)
    if b"\x00" in data:
        raise binary_error(name)
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise invalid_utf8_error(name, exc.start) from None
    return text.removeprefix("\ufeff")


def binary_error(name: str) -> CorpusError:
    return CorpusError(f"{name}: contains NUL bytes, so it looks like a binary file, not text")


def invalid_utf8_error(name: str, offset: int) -> CorpusError:
    return CorpusError(f"{name}: invalid UTF-8 at byte {offset}")


def read_text(path, errors: str = "strict") -> str:
    """Read a file as UTF-8 text by the rules of `decode_bytes`; file problems are CorpusErrors."""
    check_errors_mode(errors)
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

# ASCII bytes that clean() drops: control characters other than "\n" and "\t", and DEL.
_DROPPED_ASCII = bytes(b for b in range(128) if not (0x20 <= b <= 0x7E or b in (0x09, 0x0A)))
_LEADING_SPACES = re.compile(r"^ +", re.MULTILINE)
_LEADING_WHITESPACE = re.compile(r"^[ \t]+", re.MULTILINE)
_BLOCK = 1 << 20  # characters transliterated at a time: bounds the temporary arrays


def clean(text: str) -> str:
    """The paper's preprocessing; the result holds only printable ASCII, "\\n" and "\\t".

    "\\r\\n" and "\\r" become "\\n"; U+FFFD (undecodable bytes) is dropped; other non-ASCII
    characters become ASCII look-alikes ("é" -> "e", curly quotes -> straight ones) or are dropped
    when they have none; remaining control characters are dropped.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    ascii_bytes = b"".join(_transliterate(text[i : i + _BLOCK]) for i in range(0, len(text), _BLOCK))
    return ascii_bytes.translate(None, _DROPPED_ASCII).decode("ascii")


def _look_alike(code: int) -> str:
    return "" if code == 0xFFFD else anyascii(chr(code))


def _transliterate(text: str) -> bytes:
    """Every non-ASCII character replaced by its look-alike (`anyascii`, character by character):
    the distinct characters are looked up once; a few are spliced in between the ASCII stretches,
    many are scattered into place with numpy."""
    if text.isascii():
        return text.encode("ascii")
    codes = _code_points(text)
    high = codes >= 128
    distinct, which = np.unique(codes[high], return_inverse=True)
    looks = [_look_alike(code) for code in distinct.tolist()]
    if len(which) * 64 < len(codes):
        pieces: list[str] = []
        start = 0
        for position, k in zip(np.flatnonzero(high).tolist(), which.tolist(), strict=True):
            pieces += (text[start:position], looks[k])
            start = position + 1
        pieces.append(text[start:])
        return "".join(pieces).encode("ascii")
    sizes = np.array([len(look) for look in looks], dtype=np.intp)[which]
    lengths = np.ones(len(codes), dtype=np.intp)
    lengths[high] = sizes
    starts = np.cumsum(lengths) - lengths
    out = np.empty(int(lengths.sum()), dtype=np.uint8)
    out[starts[~high]] = codes[~high]
    table = np.zeros((len(looks), max(map(len, looks))), dtype=np.uint8)
    for row, look in zip(table, looks, strict=True):
        row[: len(look)] = np.frombuffer(look.encode("ascii"), dtype=np.uint8)
    high_starts = starts[high]
    for j in range(table.shape[1]):
        longer = sizes > j
        out[high_starts[longer] + j] = table[which[longer], j]
    return out.tobytes()


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


def unique_chars(text: str) -> str:
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
        return cls(unique_chars(text))

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


# --- preparation --------------------------------------------------------------------------------


def check_trainable(clean_chars: int, clean_unique: int) -> None:
    """The rule for a corpus that can be trained on, counted after cleaning (and transforms):
    not empty, and at least 2 distinct characters. CorpusError otherwise."""
    if clean_chars == 0:
        raise CorpusError("corpus is empty after cleaning")
    if clean_unique < 2:
        raise CorpusError(f"corpus has only {clean_unique} distinct character after cleaning; 2 are needed")


def prepared_text(raw_text: str, lowercase: bool, tabs: bool) -> str:
    return apply_transforms(clean(raw_text), lowercase=lowercase, tabs=tabs)


def prepare(raw_text: str, *, lowercase: bool = False, tabs: bool = False) -> tuple[np.ndarray, Vocabulary]:
    """Clean, transform, build the vocabulary and encode: the ids and vocabulary to train on."""
    text = prepared_text(raw_text, lowercase, tabs)
    vocabulary = Vocabulary.from_text(text)
    check_trainable(len(text), len(vocabulary))
    return vocabulary.encode(text), vocabulary
