"""`python -m services.launcher` (what `make up` runs): the whole service on one machine.

Runs the migrations, makes sure an admin token exists (kept in VAR/admin-token), starts the API
(services.serve: waitress), one training worker, one sampling worker and the reconciler as child processes,
waits until /readyz answers (database, broker and storage reachable), prints where it listens, the URLs
and the token, then waits. A child that exits on its own (a crash, a kill, a worker's fatal error)
is started again after 1 s, doubling with each further restart up to 30 s, and the launcher says
why ("the training-worker exited with status N; restarting it in X s (restart k)"); a child that
would need more than 5 restarts within 5 minutes stops everything, with that message, and the exit
status is 1. Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL after a timeout; a restart
still pending then does not happen), says so in one line per child, and exits 0. A child that
dies before /readyz first answers is not restarted: the service did not start (exit status 1).

Embedded defaults: SQLite, a local object store and a filesystem broker under the var dir; set
DATABASE_URL, BROKER_URL or S3_* to use PostgreSQL, Redis or S3/MinIO instead.

It listens on 127.0.0.1 unless told otherwise (`--host` or HOST, e.g. 0.0.0.0 for every interface).
With LOG_FORMAT=json its own lines (and, through shared.logs's wrapped output, anything its
children write) are JSON lines too.
"""

import argparse
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared import logs

log = logging.getLogger("charlstm.launcher")
ROOT = Path(__file__).resolve().parents[1]
STOP_TIMEOUT = 30.0  # seconds a child gets to exit after SIGTERM (a running job is handed back)
START_TIMEOUT = 120.0  # seconds until /readyz must answer 200
DEFAULT_HOST = "127.0.0.1"
# Training is batch work that takes every core it gets; at a lower CPU priority it leaves the API
# (and sampling) what they need to answer quickly on the same machine.
TRAINING_NICENESS = 10
# A child that exits on its own is started again after RESTART_FIRST_DELAY seconds, doubling with each
# restart within RESTART_WINDOW up to RESTART_MAX_DELAY; needing more than MAX_RESTARTS restarts
# within RESTART_WINDOW stops everything (exit status 1): something is wrong that restarting won't fix.
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
MAX_RESTARTS = 5
RESTART_WINDOW = 300.0


def api_command(port: int, host: str = DEFAULT_HOST, threads: int | None = None) -> list[str]:
    """The API server, as `make up` runs it (threads: default $SERVE_THREADS or 8)."""
    argv = [sys.executable, "-m", "services.serve", "--host", host, "--port", str(port)]
    return argv + (["--threads", str(threads)] if threads else [])


def child_commands(port: int, host: str = DEFAULT_HOST) -> list[tuple[str, list[str]]]:
    python = sys.executable
    return [
        ("api", api_command(port, host)),
        ("training-worker", ["nice", "-n", str(TRAINING_NICENESS), python, "-m", "workers", "training", "--quiet"]),
        ("sampling-worker", [python, "-m", "workers", "sampling", "--quiet"]),
        ("reconciler", [python, "-m", "workers", "reconciler"]),
    ]


_prctl: Callable[..., int] | None
try:
    import ctypes

    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # Linux
except (ImportError, OSError, AttributeError):  # pragma: no cover - other systems
    _prctl = None


def _die_with_parent() -> None:  # runs in the child before exec: SIGTERM if the launcher is killed
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """A supervised process: how to start it, the running process, its restarts (monotonic times) and
    when a pending restart is due."""

    name: str
    argv: list[str]
    process: subprocess.Popen
    restarts: list[float] = field(default_factory=list)
    due: float | None = None


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = RESTART_FIRST_DELAY
    max_delay: float = RESTART_MAX_DELAY
    max_restarts: int = MAX_RESTARTS
    window: float = RESTART_WINDOW

    def delay(self, restart: int) -> float:
        """Seconds before the `restart`-th restart (1-based) within the window: 1, 2, 4, ... up to 30."""
        return min(self.max_delay, self.first_delay * 2 ** (restart - 1))


