"""The import graph: no cycles anywhere (module level, function-level imports included), and every
package imports on its own. The layering rules themselves are import-linter contracts
(.importlinter, run by `make lint`). Code and comments say the rule they keep, never the number of
the issue that asked for it."""

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "services", "workers")
CODE_FOLDERS = ("services", "shared", "workers", "tests", "benchmarks", "migrations")
CODE_SUFFIXES = {".py", ".js", ".html", ".css"}
ISSUE_NUMBER = re.compile(r"\bissues? #?\d+", re.IGNORECASE)


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the components of more than one module (each one a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def test_the_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert strongly_connected(import_graph()) == []


@pytest.mark.parametrize(
    "package",
    [
        "shared",
        "shared.engine",
        "shared.lifecycle",
        "shared.queue",
        "services.app",
        "services.api",
        "services.web.admin",
        "services.cli.main",
        "services.launcher",
        "workers.app",
        "workers.reconciler",
    ],
)
def test_each_package_imports_alone(package):
    subprocess.run([sys.executable, "-c", f"import {package}"], cwd=ROOT, check=True, timeout=120)


def code_files() -> list[Path]:
    return [
        path
        for folder in CODE_FOLDERS
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts
    ]


def test_the_issue_number_pattern():
    # the examples are split so that this file does not name one itself
    assert ISSUE_NUMBER.search("the run comparison (Issue" + " 12 item 2)")
    assert ISSUE_NUMBER.search("see issues" + " #9")
    assert not ISSUE_NUMBER.search("issue an API token; the issue's example; issue=13")


def test_no_code_names_an_issue_number():
    files = code_files()
    assert any(path.name == "test_architecture.py" for path in files)
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if ISSUE_NUMBER.search(line)
    ]
    assert found == []
