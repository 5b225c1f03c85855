"""Argument types and the flags several commands share: the hyperparameter flags, generated from
the engine's Hyperparameters so that the CLI, the API and the engine share one name per idea
(`--seq-len` is `seq_len` everywhere)."""

import argparse
import typing

from shared.engine.config import Hyperparameters

ALIASES = {"learning_rate": ["--lr"], "budget_seconds": ["--budget"]}


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


def seconds_value(text: str) -> int:
    """--budget: "15m", "1h30m", "900s" or a bare number of seconds, as whole seconds."""
    from shared.timefmt import parse_duration

    try:
        return int(parse_duration(text, "hms", bare="s").total_seconds())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_hyperparameter_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hyperparameters (defaults: the paper's)")
    for name, field in Hyperparameters.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kwargs: dict = {"dest": name, "default": None, "help": field.description}
        annotation = field.annotation
        if name.endswith("_seconds"):
            kwargs.update(type=seconds_value, metavar="DURATION")
        elif annotation is bool:
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


# ---- sweeps: the same flags, each a comma list of values ----------------------------------------

TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _boolean(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def comma_list(convert, choices: tuple | None = None):
    """An argparse type: `a,b,c` -> [convert(a), convert(b), convert(c)] (each in `choices`)."""

    def parse(text: str) -> list:
        parts = [part.strip() for part in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"an empty value in {text!r}")
        try:
            values = [convert(part) for part in parts]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
        if choices is not None:
            bad = [v for v in values if v not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"{bad[0]!r} is not one of {', '.join(choices)}")
        return values

    return parse


def add_sweep_flags(parser: argparse.ArgumentParser) -> None:
    """`train`'s hyperparameter flags, each taking a comma list (`--optimizer rmsprop,adam`); a
    boolean flag alone means true, or takes `true,false`."""
    group = parser.add_argument_group("hyperparameters: a value or a comma list of values (defaults: the paper's)")
    for name, field in Hyperparameters.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kwargs: dict = {"dest": name, "default": None, "help": field.description}
        annotation = field.annotation
        if annotation is bool:
            kwargs.update(nargs="?", const=[True], type=comma_list(_boolean), metavar="BOOL[,BOOL]")
        elif typing.get_origin(annotation) is typing.Literal:
            choices = typing.get_args(annotation)
            kwargs.update(type=comma_list(str, choices), metavar=",".join(choices))
        else:
            convert = int if annotation in (int, int | None) else float
            kwargs.update(type=comma_list(convert), metavar="N[,N...]" if convert is int else "F[,F...]")
        group.add_argument(flag, *ALIASES.get(name, []), **kwargs)


def sweep_from_args(args: argparse.Namespace) -> tuple[dict, dict]:
    """(base, grid): flags given one value go to the base, those given several to the grid."""
    base, grid = {}, {}
    for name in Hyperparameters.model_fields:
        values = getattr(args, name, None)
        if values is None:
            continue
        unique = list(dict.fromkeys(values))
        if len(unique) == 1:
            base[name] = unique[0]
        else:
            grid[name] = unique
    return base, grid
