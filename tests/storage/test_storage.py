"""One suite run against LocalStore(tmp_path) and S3Store on a real moto S3 server."""

import hashlib
import os
import socket

import pytest

from shared.settings import Settings
from shared.storage import LocalStore, NotFound, S3Store, StorageError, TransientStorageError, get_store

MB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "objects", retry_delay=0.01)
    return request.getfixturevalue("s3_store")


class ChunkStream:
    """A non-seekable stream of `total` pseudo-random bytes that records every read size."""

    def __init__(self, total: int, fail_after: int | None = None, max_read: int | None = None):
        self.total, self.pos, self.fail_after, self.max_read = total, 0, fail_after, max_read
        self.reads: list[int] = []  # sizes asked for before the end of the data
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if self.pos < self.total:
            self.reads.append(n)
        if self.fail_after is not None and self.pos >= self.fail_after:
            raise RuntimeError("source broke")
        n = self.total - self.pos if n is None or n < 0 else min(n, self.total - self.pos)
        n = min(n, self.max_read or n)  # a source that returns short reads, like a socket
        data = (hashlib.sha256(str(self.pos).encode()).digest() * (n // 32 + 1))[:n]
        self.pos += n
        self.digest.update(data)
        return data


def test_bytes_round_trip_and_overwrite(store):
    assert store.put_bytes("a/b/c.txt", b"hello") == 5
    assert store.get_bytes("a/b/c.txt") == b"hello"
    assert store.exists("a/b/c.txt") and store.size("a/b/c.txt") == 5
    store.put_bytes("a/b/c.txt", b"bye")
    assert store.get_bytes("a/b/c.txt") == b"bye"
    store.put_bytes("empty", b"")
    assert store.get_bytes("empty") == b"" and store.exists("empty")


def test_file_round_trip(store, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(100_000))
    assert store.put_file("corpora/x.bin", src) == 100_000
    dest = tmp_path / "out" / "deep" / "x.bin"
    assert store.get_file("corpora/x.bin", dest) == 100_000
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["x.bin"]  # no temp file left behind


@pytest.mark.parametrize("max_read", [None, 64 * 1024])
def test_streams_5mb_in_chunks(store, tmp_path, max_read):
    stream = ChunkStream(5 * MB + 123, max_read=max_read)
    assert store.put_stream("big/five.bin", stream) == 5 * MB + 123
    assert all(n is not None and 0 < n <= 8 * MB for n in stream.reads), stream.reads[:5]
    with store.open("big/five.bin") as f:
        digest, biggest = hashlib.sha256(), 0
        for chunk in f:
            digest.update(chunk)
            biggest = max(biggest, len(chunk))
    assert digest.hexdigest() == stream.digest.hexdigest()
    assert 0 < biggest <= f.chunk_size < 5 * MB
    dest = tmp_path / "five.bin"
    store.get_file("big/five.bin", dest)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == stream.digest.hexdigest()


def test_real_file_stream(store, tmp_path):
    src = tmp_path / "five.bin"
    src.write_bytes(os.urandom(5 * MB))
    with open(src, "rb") as f:
        assert store.put_stream("five.bin", f) == 5 * MB
    assert store.size("five.bin") == 5 * MB
    assert hashlib.sha256(store.get_bytes("five.bin")).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_broken_source_leaves_nothing(store):
    with pytest.raises(Exception, match="source broke"):
        store.put_stream("broken.bin", ChunkStream(3 * MB, fail_after=MB))
    assert not store.exists("broken.bin")
    assert store.list() == []


def test_list_by_prefix(store):
    for key in ["a/1", "a/2", "ab/3", "b/4", "a/sub/5"]:
        store.put_bytes(key, key.encode())
    assert store.list("a/") == ["a/1", "a/2", "a/sub/5"]
    assert store.list("a") == ["a/1", "a/2", "a/sub/5", "ab/3"]
    assert store.list("a/sub/") == ["a/sub/5"]
    assert store.list("") == ["a/1", "a/2", "a/sub/5", "ab/3", "b/4"]
    assert store.list("zzz/") == []
    store.delete("a/1")
    assert store.list("a/") == ["a/2", "a/sub/5"]
    assert store.delete_prefix("a/") == 2
    assert store.list() == ["ab/3", "b/4"]


def test_list_modified_gives_each_keys_write_time(store):
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(seconds=5)  # the store's clock may round down
    for key in ["a/1", "a/2", "b/3"]:
        store.put_bytes(key, b"x")
    modified = store.list_modified("a/")
    assert sorted(modified) == ["a/1", "a/2"]
    assert all(before <= moment <= datetime.now(UTC) + timedelta(seconds=5) for moment in modified.values())
    assert all(moment.tzinfo is not None for moment in modified.values())
    assert store.list_modified("zzz/") == {}


def test_missing_key(store, tmp_path):
    with pytest.raises(NotFound):
        store.get_bytes("nope.txt")
    with pytest.raises(NotFound):
        store.open("dir/nope.txt")
    with pytest.raises(NotFound):
        store.size("nope.txt")
    with pytest.raises(NotFound):
        store.get_file("nope.txt", tmp_path / "x" / "nope.txt")
    assert not (tmp_path / "x").exists() or list((tmp_path / "x").iterdir()) == []
    with pytest.raises(NotFound):
        store.get_dir("jobs/1/epoch-0001", tmp_path / "ckpt")
    assert not store.exists("nope.txt")
    store.delete("nope.txt")  # idempotent
    assert issubclass(NotFound, StorageError)


@pytest.mark.parametrize(
    "key", ["", "../etc/passwd", "a/../b", "..", "/abs", "a//b", "a/", "a/./b", "a b", "a\\b", "ü.txt", "x?y", "a..b"]
)
def test_bad_keys_rejected(store, key):
    with pytest.raises(StorageError):
        store.put_bytes(key, b"x")
    with pytest.raises(StorageError):
        store.get_bytes(key)
    with pytest.raises(StorageError):
        store.exists(key)
    if key not in ("", "a/"):  # both are valid listing prefixes
        with pytest.raises(StorageError):
            store.list(key)


def test_put_dir_get_dir(store, tmp_path):
    src = tmp_path / "epoch-0003"
    (src / "assets").mkdir(parents=True)
    (src / "model.keras").write_bytes(os.urandom(300_000))
    (src / "checkpoint.json").write_text('{"epoch": 3}')
    (src / "assets" / "vocab.txt").write_text("abc")
    keys = store.put_dir("jobs/7/epoch-0003", src)
    assert keys == [
        "jobs/7/epoch-0003/assets/vocab.txt",
        "jobs/7/epoch-0003/checkpoint.json",
        "jobs/7/epoch-0003/model.keras",
    ]
    store.put_bytes("jobs/7/epoch-00030/other", b"not part of it")
    assert store.list("jobs/7/epoch-0003/") == keys
    dest = tmp_path / "restore" / "epoch-0003"
    paths = store.get_dir("jobs/7/epoch-0003", dest)
    assert sorted(p.relative_to(dest).as_posix() for p in paths) == [
        "assets/vocab.txt",
        "checkpoint.json",
        "model.keras",
    ]
    for rel in ["model.keras", "checkpoint.json", "assets/vocab.txt"]:
        assert (dest / rel).read_bytes() == (src / rel).read_bytes()
    assert not (dest / "other").exists()


def test_check(store):
    store.check()


def test_put_dir_retries_transient_errors(store, tmp_path, monkeypatch):
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "a.bin").write_bytes(b"a" * 10)
    (src / "b.bin").write_bytes(b"b" * 10)
    real_put_file, failures = store.put_file, list[str]()

    def flaky_put_file(key, path):
        if len(failures) < 3:
            failures.append(key)
            raise TransientStorageError("connection reset")
        return real_put_file(key, path)

    monkeypatch.setattr(store, "put_file", flaky_put_file)
    store.retries = 4
    assert store.put_dir("jobs/1/epoch-0001", src) == ["jobs/1/epoch-0001/a.bin", "jobs/1/epoch-0001/b.bin"]
    assert failures == ["jobs/1/epoch-0001/a.bin"] * 3
    failures.clear()
    store.retries = 2
    with pytest.raises(TransientStorageError):
        store.put_dir("jobs/1/epoch-0002", src)
    assert len(failures) == 2


def _dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_s3_unreachable_is_a_transient_storage_error(tmp_path):
    store = S3Store(
        bucket="b",
        endpoint_url=_dead_endpoint(),
        access_key_id="x",
        secret_access_key="y",
        max_attempts=1,
        connect_timeout=1,
        retries=2,
        retry_delay=0.01,
    )
    with pytest.raises(TransientStorageError):
        store.check()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"1")
    with pytest.raises(StorageError):
        store.put_dir("p", tmp_path / "d")


