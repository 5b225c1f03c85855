"""shared/logs.py: the JSON line (its keys and the context's ids), the level of a line written
outside logging, and configure() in a real process: in JSON mode every line it, its native code,
its forked and exec'd children write is a JSON object; in text mode the role's own format."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from shared import logs
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def json_line(record: logging.LogRecord, role: str = "sampling") -> dict:
    logs.ContextFilter().filter(record)
    return json.loads(logs.json_formatter(role).format(record))


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("workers.sampling", level, __file__, 1, message, None, None)


def test_a_json_line_has_time_level_role_host_and_the_contexts_ids():
    with logs.log_context(job=3), logs.log_context(sample=7):
        inside = json_line(record("sample 7: stored"))
    outside = json_line(record("idle"))
    for line in (inside, outside):
        assert set(logs.REQUIRED_KEYS) <= set(line) and line["role"] == "sampling" and line["level"] == "INFO"
    assert (inside["job"], inside["sample"], inside["message"]) == (3, 7, "sample 7: stored")
    assert "job" not in outside and "sample" not in outside
    assert inside["time"].endswith("+00:00")


def test_ids_are_per_context_and_only_the_known_kinds():
    token = logs.bind(analysis=4, job=None)  # None: left out
    assert json_line(record("x")).get("analysis") == 4 and "job" not in json_line(record("x"))
    logs.unbind(token)
    assert "analysis" not in json_line(record("x"))
    with pytest.raises(ValueError, match="unknown log ids"):
        logs.bind(corpus=1)


def test_a_traceback_stays_on_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = logs.json_formatter("training").format(failed)
    assert "\n" not in text and "RuntimeError: boom" in json.loads(text)["exc_info"]


def test_ids_from_a_urls_arguments():
    assert logs.ids_from({"job_id": 5, "epoch": 2}) == {"job": 5}
    assert logs.ids_from({"sample_id": "9", "analysis_id": 1}) == {"sample": 9, "analysis": 1}
    assert logs.ids_from(None) == {} and logs.ids_from({"job_id": "latest"}) == {}


@pytest.mark.parametrize(
    ("line", "default", "level"),
    [
        ("I0000 00:00:1712345678.123 99 port.cc:153] oneDNN custom operations are on", logging.WARNING, logging.INFO),
        ("W0000 00:00:1712345678.123 99 x.cc:1] slow", logging.INFO, logging.WARNING),
        ("E0506 10:00:00.123 99 x.cc:1] failed", logging.INFO, logging.ERROR),
        ("2024-05-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN", logging.WARNING, logging.INFO),
        ("WARNING: All log messages before absl::InitializeLog() is called", logging.INFO, logging.WARNING),
        ("[ERROR] no", logging.INFO, logging.ERROR),
        ("worker: Warm shutdown (MainProcess)", logging.INFO, logging.INFO),
        ("  3%|▎         | 3/100", logging.WARNING, logging.WARNING),
    ],
)
def test_the_level_of_a_line_written_outside_logging(line, default, level):
    assert logs.level_of(line, default) == level


def test_only_a_complete_json_line_passes_as_is():
    good = json.dumps({"time": "t", "level": "INFO", "role": "api", "host": "h", "message": "m"})
    assert logs.is_json_line(good)
    assert not logs.is_json_line('{"message": "no role"}')
    assert not logs.is_json_line("[1, 2]") and not logs.is_json_line("{not json")


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="unknown role"):
        logs.configure("worker", Settings(LOG_FORMAT="json"))


# ---- configure() in a process of its own ----------------------------------------------------------

WRITERS = r"""
import logging, os, subprocess, sys, threading, warnings
from shared import logs
from shared.settings import get_settings
logs.configure(sys.argv[1], get_settings())
log = logging.getLogger("probe")
with logs.log_context(job=11):
    log.info("job 11: running")
log.debug("not at INFO")
print("a print")
os.write(2, b"I0000 00:00:1712345678.123 99 port.cc:153] oneDNN custom operations are on\n")
os.write(1, b"progress 1/3\rprogress 2/3\r")
warnings.warn("a warning")
subprocess.run([sys.executable, "-c", "import sys; print('exec child'); print('exec child err', file=sys.stderr)"])
if os.fork() == 0:
    os.write(2, b"forked child\n")
    os._exit(0)
os.wait()
thread = threading.Thread(target=lambda: 1 / 0)
thread.start()
thread.join()
sys.stderr.write("no newline at the end")
raise SystemExit(3)
"""


def run_writers(role: str, log_format: str) -> subprocess.CompletedProcess:
    env = {"LOG_FORMAT": log_format, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", WRITERS, role], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_json_mode_turns_every_line_of_a_process_into_json():
    done = run_writers("training", "json")
    assert done.returncode == 3
    lines = [json.loads(line) for line in (done.stdout + done.stderr).splitlines()]  # any other line fails here
    assert all(set(logs.REQUIRED_KEYS) <= set(line) and line["role"] == "training" for line in lines), lines
    found = {line["message"]: line for line in lines}
    assert found["job 11: running"]["job"] == 11 and found["job 11: running"]["logger"] == "probe"
    assert "not at INFO" not in found
    assert found["a print"]["logger"] == "stdout" and found["a print"]["level"] == "INFO"
    assert found["progress 2/3"]["level"] == "INFO"  # a progress bar's carriage returns end lines too
    assert next(v for k, v in found.items() if "oneDNN" in k)["level"] == "INFO"  # TensorFlow's I
    assert next(v for k, v in found.items() if "UserWarning: a warning" in k)["logger"] == "py.warnings"
    assert found["exec child"]["level"] == "INFO" and found["exec child err"]["level"] == "WARNING"
    assert found["forked child"]["logger"] == "stderr"
    crash = next(v for k, v in found.items() if k.startswith("uncaught exception in thread"))
    assert crash["level"] == "ERROR" and "ZeroDivisionError" in crash["exc_info"]
    assert found["no newline at the end"]["level"] == "WARNING"  # passed on at exit, not lost
    assert "job" not in found["a print"]


def test_text_mode_keeps_each_roles_own_lines():
    api = run_writers("api", "text")
    assert api.returncode == 3
    assert "a print\n" in api.stdout and "exec child\n" in api.stdout  # untouched
    assert " probe INFO job 11: running" in api.stderr and "{" not in api.stderr
    launcher = run_writers("launcher", "text")  # logging left alone: the launcher prints its own lines
    assert "job 11: running" not in launcher.stderr and "forked child" in launcher.stderr
