"""Which exceptions are user mistakes, and the one line that explains each."""

from pydantic import ValidationError


def describe(exc: Exception) -> str | None:
    from shared.engine.config import describe_validation_error
    from shared.engine.data.corpus import CorpusError
    from shared.engine.training.checkpoint import CheckpointError

    if isinstance(exc, ValidationError):
        return describe_validation_error(exc)
    if isinstance(exc, (CorpusError, CheckpointError, ValueError)):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file or folder"
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    if type(exc).__name__ in {"ClientError", "ConnectionError"}:  # the service client's errors
        return str(exc)
    return None