def test_local_check_fails_when_root_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError):
        LocalStore(tmp_path / "file").check()


def test_s3_multipart_streaming(s3_endpoint):
    store = S3Store(
        bucket="multipart-test",
        endpoint_url=s3_endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        multipart_chunksize=5 * MB,
    )
    stream = ChunkStream(12 * MB + 7)
    assert store.put_stream("big.bin", stream) == 12 * MB + 7
    assert max(stream.reads) <= 5 * MB
    assert hashlib.sha256(store.get_bytes("big.bin")).hexdigest() == stream.digest.hexdigest()


def test_get_store_picks_backend(tmp_path, s3_endpoint):
    local = get_store(Settings(CHARLSTM_VAR_DIR=str(tmp_path)))
    assert isinstance(local, LocalStore) and local.root == (tmp_path / "objects").resolve()
    s3 = get_store(
        Settings(
            CHARLSTM_VAR_DIR=str(tmp_path),
            S3_BUCKET="picked",
            S3_ENDPOINT_URL=s3_endpoint,
            S3_ACCESS_KEY_ID="testing",
            S3_SECRET_ACCESS_KEY="testing",
        )
    )
    assert isinstance(s3, S3Store) and s3.bucket == "picked"
    s3.put_bytes("k", b"v")
    assert s3.get_bytes("k") == b"v"