class Supervisor:
    """Child processes, each the leader of its own process group: a terminal's Ctrl-C reaches only
    the launcher, which then stops them (SIGTERM to each leader, then SIGKILL to whatever is left
    of each group after the timeout). A child that exits on its own is restarted after a backoff;
    one that would need more than `policy.max_restarts` restarts within `policy.window` seconds
    stops the whole stack."""

    def __init__(self, stop_timeout: float = STOP_TIMEOUT, cwd: Path = ROOT, policy: RestartPolicy | None = None):
        self.stop_timeout, self.cwd = stop_timeout, cwd
        self.policy = policy or RestartPolicy()
        self.children: list[Child] = []
        self.signals = 0

    def install_signal_handlers(self) -> None:
        def handler(signum, frame):
            self.signals += 1

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def _spawn(self, argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            argv, cwd=self.cwd, stdin=subprocess.DEVNULL, process_group=0, preexec_fn=_die_with_parent
        )

    def start(self, name: str, argv: list[str]) -> None:
        self.children.append(Child(name, argv, self._spawn(argv)))

    def dead(self) -> tuple[str, int] | None:
        for child in self.children:
            if child.process.poll() is not None:
                return child.name, child.process.returncode
        return None

    def wait(self) -> int:
        """Restarts children that exit, until a signal (0) or a child that exits too often (1)."""
        while not self.signals:
            now = time.monotonic()
            for child in self.children:
                if child.due is not None:
                    if now >= child.due:
                        self._restart(child, now)
                elif child.process.poll() is not None and not self._schedule_restart(child, now):
                    return 1
            time.sleep(0.2)
        return 0  # a restart still pending is dropped: stop() stops what runs

    def _schedule_restart(self, child: Child, now: float) -> bool:
        """Plan the restart of `child`, which has exited; False when it exited too often."""
        _signal_group(child.process, signal.SIGKILL)  # what its leader left behind (a pool process)
        exited = describe_exit(child.process.returncode)
        child.restarts = [t for t in child.restarts if now - t < self.policy.window]
        if len(child.restarts) >= self.policy.max_restarts:
            _say(
                f"the {child.name} {exited}; it was restarted {len(child.restarts)} times in the last "
                f"{self.policy.window:g} s: giving up, stopping the others",
                logging.ERROR,
            )
            return False
        delay = self.policy.delay(len(child.restarts) + 1)
        restart = len(child.restarts) + 1
        _say(f"the {child.name} {exited}; restarting it in {delay:g} s (restart {restart})", logging.WARNING)
        child.due = now + delay
        return True

    def _restart(self, child: Child, now: float) -> None:
        child.due = None
        child.restarts.append(now)
        child.process = self._spawn(child.argv)
        _say(f"restarted the {child.name} (pid {child.process.pid})")

    def stop(self) -> None:
        signals_before = self.signals
        processes = [child.process for child in self.children]
        for process in processes:
            if process.poll() is None:
                process.terminate()  # the leader stops its own workers (celery)
        deadline = time.monotonic() + self.stop_timeout
        for process in processes:
            while process.poll() is None and time.monotonic() < deadline and self.signals == signals_before:
                time.sleep(0.05)  # a second Ctrl-C while stopping kills at once
        for child in self.children:
            stubborn = child.process.poll() is None
            _signal_group(child.process, signal.SIGKILL)  # the leader if still there, and any stragglers
            child.process.wait()
            if stubborn:
                _say(f"killed the {child.name} (pid {child.process.pid}): it did not stop in time", logging.WARNING)
            else:
                _say(f"stopped the {child.name} (pid {child.process.pid})")
        self.children.clear()


def _say(message: str, level: int = logging.INFO) -> None:
    """One line of the launcher's own: `charlstm: ...` on stderr, or a JSON line (LOG_FORMAT=json)."""
    if logs.is_json():
        log.log(level, message)
    else:
        print(f"charlstm: {message}", file=sys.stderr, flush=True)


def _tell(lines: list[str]) -> None:
    """The ready lines: on stdout, or a JSON line each (LOG_FORMAT=json; blank ones left out)."""
    if logs.is_json():
        for line in filter(None, lines):
            log.info(line)
    else:
        print(*lines, sep="\n", flush=True)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def wait_healthy(url: str, supervisor: Supervisor, timeout: float) -> str | None:
    """None once `url` answers 200, else why not (a signal, a dead child, the timeout)."""
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        if supervisor.signals:
            return "interrupted"
        dead = supervisor.dead()
        if dead is not None:
            return f"the {dead[0]} {describe_exit(dead[1])}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return None
        except urllib.error.HTTPError as exc:
            last = f"{exc.code}: {exc.read(500).decode(errors='replace')}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    return f"{url} did not answer 200 within {timeout:.0f} s (last: {last})"


