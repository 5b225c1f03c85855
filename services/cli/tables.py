"""Listings as the CLI prints them: an aligned text table, or the API's JSON with --json."""

import json
import sys
from collections.abc import Sequence


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """The first row is the header; columns are padded to their widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_json(value) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
