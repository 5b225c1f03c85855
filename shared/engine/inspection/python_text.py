"""Reading Python source character by character: the per-character features a neuron analysis
correlates cells with, and where a text can be read from a clean start.

`text_features(text)` computes, per character, properties of Python source (one float array each,
the value at a character describing the text up to and including it, as the activation recorded
after reading it does):

- `bracket_depth`: open ()[]{} brackets after this character, outside strings and comments
  (a closing bracket with none open is ignored).
- `in_string`: 1 inside a string literal, its quotes and prefix-less body included.
- `in_comment`: 1 from `#` (outside strings) to the end of the line, the newline excluded.
- `in_docstring`: 1 inside a triple-quoted string that opens as the first thing on its line, or
  whose opening the text does not show (the text starts inside it).
- `indentation`: the indentation of the character's line, in levels of 4 columns (tabs as 4).
- `column`: the character's column in its line (0 for the first).
- `line_start`: 1 for the first character of every line.
- `after_keyword`: 1 for the spaces and the word that follow a Python keyword in code
  (`def name`, `return value`, `import os`), the keyword itself excluded.

A text cut out of a file may start inside a string, and one odd quote would put a plain reader
out of step for the rest of the text (code read as string and strings as code). The reader
resynchronises on triple quotes that cannot be what it takes them for:

- an opening preceded on its line by a word, a closing bracket or a dot (`more text.'''`) is a
  closing: the string was open before what the text shows (from the text's start when no triple
  quote came before, else from its line's start);
- a closing followed at once by a word (`'''Summary`) is an opening: the triple quote taken for the
  string's opening was a closing, and the text is read again with it as one.

Single-quoted strings end at the end of their line (unless a backslash continues them), so a stray
`'` costs one line at most. `clean_line_starts(text)` lists the lines a text can be read from.
"""

from __future__ import annotations

import keyword
import re

import numpy as np

__all__ = ["FEATURES", "clean_line_starts", "text_features"]

FEATURES = (
    "bracket_depth",
    "in_string",
    "in_comment",
    "in_docstring",
    "indentation",
    "column",
    "line_start",
    "after_keyword",
)
_OPEN, _CLOSE = "([{", ")]}"
_KEYWORDS = "|".join(sorted(keyword.kwlist, key=len, reverse=True))
_KEYWORD = re.compile(rf"\b(?:{_KEYWORDS})\b([ \t]+\w*)")
# words a string literal may follow or precede in code (Python 2's print and exec included)
_BESIDE_STRING = frozenset(keyword.kwlist) | {"print", "exec"}
_PREFIX = re.compile(r"(?<!\w)[rRbBuUfF]{1,2}$")  # a string prefix just before the quotes
_LAST_WORD = re.compile(r"\w+$")
_FIRST_WORD = re.compile(r"\w+")
_STATEMENT = re.compile(r"[ \t]*[A-Za-z_@]")
_CLAUSES = ("else", "elif", "except", "finally")  # continue a statement the text does not show
_MAX_READS = 50  # re-reads after a misread opening quote, at most


def _opens(text: str, i: int, line_begin: int) -> bool:
    """Whether the triple quote at `i` can open a string: what precedes it on its line may precede
    a string literal in code."""
    before = text[line_begin:i]
    prefix = _PREFIX.search(before)
    before = (before[: prefix.start()] if prefix else before).rstrip()
    if not before:
        return True
    if before[-1] in ")]}.":
        return False
    word = _LAST_WORD.search(before)
    return word is None or word.group() in _BESIDE_STRING


def _closes(text: str, i: int) -> bool:
    """Whether the triple quote at `i` can close a string: no word follows it at once, and a word
    after spaces is a keyword (`'''...''' if x else y`)."""
    after = text[i + 3 : i + 64]
    if after[:1].isalnum() or after[:1] == "_":
        return False
    word = _FIRST_WORD.match(after.lstrip(" \t"))
    return word is None or word.group() in _BESIDE_STRING


