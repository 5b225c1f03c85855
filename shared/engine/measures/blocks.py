"""Top-level blocks of a text, split where Python ends a statement, and whether they parse.

A block is a top-level `def`, `async def` or `class` statement with the decorators right above it,
running up to the next top-level statement (the blank and comment lines before that one included).
A top-level statement starts on a line at column 0 that is not inside brackets, a string or a
backslash continuation: a multi-line signature closed by `) -> Any:` at column 0, a decorator
with arguments over several lines or a docstring with text at column 0 stays in its block.

Where the text tokenizes (`tokenize`, no error token) the statements are read off its tokens: a
NEWLINE token ends a statement, INDENT/DEDENT give its level. Generated text often does not
tokenize (an unclosed bracket, a bad dedent); then each line is scanned for bracket depth, an open
triple-quoted string and a trailing backslash, and a line at column 0 that can only start a
statement (`def`, `class`, `@`, `import`, ...) ends whatever was left open, so that one unclosed
bracket does not swallow the rest of the text.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings

__all__ = ["line_brackets", "parse_rate", "parses", "statement_starts", "top_level_blocks"]

_BLOCK_START = re.compile(r"(?:async[ \t]+def|def|class)\b")
# lines at column 0 that only a new statement can begin: they close anything left open above them
_RESYNC = re.compile(r"(?:@|(?:async[ \t]+def|def|class|import|from|if __name__)\b)")
_OPEN, _CLOSE = "([{", ")]}"
_SKIPPED = frozenset({tokenize.NL, tokenize.COMMENT, tokenize.ENCODING})


def _token_starts(text: str) -> list[int] | None:
    """Rows (0-based) where a top-level statement starts, or None when the text does not tokenize."""
    starts: list[int] = []
    level, expect = 0, True
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = token.type
            if kind == tokenize.ERRORTOKEN:
                return None
            if kind == tokenize.INDENT:
                level += 1
            elif kind == tokenize.DEDENT:
                level -= 1
            elif kind == tokenize.NEWLINE:
                expect = True
            elif kind == tokenize.ENDMARKER:
                break
            elif kind not in _SKIPPED and expect:
                if level == 0:
                    starts.append(token.start[0] - 1)
                expect = False
    except (tokenize.TokenError, SyntaxError):  # IndentationError is a SyntaxError
        return None
    return starts


def line_brackets(line: str, quote: str = "") -> tuple[str, str, bool]:
    """The brackets of `line` outside strings and comments, in order; the triple quote still open at
    its end ("" if none: a single-quoted string ends with its line); and whether the line ends in
    code (not in a comment). `quote`: the triple quote open before the line. The one reading of a
    line's brackets, for the block splitter and for `quality.balanced_lines`."""
    brackets: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif line.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch == "#":
            return "".join(brackets), "", False
        elif ch in "'\"":
            quote = line[i : i + 3] if line.startswith(ch * 3, i) else ch
            i += len(quote) - 1
        elif ch in _OPEN or ch in _CLOSE:
            brackets.append(ch)
        i += 1
    return "".join(brackets), quote if len(quote) == 3 else "", True


def _scan(line: str, depth: int, quote: str) -> tuple[int, str, bool]:
    """(bracket depth, open triple quote, backslash continuation) after `line`, given the state
    before it."""
    brackets, quote, in_code = line_brackets(line, quote)
    for bracket in brackets:
        depth = depth + 1 if bracket in _OPEN else max(0, depth - 1)
    return depth, quote, in_code and not quote and line.endswith("\\")


def _scanned_starts(lines: list[str]) -> list[int]:
    """Rows where a top-level statement starts, read line by line (the text need not tokenize)."""
    starts: list[int] = []
    depth, quote, continued = 0, "", False
    for row, line in enumerate(lines):
        at_column_0 = bool(line) and not line[0].isspace()
        if at_column_0 and (depth or quote or continued) and _RESYNC.match(line):
            depth, quote, continued = 0, "", False
        if at_column_0 and not (depth or quote or continued) and line[0] != "#" and line[0] not in _CLOSE:
            starts.append(row)
        depth, quote, continued = _scan(line, depth, quote)
    return starts


def statement_starts(text: str) -> list[int]:
    """Rows (0-based, of `text.split("\\n")`) where top-level statements start."""
    starts = _token_starts(text)
    return starts if starts is not None else _scanned_starts(text.split("\n"))


def top_level_blocks(text: str) -> list[str]:
    """The top-level `def`/`class` blocks of a text, each with its decorators and body (see the
    module docstring), in order."""
    lines = text.split("\n")
    starts = statement_starts(text)
    blocks: list[str] = []
    decorated: int | None = None  # the row of the first decorator of a run of decorators
    for k, row in enumerate(starts):
        line = lines[row]
        if line.startswith("@"):
            decorated = row if decorated is None else decorated
            continue
        if _BLOCK_START.match(line):
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            blocks.append("\n".join(lines[row if decorated is None else decorated : end]))
        decorated = None
    return blocks


def parses(source: str) -> ast.Module | None:
    """The module `ast.parse` makes of `source`, or None when it does not parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes and the like
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


def parse_rate(text: str) -> float | None:
    """Share of top-level blocks that parse (None: no block)."""
    blocks = top_level_blocks(text)
    return sum(parses(b) is not None for b in blocks) / len(blocks) if blocks else None
