"""Nothing but shared/lifecycle writes the status of a job, a sample or an analysis (read from the source tree)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "shared" / "lifecycle"
PACKAGES = ("shared", "services", "workers")
CONSTRUCTORS = {"Job", "Sample", "Analysis", "values", "update"}  # calls where `status=` would set a status


def status_writes(tree: ast.AST) -> list[int]:
    """Line numbers of `x.status = ...` (also in tuples and augmented; not `self.status`), and
    `status=` keywords in Job(...)/Sample(...)/update(...).values(...) calls."""
    lines: list[int] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if (
                    isinstance(part, ast.Attribute)
                    and part.attr == "status"
                    and isinstance(part.ctx, ast.Store)
                    and not (isinstance(part.value, ast.Name) and part.value.id == "self")
                ):
                    lines.append(part.lineno)  # `self.status` is an HTTP status of an exception, not a record's
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in CONSTRUCTORS and any(k.arg == "status" for k in node.keywords):
                lines.append(node.lineno)
    return lines


def writers() -> dict[str, list[int]]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if OWNER in path.parents:
                continue
            lines = status_writes(ast.parse(path.read_text(), str(path)))
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    return found


def test_only_the_lifecycle_writes_a_status():
    assert writers() == {}


def test_the_scan_finds_status_writes():
    code = (
        "job.status = 1\njob.status, job.error = 1, 2\nJob(status=1)\nupdate(Job).values(status=2)\n"
        "x = job.status\nself.status = 404\n"
    )
    assert status_writes(ast.parse(code)) == [1, 2, 3, 4]
    assert any(status_writes(ast.parse(p.read_text())) for p in OWNER.rglob("*.py"))