def _read(text: str, begins: np.ndarray, closings: set[int], resync: bool = True):
    """One reading of `text`: (depth, in_string, in_comment, in_docstring), or (with `resync`)
    the index of a triple quote taken for an opening that a later closing shows was a closing."""
    n = len(text)
    depth, in_string, in_comment, in_docstring = (np.zeros(n, dtype=np.float32) for _ in range(4))
    level = 0
    quote = ""  # the open string's closing quote(s)
    opened = -1  # where the open triple-quoted string opened
    doc = comment = closing = seen_triple = False
    skip = 0  # characters left of a multi-character string token (triple quote, escape)
    for i, ch in enumerate(text):
        if skip:
            skip -= 1
            in_string[i], in_docstring[i] = 1.0, float(doc)
            if not skip and closing:
                quote, closing = "", False
        elif quote:
            in_string[i], in_docstring[i] = 1.0, float(doc)
            if ch == "\\" and i + 1 < n:
                skip = 1
            elif text.startswith(quote, i):
                if len(quote) == 1:
                    quote = ""
                elif resync and not _closes(text, i):
                    return opened
                else:
                    skip, closing = 2, True
            elif ch == "\n" and len(quote) == 1:  # an unterminated one-line string ends here
                quote = ""
                in_string[i] = in_docstring[i] = 0.0
        elif comment:
            if ch == "\n":
                comment = False
            else:
                in_comment[i] = 1.0
        elif ch == "#":
            comment = True
            in_comment[i] = 1.0
        elif ch in "'\"":
            triple = text.startswith(ch * 3, i)
            if triple and (i in closings or not _opens(text, i, int(begins[i]))):
                closings.add(i)  # it closes a string opened before the text or its line shows
                start = int(begins[i]) if seen_triple else 0
                level = int(depth[start - 1]) if start > 0 else 0
                in_string[start:i], in_docstring[start:i], in_comment[start:i], depth[start:i] = 1.0, 1.0, 0.0, level
                quote, doc, closing = ch * 3, True, True
            else:
                quote = ch * 3 if triple else ch
                doc = triple and not text[int(begins[i]) : i].strip()
                opened = i
            seen_triple = seen_triple or triple
            skip = len(quote) - 1
            in_string[i], in_docstring[i] = 1.0, float(doc)
        elif ch in _OPEN:
            level += 1
        elif ch in _CLOSE and level > 0:
            level -= 1
        depth[i] = level
    return depth, in_string, in_comment, in_docstring


def _lines(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(the index of each character's line start, 1 at every line start)."""
    n = len(text)
    line_start = np.zeros(n, dtype=np.float32)
    if n:
        line_start[0] = 1.0
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        line_start[1:][codes[:-1] == ord("\n")] = 1.0
    begins = np.maximum.accumulate(np.where(line_start > 0, np.arange(n), 0))
    return begins, line_start


def _strings_and_brackets(text: str, begins: np.ndarray) -> tuple[np.ndarray, ...]:
    """(depth, in_string, in_comment, in_docstring), read again with every misread opening quote
    known as a closing until a reading holds (or _MAX_READS readings: the last one stands)."""
    closings: set[int] = set()
    for _ in range(_MAX_READS):
        read = _read(text, begins, closings)
        if not isinstance(read, int):
            return read
        closings.add(read)
    read = _read(text, begins, closings, resync=False)
    assert not isinstance(read, int)
    return read


def text_features(text: str) -> dict[str, np.ndarray]:
    """The per-character features of `text` (see the module docstring), float32 arrays of
    len(text), keyed in FEATURES order."""
    n = len(text)
    begins, line_start = _lines(text)
    depth, in_string, in_comment, in_docstring = _strings_and_brackets(text, begins)
    column = (np.arange(n) - begins).astype(np.float32)
    indentation = np.zeros(n, dtype=np.float32)
    for start in np.flatnonzero(line_start):
        end = text.find("\n", start)
        line = text[start : n if end < 0 else end].expandtabs(4)
        stop = n if end < 0 else end + 1
        indentation[start:stop] = (len(line) - len(line.lstrip(" "))) / 4.0
    after_keyword = np.zeros(n, dtype=np.float32)
    code = (in_string == 0) & (in_comment == 0)
    for match in _KEYWORD.finditer(text):
        if code[match.start()]:
            after_keyword[match.start(1) : match.end(1)] = 1.0
    return {
        "bracket_depth": depth,
        "in_string": in_string,
        "in_comment": in_comment,
        "in_docstring": in_docstring,
        "indentation": indentation,
        "column": column,
        "line_start": line_start,
        "after_keyword": after_keyword,
    }


def clean_line_starts(text: str) -> list[tuple[int, int]]:
    """(index, indentation in columns) of every line after the first that starts a statement from
    a clean state: outside any string, comment and bracket, not continued by a backslash, its
    first word a name or a decorator (no `else:` or `except:` of a statement the text cut), and
    closing no bracket it did not open (no continuation of a call the text cut)."""
    features = text_features(text)
    in_string, depth = features["in_string"], features["bracket_depth"]
    code = (in_string == 0) & (features["in_comment"] == 0)
    found = []
    for start in np.flatnonzero(features["line_start"])[1:].tolist():
        if in_string[start - 1] or depth[start - 1] or text[start - 2 : start - 1] == "\\":
            continue
        if not _STATEMENT.match(text, start):
            continue
        end = text.find("\n", start)
        line = text[start : len(text) if end < 0 else end].expandtabs(4)
        body = line.lstrip(" ")
        stop = start + len(text[start:].split("\n", 1)[0])
        stray = any(text[p] in _CLOSE and code[p] and not depth[p - 1] for p in range(start, stop))
        if not stray and body.split(":")[0].split(" ")[0] not in _CLAUSES:
            found.append((start, len(line) - len(body)))
    return found
