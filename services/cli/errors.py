"""Which exceptions are user mistakes, and the one line that explains each."""

from pydantic import ValidationError


def describe(exc: Exception) -> str | None:
    from shared.engine.checkpoint import CheckpointError
    from shared.engine.corpus import CorpusError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
    if isinstance(exc, (CorpusError, CheckpointError, ValueError)):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file or folder"
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    if type(exc).__name__ in {"ClientError", "ConnectionError"}:  # the service client's errors
        return str(exc)
    return None
