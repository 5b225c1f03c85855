"""`s3_store`: an S3Store on a fresh bucket of the moto server from `s3_endpoint` (tests/conftest.py)."""

import uuid

import pytest

from shared.storage import S3Store

S3_TEST_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


@pytest.fixture
def s3_store(s3_endpoint):
    """An S3Store on a new, empty bucket of the moto server (the bucket is created on first use)."""
    return S3Store(
        bucket=f"test-{uuid.uuid4().hex[:12]}",
        endpoint_url=s3_endpoint,
        retry_delay=0.01,
        access_key_id=S3_TEST_CREDENTIALS["access_key_id"],
        secret_access_key=S3_TEST_CREDENTIALS["secret_access_key"],
    )
