"""The product's speed targets, checked where they are measured and summed up at the end of `make bench`.

A benchmark calls `check(...)` once per comparison, with the figure it measured in this run (a
ratio against a baseline of the same run) and its target. `write_results` stores the checks
with the benchmark's JSON under "targets"; `make bench` (benchmarks/__main__.py) reads them back
from every benchmark's process (`stored`) and `summary(...)` prints them, met or missed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Target", "check", "checked", "stored", "summary"]


@dataclass(frozen=True)
class Target:
    benchmark: str  # the module that measured it
    name: str  # what is compared, e.g. "3 x 512, 50,000 characters: int8 / float32 speed-up"
    value: float
    goal: float
    higher_is_better: bool = True
    unit: str = "x"
    goal_of: str | None = None  # what set the goal, e.g. "int8 sampler"

    @property
    def met(self) -> bool:
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else "MISSED"
        of = f" ({self.goal_of})" if self.goal_of else ""
        return f"{self.name}: {self.value:.3g}{self.unit} (target {sign} {self.goal:g}{self.unit}){of}: {verdict}"

    def to_dict(self) -> dict:
        return {**asdict(self), "met": self.met}

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        return cls(**{k: v for k, v in data.items() if k != "met"})


_CHECKED: list[Target] = []


def check(
    benchmark: str,
    name: str,
    value: float,
    goal: float,
    *,
    higher_is_better: bool = True,
    unit: str = "x",
    goal_of: str | None = None,
) -> Target:
    """Record one comparison of this run against its target, print it, and return it."""
    target = Target(benchmark, name, float(value), float(goal), higher_is_better, unit, goal_of)
    _CHECKED.append(target)
    print(f"  target: {target.line()}", flush=True)
    return target


def checked(benchmark: str | None = None) -> list[Target]:
    """The comparisons recorded so far in this process (of one benchmark, or all)."""
    return [t for t in _CHECKED if benchmark is None or t.benchmark == benchmark]


def stored(payload: dict) -> list[Target]:
    """The comparisons a benchmark's JSON (common.write_results) keeps."""
    return [Target.from_dict(t) for t in payload.get("targets", [])]


def summary(rows: list[Target] | None = None) -> str:
    """Every comparison of the run (by default, those of this process), one line each, with the
    count met."""
    rows = checked() if rows is None else rows
    met = sum(t.met for t in rows)
    return "\n".join([f"targets: {met} of {len(rows)} met", *(f"  {t.line()}" for t in rows)])
