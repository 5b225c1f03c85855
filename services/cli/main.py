"""`charlstm`: one entry point; each command module registers its own subcommands."""

import argparse
import os
import sys

from . import analyze, local, sample


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="charlstm", description="Character-level LSTM text generators.")
    parser.add_argument("--version", action="version", version=f"charlstm {_version()}")
    parser.add_argument(
        "--url", dest="root_url", metavar="URL", help="service commands: the API base URL (also after the command)"
    )
    parser.add_argument(
        "--token", dest="root_token", metavar="TOKEN", help="service commands: the API token (also after the command)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local.register(sub)
    sample.register(sub)
    analyze.register(sub)
    for name in ("client", "admin", "sweeps", "lineage"):
        try:
            module = __import__(f"services.cli.{name}", fromlist=["register"])
        except ImportError:  # pragma: no cover - optional parts of a partial install
            continue
        module.register(sub)
    return parser


def _version() -> str:
    from shared.version import package_version

    return package_version()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `charlstm jobs | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as exc:
        from .errors import describe

        message = describe(exc)
        if message is None:
            raise
        print(f"charlstm: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
