"""Where generated texts go, the same for local and service sampling: stdout without --out (a
header line before each when there are several), the --out file for one text, and for several
either the --out zip (`--out samples.zip`) or one file each next to --out, named by the engine's
`sample_names` with --out's stem (`--out var/sample.txt` -> `var/sample-1-t0.75.txt`, ...).
A sample from the service is named after its id where the name is the CLI's choice (the zip's
members, the headers on stdout): `sample-4-1-t0.75.txt`, so that samples 1 to 4 do not all
unpack as `sample-1-t0.75.txt`."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path


def restem(names: list[str], stem: str) -> list[str]:
    """`sample-1-t0.75.txt` as `{stem}-1-t0.75.txt` (the names sample_names makes)."""
    return [f"{stem}-{name.split('-', 1)[1]}" if "-" in name else name for name in names]


def write_texts(texts: list[str], names: list[str], out: Path | None, stem: str = "sample") -> list[Path]:
    """Write `texts` (named `names`, as sample_names makes them; `stem` in place of their
    `sample` on stdout and in a zip); returns the files written."""
    if out is None:
        for name, text in zip(restem(names, stem), texts, strict=True):
            if len(texts) > 1:
                print(f"----- {name} -----")
            sys.stdout.write(text + "\n")
        return []
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(texts) > 1 and out.suffix == ".zip":
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in zip(restem(names, stem), texts, strict=True):
                archive.writestr(name, text)
        print(f"wrote {len(texts)} texts to {out}", file=sys.stderr)
        return [out]
    paths = [out] if len(texts) == 1 else [out.with_name(name) for name in restem(names, out.stem)]
    paths = [path.with_suffix(out.suffix or ".txt") if len(texts) > 1 else path for path in paths]
    for path, text in zip(paths, texts, strict=True):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {len(text):,} characters to {path}", file=sys.stderr)
    return paths


def read_download(path: Path, content_type: str) -> tuple[list[str], list[str]]:
    """The texts of a downloaded sample: one text, or a zip's members in their order."""
    if "zip" not in content_type:
        return [path.read_text(encoding="utf-8")], ["sample-1.txt"]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        return [archive.read(name).decode("utf-8") for name in names], names
