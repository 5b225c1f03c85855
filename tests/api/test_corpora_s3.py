"""Uploads through S3 (a moto server): streamed in parts, size-limited, cleaned up on rejection."""

import hashlib
import io
import uuid

import pytest

from services.app import create_app
from shared.storage import get_store


@pytest.fixture
def s3_settings(settings, s3_endpoint):
    return settings.model_copy(
        update={
            "s3_endpoint_url": s3_endpoint,
            "s3_bucket": f"api-{uuid.uuid4().hex[:12]}",
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
            "storage_retry_delay": 0.01,
        }
    )


@pytest.fixture
def post_to_s3(s3_settings, clean_db, broker, user_headers):
    client = create_app(s3_settings).test_client()

    def post(data: bytes):
        return client.post(
            "/api/v1/corpora",
            headers=user_headers,
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), "c.txt")},
        )

    return post


def test_upload_to_s3(post_to_s3, s3_settings, corpus_text):
    data = corpus_text.encode() * 30  # 72 KB
    response = post_to_s3(data)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["sha256"] == hashlib.sha256(data).hexdigest()
    store = get_store(s3_settings)
    [key] = store.list("corpora/")
    assert store.get_bytes(key) == data


@pytest.mark.parametrize("data, status", [(b"\xff\xfe\x00", 422), (b"x" * 100_001, 413)], ids=["binary", "oversize"])
def test_rejected_upload_leaves_nothing_in_s3(post_to_s3, s3_settings, data, status):
    response = post_to_s3(data)
    assert response.status_code == status
    assert get_store(s3_settings).list("") == []
