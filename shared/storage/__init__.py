"""Object storage: S3 (AWS, MinIO) when S3_BUCKET is set, else a local directory.

No Flask or Celery here; the API and the workers both use `get_store()`.
"""

from ..settings import Settings, get_settings
from .base import NotFound, ObjectReader, ObjectStore, StorageError, TransientStorageError, validate_key
from .local import LocalStore
from .s3 import S3Store

__all__ = [
    "LocalStore",
    "NotFound",
    "ObjectReader",
    "ObjectStore",
    "S3Store",
    "StorageError",
    "TransientStorageError",
    "get_store",
    "store_from_settings",
    "validate_key",
]


def store_from_settings(settings: Settings, request_time: bool = False) -> ObjectStore:
    """A new store for these settings. `request_time`: for web requests, every call answers or
    fails within about DEPENDENCY_TIMEOUT (short connect/read timeouts, one attempt: the client
    gets a 503 and retries); otherwise the workers' long retries (S3_MAX_ATTEMPTS, STORAGE_RETRIES)."""
    s3: dict = {"max_attempts": settings.s3_max_attempts}
    retries, delay = settings.storage_retries, settings.storage_retry_delay
    if request_time:
        timeout = settings.dependency_timeout
        # botocore's retries={"max_attempts": n} is n retries after the first try
        s3 = {"max_attempts": 0, "connect_timeout": timeout, "read_timeout": timeout}
        retries, delay = 1, 0.0
    if not settings.s3_bucket:
        return LocalStore(settings.objects_dir, retries=retries, retry_delay=delay)
    return S3Store(
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        path_style=settings.s3_path_style,
        retries=retries,
        retry_delay=delay,
        **s3,
    )


_default: ObjectStore | None = None


def get_store(settings: Settings | None = None) -> ObjectStore:
    """The process-wide store for get_settings(), or a new one for explicit settings."""
    global _default
    if settings is not None:
        return store_from_settings(settings)
    if _default is None:
        _default = store_from_settings(get_settings())
    return _default
