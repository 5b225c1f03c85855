"""Argument types and the flags several commands share: the hyperparameter flags, generated from
the engine's Hyperparameters so that the CLI, the API and the engine share one name per idea
(`--seq-len` is `seq_len` everywhere)."""

import argparse
import typing

from shared.engine.config import Hyperparameters

ALIASES = {"learning_rate": ["--lr"]}


def positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def probability(value: str) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return number


def add_hyperparameter_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hyperparameters (defaults: the paper's)")
    for name, field in Hyperparameters.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kwargs: dict = {"dest": name, "default": None, "help": field.description}
        annotation = field.annotation
        if annotation is bool:
            kwargs["action"] = "store_true"
        elif typing.get_origin(annotation) is typing.Literal:
            kwargs["choices"] = typing.get_args(annotation)
        else:
            kwargs["type"] = int if annotation in (int, int | None) else float
            kwargs["metavar"] = "N" if kwargs["type"] is int else "F"
        group.add_argument(flag, *ALIASES.get(name, []), **kwargs)


def hyperparameters_from_args(args: argparse.Namespace) -> dict:
    """Only the flags that were given; Hyperparameters fills in the rest."""
    given = {}
    for name, field in Hyperparameters.model_fields.items():
        value = getattr(args, name, None)
        if value is None or (field.annotation is bool and value is False):
            continue
        given[name] = value
    return given
