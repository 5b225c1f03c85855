"""The installed charlstm version: one reader for the CLI's --version and the worker registry."""

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed charlstm version; "unknown" from a checkout that was not installed."""
    try:
        return version("charlstm")
    except PackageNotFoundError:
        return "unknown"