def supervise(
    children: list[tuple[str, list[str]]],
    health_url: str,
    ready_lines: list[str],
    start_timeout: float = START_TIMEOUT,
    supervisor: Supervisor | None = None,
) -> int:
    """Start `children`, wait for `health_url`, print `ready_lines`, wait; always stop them all."""
    if supervisor is None:
        supervisor = Supervisor()
        supervisor.install_signal_handlers()
    try:
        for name, argv in children:
            supervisor.start(name, argv)
        problem = wait_healthy(health_url, supervisor, start_timeout)
        if problem == "interrupted":
            return 0
        if problem is not None:
            _say(f"the service did not start: {problem}", logging.ERROR)
            return 1
        pids = " ".join(f"{child.name}={child.process.pid}" for child in supervisor.children)
        _tell([f"processes: {pids}", *ready_lines, "Press Ctrl-C to stop."])
        return supervisor.wait()
    finally:
        _say("stopping ...")
        supervisor.stop()


# ---- setup: environment, migrations, admin token ----------------------------------------------


def secret_file(path: Path, make) -> str:
    """The text kept in `path` (mode 0600), created by `make()` the first time."""
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def prepare_environment(var_dir: Path, port: int) -> None:
    """Children inherit these: one var dir (absolute), the port, a SECRET_KEY shared by all, and
    the repository on PYTHONPATH (they run in the var dir, where stray files such as the
    filesystem broker's control/ folder belong)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CHARLSTM_VAR_DIR"] = str(var_dir)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["PORT"] = str(port)
    if not os.environ.get("SECRET_KEY"):
        os.environ["SECRET_KEY"] = secret_file(var_dir / "secret-key", lambda: secrets.token_urlsafe(32))
    from shared.settings import get_settings

    get_settings.cache_clear()


def admin_token(var_dir: Path) -> str:
    """The token in VAR/admin-token if it still belongs to an admin, else a new one for `admin`."""
    from shared.auth import create_user_token, user_for_token
    from shared.db.session import session_scope

    path = var_dir / "admin-token"
    with session_scope() as session:
        saved = path.read_text().strip() if path.exists() else ""
        user = user_for_token(session, saved)
        if user is not None and user.is_admin:
            return saved
        token = create_user_token(session, "admin", admin=True)
    path.unlink(missing_ok=True)
    return secret_file(path, lambda: token)


def port_in_use(port: int, host: str = DEFAULT_HOST) -> bool:
    """Whether the API could not listen on host:port (the same bind the server makes)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.launcher", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 8000), help="API port (default $PORT or 8000)"
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("HOST") or DEFAULT_HOST,
        help="address the API listens on (default $HOST or 127.0.0.1; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=Path(os.environ.get("CHARLSTM_VAR_DIR") or "var"),
        help="where the embedded defaults keep their files (default $CHARLSTM_VAR_DIR or ./var)",
    )
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from shared.settings import get_settings

    logs.configure("launcher", get_settings())
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the migrations' steps: silent, as in text mode
    var_dir = args.var_dir.resolve()
    if port_in_use(args.port, args.host):
        _say(
            f"cannot listen on {args.host}:{args.port} (port {args.port} is in use or the address is not"
            f" this machine's); pick another with --port / PORT (or --host / HOST)",
            logging.ERROR,
        )
        return 1

    supervisor = Supervisor(cwd=var_dir)
    supervisor.install_signal_handlers()
    prepare_environment(var_dir, args.port)
    os.environ["HOST"] = args.host
    try:
        from shared.db.migrate import upgrade

        upgrade()
        token = admin_token(var_dir)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, for a database that is not there
        _say(f"could not prepare the database: {type(exc).__name__}: {exc}", logging.ERROR)
        return 1
    if supervisor.signals:
        return 0

    local = "127.0.0.1" if args.host in ("0.0.0.0", "") else "[::1]" if args.host == "::" else args.host
    local = f"[{local}]" if ":" in local and not local.startswith("[") else local
    url = f"http://{local}:{args.port}"
    where = "every interface" if args.host in ("0.0.0.0", "::", "") else args.host
    cli = Path(sys.executable).with_name("charlstm")
    ready = [
        "",
        f"charlstm is up: {url}/  (API docs {url}/api/v1/docs, OpenAPI {url}/api/v1/openapi.json)",
        f"listening on {where}, port {args.port} (change with --host/HOST and --port/PORT)",
        f"admin pages: {url}/admin/",
        f"var dir: {var_dir} (the admin token is kept in admin-token there)",
        f"command line: {cli if cli.exists() else 'charlstm'} (or `source .venv/bin/activate` first), with "
        f"CHARLSTM_URL={url} and CHARLSTM_TOKEN set to the token below",
        f"admin token: {token}",
    ]
    return supervise(child_commands(args.port, args.host), f"{url}/readyz", ready, args.start_timeout, supervisor)


if __name__ == "__main__":
    sys.exit(main())
