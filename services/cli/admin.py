"""`charlstm admin create-token NAME [--admin] [--expires 30d|12h|90m]`: issue an API token, straight
against the database (with --expires it answers 401 "token expired" after that lifetime).
`charlstm admin set-quota NAME [--max-jobs N] ... [--reset]`: set (or show) a user's own limits.
`charlstm admin migrate`: create the database or bring it to the latest revision.
`charlstm admin workers`: the worker processes from the registry, and the queue depths (fleet.py).

The database is DATABASE_URL, else the embedded SQLite file CHARLSTM_VAR_DIR/charlstm.db
(CHARLSTM_VAR_DIR: ./var of the current folder unless set; `make up` uses the repository's var/).
create-token and set-quota run no migrations and never create that file: run outside the folder
of `make up` they say which database they looked for and how to point at the right one. The token
is printed once, as the last line of stdout; only its hash is stored.
"""

import argparse
import sys

from sqlalchemy.exc import OperationalError, ProgrammingError

from . import fleet


def register(subparsers) -> None:
    admin = subparsers.add_parser("admin", help="administer the service's database")
    commands = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create = commands.add_parser("create-token", help="create a user if missing and print a new API token")
    create.add_argument("name", help="user name (1-64 characters)")
    create.add_argument("--admin", action="store_true", help="the user sees every user's objects")
    create.add_argument(
        "--expires",
        type=lifetime_value,
        metavar="LIFETIME",
        help="the token stops working after this long: a number and d, h or m (30d, 12h, 90m); default: never",
    )
    create.set_defaults(run=run)

    quota = commands.add_parser(
        "set-quota",
        help="set a user's own limits (shared.lifecycle.quotas) and print them",
        description="Set a user's own limits; `default` removes one (back to the QUOTA_* setting; "
        "administrators have no limit unless one is set here). Without options: print the limits.",
    )
    quota.add_argument("name", help="user name")
    for flag, (limit, meaning) in QUOTA_FLAGS.items():
        quota.add_argument(flag, dest=limit, type=quota_value, metavar="N|default", help=meaning)
    quota.add_argument("--reset", action="store_true", help="remove all of the user's own limits first")
    quota.set_defaults(run=run_set_quota)

    migrate = commands.add_parser(
        "migrate", help="create the database (or bring it up to date): DATABASE_URL or CHARLSTM_VAR_DIR/charlstm.db"
    )
    migrate.set_defaults(run=run_migrate)
    workers = commands.add_parser(
        "workers",
        help="list the worker processes (the registry in the database) and the queue depths",
        description="The worker processes from the registry (alive, lost or stopped; what each runs) and the "
        "queue depths: queued and running records, and the broker's messages. Asks no worker anything.",
    )
    fleet.add_arguments(workers)
    workers.set_defaults(run=run_workers)


def database_label() -> str:
    """The database the admin commands use, as a user can recognise it (no password)."""
    from sqlalchemy.engine import make_url

    from shared.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return f"DATABASE_URL {make_url(settings.database_url).render_as_string(hide_password=True)}"
    return f"{(settings.var_dir / 'charlstm.db').resolve()} (the embedded SQLite: CHARLSTM_VAR_DIR/charlstm.db)"


def missing_database() -> str | None:
    """Why the embedded SQLite database cannot be used (it does not exist: opening it would create
    an empty one, and a var/ folder, wherever the command runs); None when it can."""
    from shared.settings import get_settings

    settings = get_settings()
    if settings.database_url or (settings.var_dir / "charlstm.db").exists():
        return None
    return (
        f"no database at {(settings.var_dir / 'charlstm.db').resolve()}.\n"
        "Run this in the folder where you ran `make up` (its var/ holds the database), or point at it with\n"
        "  CHARLSTM_VAR_DIR=/path/to/charlstm/var charlstm admin ...    (or DATABASE_URL=... for PostgreSQL)\n"
        "To create a new database here instead: charlstm admin migrate"
    )


