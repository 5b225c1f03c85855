"""Logging for every process: `configure(role, settings)` is the one place it is set up (the API,
the training and sampling workers, the reconciler, the launcher).

LOG_FORMAT=text (the default) keeps each process's readable lines: the API's and the reconciler's
formats below, Celery's own in the workers, the launcher's `charlstm: ...` prints.

LOG_FORMAT=json: one JSON object per line, always with `time` (ISO 8601, UTC), `level`, `role`
(api, training, sampling, reconciler, launcher: the worker registry's names), `host`, `pid`,
`logger` and `message`; `job`, `sample` or `analysis` when the line is about one (`log_context`,
set by the workers' tasks around their work and by the API from a request's URL); `exc_info` for
a traceback (one line, escaped). Log records are written by a handler on the process's original
stderr. Whatever else writes to the process's stdout or stderr (TensorFlow's C++ code straight to
fd 2, absl, tqdm, print, Celery's pool processes, a child process) goes through `wrap_output`: fd 1
and fd 2 become pipes read by a thread of this process, which passes on a line that already is
such a JSON object and writes any other as one, its level read from its look (TensorFlow's
leading I/W/E/F letter, a leading `WARNING:`-like word), else info on stdout and warning on
stderr; wrapped lines carry no job id (the thread cannot know whose line it is).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import fcntl
import io
import json
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

from shared.settings import Settings

ROLES = ("api", "training", "sampling", "reconciler", "launcher")
ID_KINDS = ("job", "sample", "analysis")  # the ids a line may carry, as `job`, `sample`, `analysis`
REQUIRED_KEYS = ("time", "level", "role", "host", "message")
# Text mode's formats (today's); a role without one is left to its framework (Celery in the workers)
# or writes its own lines (the launcher).
TEXT_FORMATS = {
    "api": "%(asctime)s %(name)s %(levelname)s %(message)s",
    "reconciler": "[%(asctime)s: %(levelname)s/reconciler] %(message)s",
}
PIPE_BYTES = 1 << 20  # a wrapped pipe's capacity: native writers never wait on the reading thread
DRAIN_SECONDS = 2.0  # at exit, how long the process waits for what it wrote to be passed on

_ids: contextvars.ContextVar[Mapping[str, int]] = contextvars.ContextVar(
    "charlstm_log_ids", default=MappingProxyType({})
)
_format: Literal["text", "json"] = "text"
_wrapped: list[_Wrapper] = []


def is_json() -> bool:
    """Whether this process was configured for JSON lines."""
    return _format == "json"


# ---- ids -----------------------------------------------------------------------------------------


def bind(**ids: int | None) -> contextvars.Token:
    """Adds job/sample/analysis ids (None: left out) to every record of this context until `unbind`."""
    unknown = set(ids) - set(ID_KINDS)
    if unknown:
        raise ValueError(f"unknown log ids {sorted(unknown)}; expected {ID_KINDS}")
    return _ids.set({**_ids.get(), **{kind: int(v) for kind, v in ids.items() if v is not None}})


def unbind(token: contextvars.Token) -> None:
    _ids.reset(token)


@contextlib.contextmanager
def log_context(**ids: int | None) -> Iterator[None]:
    """`with log_context(job=7): ...`: every record logged inside carries `job: 7`."""
    token = bind(**ids)
    try:
        yield
    finally:
        unbind(token)


def ids_from(view_args: Mapping[str, Any] | None) -> dict[str, int]:
    """The ids a URL's arguments name (`job_id`, `sample_id`, `analysis_id`), as bind() takes them."""
    args = view_args or {}
    found = {kind: str(args.get(f"{kind}_id", "")) for kind in ID_KINDS}
    return {kind: int(value) for kind, value in found.items() if value.isdigit()}  # never fails a request


class ContextFilter(logging.Filter):
    """Puts the current context's ids on each record (as attributes: the JSON formatter writes them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for kind, value in _ids.get().items():
            setattr(record, kind, value)
        return True


# ---- formatting ----------------------------------------------------------------------------------


def json_formatter(role: str) -> JsonFormatter:
    """The one JSON line format: the keys in the module's docstring, then any record extras."""
    return JsonFormatter(
        ["levelname", "name", "process", "message"],
        rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
        static_fields={"role": role, "host": socket.gethostname()},
        timestamp="time",
    )


_LEADING_WORD = re.compile(r"^\W*(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b", re.I)
# TensorFlow's C++ lines: `I0000 00:00:1712.345 ...` (absl) or `2024-05-01 10:00:00.123456: W ...`
_TENSORFLOW = re.compile(r"^(?:([IWEF])\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d [\d:.]+: ([IWEF]) )")
_LETTER_LEVEL = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
_WORD_LEVEL = {"WARN": logging.WARNING, "FATAL": logging.CRITICAL}


