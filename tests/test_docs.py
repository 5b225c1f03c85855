"""The docs cannot drift from the code: the settings table is the one the settings generate, the
architecture page names every import-linter contract and describes every package, every doc names
the code it describes, every path a doc mentions exists, and no doc names an issue number."""

import configparser
import re
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.settings_doc import DOC, with_table
from tests.test_architecture import ISSUE_NUMBER

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").rglob("*.md"))
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DESCRIBED_FOLDERS = ("services", "shared", "shared/engine")
# a repository path as docs write it: from a top-level folder, no placeholders or wildcards
MENTIONED_PATH = re.compile(
    r"(?<![\w/.-])((?:shared|services|workers|tests|benchmarks|migrations|docs)/[\w./*<>{},-]*[\w/])"
)


def test_the_settings_table_is_the_generated_one():
    committed = DOC.read_text(encoding="utf-8")
    assert with_table(committed) == committed, "run python -m shared.settings_doc and commit docs/configuration.md"


def test_every_setting_says_what_it_sets():
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_the_architecture_names_every_import_contract():
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    names = [contracts[s]["name"] for s in contracts.sections() if s.startswith("importlinter:contract:")]
    assert names
    page = ARCHITECTURE.read_text(encoding="utf-8")
    assert [name for name in names if name not in page] == []


@pytest.mark.parametrize("parent", DESCRIBED_FOLDERS)
def test_the_architecture_describes_every_package(parent):
    page = ARCHITECTURE.read_text(encoding="utf-8")
    packages = [p for p in sorted((ROOT / parent).iterdir()) if (p / "__init__.py").exists()]
    assert packages
    missing = [f"{p.relative_to(ROOT)}/" for p in packages if f"`{p.relative_to(ROOT)}/`" not in page]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_doc_names_its_code(doc):
    head = doc.read_text(encoding="utf-8").splitlines()[:8]
    assert any(line.startswith("Code: ") for line in head), f"{doc.name}: no 'Code: ...' line at its top"


def test_every_path_the_docs_mention_exists():
    missing = []
    for doc in [ROOT / "README.md", *DOCS]:
        for path in MENTIONED_PATH.findall(doc.read_text(encoding="utf-8")):
            if not any(c in path for c in "*<>{},") and not (ROOT / path).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert missing == []


def test_no_doc_names_an_issue_number():
    texts = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / ".ci" / "run", *DOCS]
    found = [f"{p.relative_to(ROOT)}: {m}" for p in texts for m in ISSUE_NUMBER.findall(p.read_text(encoding="utf-8"))]
    assert found == []