def not_ready(exc: OperationalError | ProgrammingError) -> int:
    print(
        f"charlstm: error: the database {database_label()} is not ready ({exc.orig});\n"
        "create or update it with: charlstm admin migrate   (same DATABASE_URL / CHARLSTM_VAR_DIR)",
        file=sys.stderr,
    )
    return 1


def run_migrate(args: argparse.Namespace) -> int:
    from shared.db.migrate import upgrade

    upgrade()
    print(f"database {database_label()} is at the latest revision")
    return 0


QUOTA_FLAGS = {
    "--max-jobs": ("max_jobs", "queued and running jobs"),
    "--max-samples": ("max_samples", "queued and running sample requests"),
    "--max-analyses": ("max_analyses", "queued and running neuron analyses"),
    "--max-parameters": ("max_parameters", "model size: layers x 4 x units x (2 x units + 1)"),
    "--max-epochs": ("max_epochs", "epochs per job"),
    "--max-sample-chars": ("max_sample_chars", "characters per sample request (length x count x temperatures)"),
    "--max-storage-bytes": ("max_storage_bytes", "bytes stored: corpora and their indexes, checkpoints, samples"),
    "--max-corpora": ("max_corpora", "corpora kept"),
}


def quota_value(text: str) -> int | str:
    from shared.actions.users import DEFAULT

    if text.strip().lower() == DEFAULT:
        return DEFAULT
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0 or 'default'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0 or 'default'")
    return value


def run_set_quota(args: argparse.Namespace) -> int:
    from shared.actions.errors import ActionError
    from shared.actions.users import set_quotas
    from shared.db.session import session_scope

    if (problem := missing_database()) is not None:
        print(f"charlstm: error: {problem}", file=sys.stderr)
        return 1
    changes = {limit: getattr(args, limit) for limit, _ in QUOTA_FLAGS.values()}
    try:
        with session_scope() as session:
            result = set_quotas(session, args.name, changes, reset=args.reset)
    except ActionError as refused:
        print(f"charlstm: error: {refused.message}", file=sys.stderr)
        return 1
    except (OperationalError, ProgrammingError) as exc:
        return not_ready(exc)
    print(f"quotas of {result.role} {args.name.strip()!r}:")
    for limit, value in result.limits.items():
        where = "set for this user" if limit in result.own else "default"
        print(f"  {limit}: {'no limit' if value is None else value} ({where})")
    return 0


def run_workers(args: argparse.Namespace) -> int:
    if (problem := missing_database()) is not None:
        print(f"charlstm: error: {problem}", file=sys.stderr)
        return 1
    try:
        return fleet.show(args, database_label())
    except (OperationalError, ProgrammingError) as exc:
        return not_ready(exc)


def lifetime_value(text: str):
    """--expires: shared.auth.parse_lifetime's timedelta, or argparse's usage error."""
    from shared.auth import parse_lifetime

    try:
        return parse_lifetime(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from shared.actions.errors import ActionError
    from shared.actions.users import check_user_name, issue_token
    from shared.db.session import session_scope
    from shared.timefmt import absolute

    try:
        name = check_user_name(args.name)
    except ActionError as refused:
        print(f"charlstm: error: {refused.message}", file=sys.stderr)
        return 2
    if (problem := missing_database()) is not None:
        print(f"charlstm: error: {problem}", file=sys.stderr)
        return 1
    try:
        with session_scope() as session:
            token = issue_token(session, name, admin=args.admin, lifetime=args.expires)
    except (OperationalError, ProgrammingError) as exc:
        return not_ready(exc)
    role = "admin" if args.admin else "user"
    print(f"database: {database_label()}")
    if args.expires is not None:
        print(f"expires: {absolute(datetime.now(UTC) + args.expires)}")
    print(f"token for {role} {name!r} (shown once; keep it secret):")
    print(token)
    return 0