def level_of(line: str, default: int) -> int:
    """The level a line written outside logging says it has: TensorFlow's leading letter, a leading
    level word (`WARNING: ...`, `[ERROR] ...`), else `default`."""
    if match := _TENSORFLOW.match(line):
        return _LETTER_LEVEL[match.group(1) or match.group(2)]
    if match := _LEADING_WORD.match(line):
        word = match.group(1).upper()
        return _WORD_LEVEL.get(word) or logging.getLevelName(word)
    return default


def is_json_line(line: str) -> bool:
    """Whether `line` already is one of our JSON lines (an object with every required key)."""
    if not line.startswith("{"):
        return False
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and all(key in value for key in REQUIRED_KEYS)


def _write(fd: int, text: str) -> None:
    data = text.encode("utf-8", "replace")
    while data:
        data = data[os.write(fd, data) :]


class _FdHandler(logging.Handler):
    """Writes each record as one line, in one write, to a file descriptor."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write(self.fd, self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging's own rule: a failed emit never raises
            self.handleError(record)


# ---- wrapping fd 1 and fd 2 ----------------------------------------------------------------------

_DRAIN = b"\x00charlstm-logs-drained\x00"


class _Wrapper:
    """fd `target` replaced by a pipe; a thread reads it and writes JSON lines to the original."""

    def __init__(self, target: int, formatter: logging.Formatter, default_level: int):
        self.target, self.formatter, self.default_level = target, formatter, default_level
        self.original = os.dup(target)  # not inherited by exec'd children; forked ones keep it
        read, write = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        os.dup2(write, target)  # inheritable: children write into the pipe too
        os.close(write)
        self.read, self.pending, self.drained = read, b"", threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"log-wrap-fd{target}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while chunk := os.read(self.read, 65536):
            self.pending += chunk
            *lines, self.pending = re.split(rb"[\r\n]", self.pending)
            for line in lines:
                self._line(line)
        self._line(self.pending)

    def _line(self, raw: bytes) -> None:
        if raw.endswith(_DRAIN):  # what was written before the marker has been passed on
            self._line(raw[: -len(_DRAIN)])
            self.drained.set()
            return
        line = raw.decode("utf-8", "replace").rstrip()
        if not line.strip():
            return
        if not is_json_line(line):
            name = "stdout" if self.target == 1 else "stderr"
            record = logging.LogRecord(name, level_of(line, self.default_level), "", 0, line, None, None)
            line = self.formatter.format(record)
        _write(self.original, line + "\n")

    def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Wait until what this process wrote so far has been passed on (at exit)."""
        self.drained.clear()
        _write(self.target, _DRAIN.decode() + "\n")
        self.drained.wait(timeout)


def wrap_output(formatter: logging.Formatter) -> None:
    """fd 1 and fd 2 (and so sys.stdout, sys.stderr, native writers and child processes) as JSON
    lines through `formatter`; drained at exit. Once per process."""
    if _wrapped:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError, OSError):
            stream.flush()
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(line_buffering=True)
    _wrapped.extend([_Wrapper(1, formatter, logging.INFO), _Wrapper(2, formatter, logging.WARNING)])
    owner = os.getpid()

    def drain_all() -> None:
        if os.getpid() != owner:  # a forked child exiting normally: the parent's thread reads on
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.flush()
        for wrapper in _wrapped:
            wrapper.drain()

    atexit.register(drain_all)


# ---- configure -----------------------------------------------------------------------------------


def configure(role: str, settings: Settings, level: str | int = "INFO", logfile: str | None = None) -> None:
    """Set up this process's logging for `role` (one of ROLES) as settings.log_format says.

    text: today's format for the role (TEXT_FORMATS; a role without one is left as it is).
    json: the root logger writes JSON lines (to `logfile` if given, else the original stderr) with
    the context's ids; warnings, uncaught exceptions (any thread) and fd 1/fd 2 become JSON lines.
    """
    global _format
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    level = level.upper() if isinstance(level, str) else level
    _format = settings.log_format
    if _format == "text":
        if role in TEXT_FORMATS:
            logging.basicConfig(level=level, format=TEXT_FORMATS[role])
        return
    formatter = json_formatter(role)
    wrap_output(formatter)
    handler: logging.Handler = _FdHandler(_wrapped[1].original)
    if logfile:
        handler = logging.FileHandler(logfile, encoding="utf-8")
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    log = logging.getLogger(f"charlstm.{role}")
    sys.excepthook = lambda kind, value, tb: log.critical("uncaught exception", exc_info=(kind, value, tb))
    threading.excepthook = lambda args: log.error(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
    )
