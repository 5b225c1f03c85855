"""Start a worker: `python -m workers training`, `python -m workers sampling`, or the reconciler.

    python -m workers training [--concurrency 1] [--pool prefork] [--hostname training@%h]
    python -m workers sampling [--concurrency N]        # threads sharing one model cache;
                                                        # default $SAMPLING_CONCURRENCY (4)
    python -m workers training -- --max-tasks-per-child 1     # anything after -- goes to celery
    python -m workers reconciler [--once]               # requeues work whose worker or message was lost

Training runs one task at a time (TensorFlow after fork in a prefork child; never a shared GPU).
SIGTERM to a worker hands its running jobs and samples back to the queue (see workers/shutdown.py).
"""

from __future__ import annotations

import argparse
import sys

from shared.queue import SAMPLING_QUEUE, TRAINING_QUEUE

ROLES = {"training": TRAINING_QUEUE, "sampling": SAMPLING_QUEUE}
DEFAULT_POOL = {"training": "prefork", "sampling": "threads"}


def worker_argv(
    role: str,
    concurrency: int | None = None,
    pool: str | None = None,
    hostname: str | None = None,
    loglevel: str = "INFO",
    logfile: str | None = None,
    extra: list[str] | None = None,
    quiet: bool = False,
) -> list[str]:
    """The argv for the worker app's worker_main(); quiet: no start-up banner. concurrency None:
    training 1, sampling the SAMPLING_CONCURRENCY setting (requests run in threads at once)."""
    if role not in ROLES:
        raise ValueError(f"unknown worker role {role!r}; expected one of {sorted(ROLES)}")
    if concurrency is None:
        from shared.settings import get_settings

        concurrency = get_settings().sampling_concurrency if role == "sampling" else 1
    if role == "training" and concurrency != 1:
        raise ValueError("a training worker runs one job at a time (--concurrency 1); start more workers instead")
    argv = [
        *(["--quiet"] if quiet else []),
        "worker",
        "-Q",
        ROLES[role],
        "--concurrency",
        str(concurrency),
        "-P",
        pool or DEFAULT_POOL[role],
        "--hostname",
        hostname or f"{role}@%h",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if logfile:
        argv += ["--logfile", logfile]
    return argv + list(extra or [])


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reconciler"]:
        from .reconciler import main as reconciler_main

        return reconciler_main(argv[1:])
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__.split("\n")[0])
    parser.add_argument("role", choices=sorted(ROLES) + ["reconciler"])
    parser.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=None,
        help="training: 1 (one job at a time); sampling: requests at once, default $SAMPLING_CONCURRENCY (4)",
    )
    parser.add_argument(
        "--pool",
        "-P",
        choices=["prefork", "threads", "solo"],
        default=None,
        help="default: prefork for training, threads for sampling",
    )
    parser.add_argument("--hostname", "-n", default=None, help="node name (default <role>@%%h)")
    parser.add_argument("--loglevel", "-l", default="INFO")
    parser.add_argument("--logfile", default=None)
    parser.add_argument("--quiet", "-q", action="store_true", help="no start-up banner (make up)")
    args = parser.parse_args(argv)
    try:
        celery_argv = worker_argv(
            args.role, args.concurrency, args.pool, args.hostname, args.loglevel, args.logfile, extra, args.quiet
        )
    except ValueError as exc:
        parser.error(str(exc))
    from shared import logs
    from shared.settings import get_settings

    from .app import create_worker_app

    settings = get_settings()
    logs.configure(args.role, settings, args.loglevel, args.logfile)  # text: Celery sets up its own
    create_worker_app(settings).worker_main(celery_argv)


if __name__ == "__main__":
    main()
