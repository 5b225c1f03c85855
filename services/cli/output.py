"""Where generated texts go, the same for local and service sampling: stdout without --out (a
header line before each when there are several), the --out file for one text, and for several
either the --out zip (`--out samples.zip`) or one file each next to --out, named by the engine's
`sample_names` with --out's stem (`--out var/sample.txt` -> `var/sample-1-t0.75.txt`, ...)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path


def write_texts(texts: list[str], names: list[str], out: Path | None) -> list[Path]:
    """Write `texts` (named `names`, as sample_names makes them); returns the files written."""
    if out is None:
        for name, text in zip(names, texts, strict=True):
            if len(texts) > 1:
                print(f"----- {name} -----")
            sys.stdout.write(text + "\n")
        return []
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(texts) > 1 and out.suffix == ".zip":
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in zip(names, texts, strict=True):
                archive.writestr(name, text)
        print(f"wrote {len(texts)} texts to {out}", file=sys.stderr)
        return [out]
    paths = [out] if len(texts) == 1 else [out.with_name(f"{out.stem}-{name.split('-', 1)[1]}") for name in names]
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
