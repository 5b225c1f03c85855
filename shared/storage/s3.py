"""Objects in an S3 bucket (AWS, MinIO, moto): path-style addressing, checksums only when
required (boto3 1.36+ defaults upset S3-compatible servers), standard retries, streaming uploads.

The bucket is created on first use when missing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from .base import (
    NotFound,
    ObjectReader,
    ObjectStore,
    Readable,
    StorageError,
    TransientStorageError,
    validate_key,
    validate_prefix,
)

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}


def _map_error(exc: Exception, what: str) -> StorageError:
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, Exception):
        exc = exc.__context__
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _MISSING or (status == "404" and not code):
            return NotFound(what)
        if code in _TRANSIENT_CODES or status.startswith("5"):
            return TransientStorageError(f"{what}: {exc}")
        return StorageError(f"{what}: {exc}")
    if isinstance(exc, (ConnectionError, HTTPClientError, OSError)):
        return TransientStorageError(f"{what}: {exc}")
    return StorageError(f"{what}: {exc}")


class _CountingReader:
    """Counts what s3transfer reads; deliberately not seekable, so uploads stream in parts.

    read(n) fills n bytes unless the source ends: s3transfer takes one short read as the end of
    a small object and then calls read() for "the rest", which for a source that returns short
    reads (sockets, request bodies) would pull everything into memory.
    """

    def __init__(self, fileobj: Readable):
        self._f = fileobj
        self.count = 0
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data = b"" if self.eof else self._f.read()
        else:
            parts, want = [], n
            while want > 0 and not self.eof:
                chunk = self._f.read(want)
                if not chunk:
                    self.eof = True
                    break
                parts.append(chunk)
                want -= len(chunk)
            data = b"".join(parts)
        self.count += len(data)
        return data


class S3Store(ObjectStore):
    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        path_style: bool = True,
        max_attempts: int = 5,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        retries: int = 4,
        retry_delay: float = 0.5,
        multipart_chunksize: int = 8 * 1024 * 1024,
        create_bucket: bool = True,
    ):
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region
        self.retries = retries
        self.retry_delay = retry_delay
        self.create_bucket = create_bucket
        self._credentials = (access_key_id, secret_access_key)
        self._config = Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_chunksize, multipart_chunksize=multipart_chunksize, max_concurrency=4
        )
        self._lock = threading.Lock()
        self._client = None
        self._client_pid: int | None = None
        self._bucket_ready = False

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def client(self):
        """A boto3 client, created lazily and again after a fork."""
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                key_id, secret = self._credentials
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    aws_access_key_id=key_id,
                    aws_secret_access_key=secret,
                    config=self._config,
                )
                self._client_pid = os.getpid()
            return self._client

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (once per store object)."""
        if self._bucket_ready:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in _MISSING or not self.create_bucket:
                raise _map_error(exc, f"bucket {self.bucket}") from exc
            self._create_bucket()
        except BotoCoreError as exc:
            raise _map_error(exc, f"bucket {self.bucket} at {self.endpoint_url or 'AWS'}") from exc
        self._bucket_ready = True

    def _create_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise _map_error(exc, f"create bucket {self.bucket}") from exc
        except BotoCoreError as exc:
            raise _map_error(exc, f"create bucket {self.bucket}") from exc

    def _call(self, what: str, fn, *args, **kwargs):
        self.ensure_bucket()
        try:
            return fn(*args, **kwargs)
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
            raise _map_error(exc, what) from exc

    def put_stream(self, key: str, fileobj: Readable) -> int:
        validate_key(key)
        reader = _CountingReader(fileobj)
        self._call(f"upload {key}", self.client.upload_fileobj, reader, self.bucket, key, Config=self._transfer)
        return reader.count

    def put_file(self, key: str, path: str | os.PathLike) -> int:
        validate_key(key)
        if not os.path.isfile(path):
            raise StorageError(f"cannot read {path}: not a file")
        self._call(f"upload {key}", self.client.upload_file, os.fspath(path), self.bucket, key, Config=self._transfer)
        return os.path.getsize(path)

    def open(self, key: str) -> ObjectReader:
        validate_key(key)
        resp = self._call(key, self.client.get_object, Bucket=self.bucket, Key=key)
        return ObjectReader(resp["Body"], errors=lambda exc: _map_error(exc, f"read {key}"))

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
            return True
        except NotFound:
            return False

    def size(self, key: str) -> int:
        validate_key(key)
        resp = self._call(key, self.client.head_object, Bucket=self.bucket, Key=key)
        return int(resp["ContentLength"])

    def list(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        self.ensure_bucket()
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise _map_error(exc, f"list {prefix!r}") from exc
        return sorted(keys)

    def list_modified(self, prefix: str = "") -> dict[str, datetime]:
        validate_prefix(prefix)
        self.ensure_bucket()
        modified: dict[str, datetime] = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                modified.update((obj["Key"], obj["LastModified"].astimezone(UTC)) for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise _map_error(exc, f"list {prefix!r}") from exc
        return modified

    def delete(self, key: str) -> None:
        validate_key(key)
        with contextlib.suppress(NotFound):
            self._call(f"delete {key}", self.client.delete_object, Bucket=self.bucket, Key=key)

    def check(self) -> None:
        self._bucket_ready = False
        self.ensure_bucket()
