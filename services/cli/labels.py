"""The label flags: --name, --notes, --tag of `submit` and `label`."""

import argparse


def add_label_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("labels")
    group.add_argument("--name", help="a label (1-128 printable characters)")
    group.add_argument("--notes", help="free text")
    group.add_argument("--tag", dest="tags", action="append", metavar="TAG", help="a tag (repeat for more)")


def labels_from_args(args: argparse.Namespace) -> dict:
    given = {k: getattr(args, k, None) for k in ("name", "notes", "tags")}
    if getattr(args, "clear_tags", False):
        given["tags"] = []
    return {k: v for k, v in given.items() if v is not None}
