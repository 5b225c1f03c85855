"""The built-in Python corpus: this machine's own standard library sources, and a stripper for them.

The paper trained on concatenated Python source files. The standard library is always present,
needs no download, and is a few tens of megabytes of well-written Python. The paper also found
that a corpus with 30% block comments made the model write mostly comments, so
`strip_docstrings_and_comments` can remove comments and docstrings while keeping the code valid.

This module depends on the standard library only; `corpus` builds the actual text from it.
"""

import ast
import io
import os
import sysconfig
import tokenize
from pathlib import Path

# Folder names never descended into: installed packages, test suites and their data, caches, the
# IDLE editor (mostly GUI code) and pydoc's generated topic strings (data, not code).
EXCLUDED_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idlelib", "__pycache__", "pydoc_data"})
# Generated, machine-specific build settings: data, and it differs between machines.
EXCLUDED_FILE_PREFIXES = ("_sysconfigdata",)


def stdlib_root() -> Path:
    """The folder holding this interpreter's standard library sources."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_python_files(root: Path | None = None) -> list[Path]:
    """Every `*.py` file of the standard library, minus the excluded folders, in sorted order.

    The order is by relative path (compared folder by folder), so it is the same on every call.
    """
    root = Path(root) if root is not None else stdlib_root()
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        for name in filenames:
            if name.endswith(".py") and not name.startswith(EXCLUDED_FILE_PREFIXES):
                found.append(Path(folder, name))
    return sorted(found, key=lambda path: path.relative_to(root).parts)


def strip_docstrings_and_comments(source: str) -> str:
    """Remove comments and string statements (docstrings) from Python source, keeping it valid.

    Comments are found with `tokenize`; docstrings are the string-only expression statements of
    any body (module, class, function, and also block strings used as comments elsewhere). A body
    left with no statements gets `pass`. Whole lines that held only a comment or a docstring are
    removed. Source that does not parse, does not tokenize, or would not parse after stripping is
    returned unchanged.
    """
    try:
        tree = ast.parse(source)
        comments = _comment_tokens(source)
    except (SyntaxError, ValueError, tokenize.TokenError):
        return source
    lines = _physical_lines(source)
    starts = _line_starts(lines)
    doc_edits = _docstring_edits(tree, lines, starts)
    comment_edits = [
        edit
        for edit in (_comment_edit(tok, lines, starts) for tok in comments)
        if not any(_overlaps(edit, other) for other in doc_edits)
    ]
    result = _apply_edits(source, doc_edits + comment_edits)
    try:
        ast.parse(result)
    except (SyntaxError, ValueError):
        return source
    return result


# An edit replaces source[start:end] with its text; offsets are in characters.
Edit = tuple[int, int, str]


def _physical_lines(source: str) -> list[str]:
    """Lines exactly as `tokenize` numbers them (split after each "\\n", endings kept)."""
    return io.StringIO(source).readlines()


def _line_starts(lines: list[str]) -> list[int]:
    """Character offset of the start of every line, plus one past the end of the text."""
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return starts


def _comment_tokens(source: str) -> list[tokenize.TokenInfo]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [tok for tok in tokens if tok.type == tokenize.COMMENT]


def _comment_edit(tok: tokenize.TokenInfo, lines: list[str], starts: list[int]) -> Edit:
    """Delete a comment: its whole line if nothing else is on it, else it and the spaces before."""
    row, col = tok.start
    line = lines[row - 1]
    before = line[:col]
    if not before.strip():
        return (starts[row - 1], starts[row], "")
    return (starts[row - 1] + len(before.rstrip()), starts[row - 1] + tok.end[1], "")


def _is_string_statement(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _statement_bodies(tree: ast.AST):
    """Yield (owner, statements) for every list of statements in the tree."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield node, value


def _docstring_edits(tree: ast.AST, lines: list[str], starts: list[int]) -> list[Edit]:
    edits = []
    for owner, statements in _statement_bodies(tree):
        strings = [stmt for stmt in statements if _is_string_statement(stmt)]
        needs_pass = len(strings) == len(statements) and not isinstance(owner, ast.Module)
        for index, stmt in enumerate(strings):
            replacement = "pass" if needs_pass and index == 0 else ""
            edits.append(_statement_edit(stmt, replacement, lines, starts))
    return edits


def _char_col(line: str, byte_col: int) -> int:
    """Convert an `ast` column (UTF-8 bytes) into a character column."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _statement_edit(stmt: ast.stmt, replacement: str, lines: list[str], starts: list[int]) -> Edit:
    """Replace a statement, or drop its whole lines when it is alone on them and not replaced."""
    # parsed statements always carry their end position
    end_lineno, end_col_offset = stmt.end_lineno or stmt.lineno, stmt.end_col_offset or 0
    first, last = lines[stmt.lineno - 1], lines[end_lineno - 1]
    start_col = _char_col(first, stmt.col_offset)
    end_col = _char_col(last, end_col_offset)
    start = starts[stmt.lineno - 1] + start_col
    end = starts[end_lineno - 1] + end_col
    after = last[end_col:].strip()
    alone = not first[:start_col].strip() and (not after or after.startswith("#"))
    if alone and not replacement:
        return (starts[stmt.lineno - 1], starts[end_lineno], "")
    return (start, end, replacement)


def _overlaps(a: Edit, b: Edit) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _apply_edits(source: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits, copying the untouched text between them once."""
    pieces, position = [], 0
    for start, end, text in sorted(set(edits)):
        pieces.append(source[position:start])
        pieces.append(text)
        position = end
    pieces.append(source[position:])
    return "".join(pieces)
