"""The settings table of docs/configuration.md, made from the settings' own descriptions.

`python -m shared.settings_doc` rewrites the table between the markers in docs/configuration.md;
`--check` only says whether it is current (exit status 1 if not). tests/test_docs.py fails when the
committed table differs from the generated one, so the documentation follows `shared/settings.py`.
"""

import argparse
import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from shared.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
BEGIN = "<!-- settings table: written by `python -m shared.settings_doc` from shared/settings.py; edit those -->"
END = "<!-- end of settings table -->"
UNITS = ((1024**3, "GiB"), (1024**2, "MiB"))


def format_default(name: str, value: object) -> str:
    """A default as a reader wants it: unset, true/false, 10,000 separators, MiB/GiB for byte sizes."""
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and name.endswith("BYTES"):
        for size, unit in UNITS:
            if value >= size and value % size == 0:
                return f"{value // size} {unit}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if value >= 10_000 else str(value)
    return f"`{value}`"


def row(field: FieldInfo) -> str:
    name = field.alias or ""
    description = (field.description or "").replace("|", "\\|")
    return f"| `{name}` | {format_default(name, field.default)} | {description} |"


def settings_table() -> str:
    """One row per setting, in the order shared/settings.py declares them."""
    lines = ["| variable | default | what it sets |", "|---|---|---|"]
    lines += [row(field) for field in Settings.model_fields.values()]
    return "\n".join(lines)


def with_table(doc: str) -> str:
    """`doc` with the text between the markers replaced by the current table."""
    head, begin, rest = doc.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the configuration doc lacks the markers {BEGIN!r} ... {END!r}")
    return f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.settings_doc", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether the table is current")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = with_table(current)
    if wanted == current:
        print(f"{DOC}: the settings table is current")
        return 0
    if args.check:
        print(f"{DOC}: the settings table is out of date; run python -m shared.settings_doc", file=sys.stderr)
        return 1
    DOC.write_text(wanted, encoding="utf-8")
    print(f"{DOC}: settings table written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
