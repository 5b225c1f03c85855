"""Waiting in tests on a condition rather than for a fixed time: `wait_for` is the one polling loop
(a predicate asked every `interval` seconds until it holds or `timeout` passes). Built on it:
`holds_within` (whether it held, for a test that asserts the condition itself), `wait_for_answer`
(an API's view of a job, sample or analysis read again until it is done: `finished` unless told)
and `wait_for_line` (a line in a process's output file)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from shared.db.models import WorkStatus

T = TypeVar("T")
LOG_TAIL = 3000  # characters of each process's log shown when a wait times out


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str = "condition",
    interval: float = 0.25,
    processes: Iterable[Any] = (),
) -> T:
    """predicate()'s first truthy value, asked at least once and then every `interval` seconds;
    after `timeout` seconds a TimeoutError naming `what`, with the tail of each of `processes`'
    logs (anything with `log_path` and `log_text()`, as tests/workers/processes.py's)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    logs = "".join(f"\n--- {p.log_path.name} ---\n{p.log_text()[-LOG_TAIL:]}" for p in processes)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}{logs}")


def holds_within(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Whether predicate() held within `timeout` seconds (asked every `interval`), for a test whose
    own assertion on the condition says more than a timeout would."""
    try:
        return bool(wait_for(predicate, timeout, interval=interval))
    except TimeoutError:
        return False


def finished(answer: dict) -> bool:
    """An API answer about a job, sample or analysis whose status is a finished one (WorkStatus's rule)."""
    return WorkStatus(answer["status"]).finished


def wait_for_answer(
    read: Callable[[], dict],
    timeout: float,
    what: str,
    done: Callable[[dict], bool] = finished,
    interval: float = 0.3,
) -> dict:
    """read()'s first answer (an API's JSON for a job, sample or analysis) for which done(answer)
    holds; a TimeoutError naming `what` and the last answer after `timeout` seconds."""
    last: list[dict] = []

    def answer() -> dict | None:
        last[:] = [read()]
        return last[0] if done(last[0]) else None

    try:
        return wait_for(answer, timeout, what, interval)
    except TimeoutError as error:
        raise TimeoutError(f"{error}; last answer: {last[0] if last else None}") from None


def json_at(client: Any, path: str, headers: dict) -> Callable[[], dict]:
    """A `read` for wait_for_answer: the JSON a Flask test client gets at `path`, asked again each time."""
    return lambda: client.get(path, headers=headers).get_json()


def wait_for_line(path: Path, prefix: str, process: subprocess.Popen, timeout: float) -> str:
    """The first line of `path` (the output of `process`) that starts with `prefix`. An
    AssertionError with the output's tail when the process exits without writing it, or after
    `timeout` seconds."""

    def output() -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    def line() -> str | None:
        exited = process.poll() is not None  # asked before reading: a line written before exit is found
        found = next((line for line in output().splitlines() if line.startswith(prefix)), None)
        if found is None and exited:
            raise AssertionError(
                f"exited ({process.returncode}) with no line starting with {prefix!r}:\n{output()[-4000:]}"
            )
        return found

    try:
        return wait_for(line, timeout, f"a line starting with {prefix!r}", interval=0.1)
    except TimeoutError:
        raise AssertionError(f"no line starting with {prefix!r}; output:\n{output()[-4000:]}") from None
