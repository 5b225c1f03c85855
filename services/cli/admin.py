"""`charlstm admin create-token NAME [--admin]`: issue an API token, straight against the database.

Uses DATABASE_URL (shared.settings) and runs no migrations. The token is printed once, as the
last line of stdout; only its hash is stored.
"""

import argparse
import sys

from sqlalchemy.exc import OperationalError, ProgrammingError


def register(subparsers) -> None:
    admin = subparsers.add_parser("admin", help="administer the service's database")
    commands = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create = commands.add_parser("create-token", help="create a user if missing and print a new API token")
    create.add_argument("name", help="user name (1-64 characters)")
    create.add_argument("--admin", action="store_true", help="the user sees every user's objects")
    create.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from shared.auth import create_user_token
    from shared.db.session import session_scope

    name = args.name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        print("charlstm: error: a user name has 1-64 printable characters", file=sys.stderr)
        return 2
    try:
        with session_scope() as session:
            token = create_user_token(session, name, admin=args.admin)
    except (OperationalError, ProgrammingError) as exc:
        print(f"charlstm: error: database not ready ({exc.orig}); run `python -m shared.db.migrate`", file=sys.stderr)
        return 1
    role = "admin" if args.admin else "user"
    print(f"token for {role} {name!r} (shown once; keep it secret):")
    print(token)
    return 0
