"""The one streaming atomic writer, and what killed writers leave behind.

``writer.atomic_writer`` publishes on success only, holds at most about one
block in memory, never makes a local copy of an object-store write, and a
write SIGKILLed half way (which runs no cleanup) leaves nothing that the next
write of the same folder or key does not remove. Backends: a local folder,
fsspec's ``memory://``, and S3 through the moto server over HTTP, inspected
with boto3 (``list_multipart_uploads``) as an independent client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid

import pytest

from etl_targets.errors import StorageError
from etl_targets.lake import storage, writer

MIB = 2**20
#: The smallest part S3 accepts, so that a few MiB already make a multipart upload.
BLOCK = 5 * MIB

#: Writes 60 MiB slowly through atomic_writer; says "writing" once two blocks are in.
#: With "hold" it then waits for a line on stdin before writing the rest.
SLOW_WRITER = r"""
import sys, time
from etl_targets.lake import storage, writer
url, block, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "hold"
fs, path = storage.filesystem(url)
with writer.atomic_writer(fs, path, block_size=block) as handle:
    for megabyte in range(1, 61):
        handle.write(b"x" * 2**20)
        if megabyte == 2 * block // 2**20:
            print("writing", flush=True)
            if hold:
                sys.stdin.readline()
        time.sleep(0.01)
print("published", flush=True)
"""


class Boom(Exception):
    """Raised inside a write to abandon it."""


def write_chunks(handle, megabytes: int) -> None:
    for _ in range(megabytes):
        handle.write(b"y" * MIB)


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def place(request, tmp_path):
    """``(fs, folder)``: an empty folder on one backend."""
    if request.param == "local":
        url = str(tmp_path / "lake" / "part")
    elif request.param == "memory":
        url = f"memory://writer-{uuid.uuid4().hex}/part"
    else:
        url = f"s3://{request.getfixturevalue('s3_env')}/lake/part"
    fs, folder = storage.filesystem(url)
    yield fs, folder
    if request.param == "memory" and fs.exists(folder):
        fs.rm(folder, recursive=True)


@pytest.fixture(scope="session")
def boto_s3(moto_server):
    """A boto3 client on the moto server: sees the bucket independently of s3fs."""
    import boto3

    return boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def unfinished_uploads(boto_s3, bucket: str) -> list:
    return [u["Key"] for u in boto_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def everything_in(fs, folder: str) -> set:
    """Every file below ``folder``, dot files included."""
    return set(fs.find(folder)) if fs.exists(folder) else set()


# --------------------------------------------------------------------------
# publishing
# --------------------------------------------------------------------------

def test_write_that_raises_publishes_nothing_and_leaves_nothing(place):
    fs, folder = place
    with pytest.raises(Boom):
        with writer.atomic_writer(fs, storage.join(folder, "f.bin"), block_size=BLOCK) as handle:
            write_chunks(handle, 7)
            raise Boom()
    assert everything_in(fs, folder) == set()


@pytest.mark.s3
def test_streamed_write_that_raises_leaves_no_multipart_upload(s3_env, boto_s3):
    fs, path = storage.filesystem(f"s3://{s3_env}/lake/part/f.bin")
    with pytest.raises(Boom):
        with writer.atomic_writer(fs, path, block_size=BLOCK) as handle:
            write_chunks(handle, 12)
            assert unfinished_uploads(boto_s3, s3_env) == ["lake/part/f.bin"]
            raise Boom()
    assert unfinished_uploads(boto_s3, s3_env) == []


def test_empty_write_publishes_an_empty_file(place):
    fs, folder = place
    with writer.atomic_writer(fs, storage.join(folder, "_SUCCESS")):
        pass
    assert storage.read_bytes(fs, storage.join(folder, "_SUCCESS")) == b""
    assert everything_in(fs, folder) == {storage.join(folder, "_SUCCESS")}


def test_multi_block_write_publishes_every_byte_in_order(place):
    fs, folder = place
    data = os.urandom(3 * BLOCK + 12345)
    with writer.atomic_writer(fs, storage.join(folder, "f.bin"), block_size=BLOCK) as handle:
        for start in range(0, len(data), 1_000_000):
            handle.write(data[start:start + 1_000_000])
    assert storage.read_bytes(fs, storage.join(folder, "f.bin")) == data


@pytest.mark.s3
def test_multi_block_write_on_s3_is_uploaded_in_block_sized_parts(s3_env, boto_s3):
    fs, path = storage.filesystem(f"s3://{s3_env}/lake/part/f.bin")
    with writer.atomic_writer(fs, path, block_size=BLOCK) as handle:
        write_chunks(handle, 12)
    head = boto_s3.head_object(Bucket=s3_env, Key="lake/part/f.bin", PartNumber=1)
    assert head["PartsCount"] == 3
    assert head["ContentLength"] == BLOCK


@pytest.mark.s3
def test_streamed_write_makes_no_local_copy(s3_env, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)  # forget the cached default
    fs, path = storage.filesystem(f"s3://{s3_env}/lake/part/f.bin")
    with writer.atomic_writer(fs, path, block_size=BLOCK) as handle:
        write_chunks(handle, 12)
        assert list(scratch.iterdir()) == []
    assert list(scratch.iterdir()) == []


def peak_memory_of_a_write(fs, path: str, megabytes: int) -> int:
    """The most memory Python held at once while streaming ``megabytes`` through the writer."""
    chunk = b"z" * MIB
    tracemalloc.start()
    try:
        with writer.atomic_writer(fs, path, block_size=BLOCK) as handle:
            for _ in range(megabytes):
                handle.write(chunk)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.s3
def test_streamed_write_memory_does_not_grow_with_its_size(s3_env):
    fs, folder = storage.filesystem(f"s3://{s3_env}/lake/part")
    small = peak_memory_of_a_write(fs, storage.join(folder, "small"), 12)
    large = peak_memory_of_a_write(fs, storage.join(folder, "large"), 36)
    assert large < 1.2 * small
    assert large < 5 * BLOCK, f"peak {large / MIB:.0f} MiB for a 36 MiB write"


@pytest.mark.s3
def test_small_write_sends_one_put_and_no_other_request(s3_env, s3_requests):
    fs, path = storage.filesystem(f"s3://{s3_env}/lake/part/f.bin")
    s3_requests.mark()
    writer.write_bytes(fs, path, b"x" * 1000)
    assert [tuple(r)[:2] for r in s3_requests()] == [("PUT", f"/{path}")]


@pytest.mark.s3
def test_streamed_write_lists_unfinished_uploads_of_its_own_key_only(s3_env, s3_requests):
    fs, path = storage.filesystem(f"s3://{s3_env}/lake/part/f.bin")
    s3_requests.mark()
    with writer.atomic_writer(fs, path, block_size=BLOCK) as handle:
        write_chunks(handle, 6)
    listings = [p for m, p, *_ in s3_requests() if m == "GET" and "uploads" in p]
    assert listings == [f"/{s3_env}?uploads&prefix=lake/part/f.bin"]


def test_copy_stream_returns_the_sha256_and_size_of_what_it_wrote(place):
    fs, folder = place
    data = os.urandom(3 * MIB + 7)
    with writer.atomic_writer(fs, storage.join(folder, "f.bin"), block_size=BLOCK) as handle:
        digest, size = storage.copy_stream(io.BytesIO(data), handle, chunk=MIB)
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert storage.read_bytes(fs, storage.join(folder, "f.bin")) == data


# --------------------------------------------------------------------------
# reading and listing
# --------------------------------------------------------------------------

@pytest.mark.s3
def test_read_of_an_s3_object_is_one_get(s3_env, s3_requests):
    fs, path = storage.filesystem(f"s3://{s3_env}/lake/part/f.bin")
    writer.write_bytes(fs, path, b"content")
    s3_requests.mark()
    assert storage.read_bytes(fs, path) == b"content"
    assert [tuple(r)[0] for r in s3_requests()] == ["GET"]


def test_read_of_a_missing_file_is_file_not_found(place):
    fs, folder = place
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(fs, storage.join(folder, "missing"))


def test_list_details_gives_each_files_size(place):
    fs, folder = place
    writer.write_bytes(fs, storage.join(folder, "a"), b"123")
    writer.write_bytes(fs, storage.join(folder, "deep", "b"), b"12345")
    details = storage.list_details(fs, folder)
    assert {p: d["size"] for p, d in details.items()} == {
        storage.join(folder, "a"): 3, storage.join(folder, "deep", "b"): 5}


@pytest.mark.s3
def test_list_details_on_s3_carries_etag_and_last_modified(s3_env):
    fs, folder = storage.filesystem(f"s3://{s3_env}/lake/part")
    writer.write_bytes(fs, storage.join(folder, "a"), b"123")
    (info,) = storage.list_details(fs, folder).values()
    assert info["ETag"].strip('"') == hashlib.md5(b"123").hexdigest()
    assert info["LastModified"] is not None


def test_file_info_gives_the_size_of_one_file(place):
    fs, folder = place
    writer.write_bytes(fs, storage.join(folder, "a"), b"123")
    assert storage.file_info(fs, storage.join(folder, "a"))["size"] == 3


def test_file_info_of_a_missing_file_is_file_not_found(place):
    fs, folder = place
    with pytest.raises(FileNotFoundError):
        storage.file_info(fs, storage.join(folder, "missing"))


def test_list_details_of_a_missing_prefix_is_empty(place):
    fs, folder = place
    assert storage.list_details(fs, storage.join(folder, "missing")) == {}


# --------------------------------------------------------------------------
# leftovers of killed writers
# --------------------------------------------------------------------------

def start_slow_writer(url: str, mode: str = "kill", env: dict = None) -> subprocess.Popen:
    """The slow writer in a subprocess, returned once two blocks are written."""
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, url, str(BLOCK), mode],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, **(env or {})})
    assert child.stdout.readline() == "writing\n", "the writer died before writing"
    return child


def sigkill(child: subprocess.Popen) -> None:
    child.kill()
    child.wait(timeout=10)  # reaped: a zombie would still look alive


@pytest.fixture
def killed_local_write(tmp_path):
    """A local folder in which a write was SIGKILLed half way; returns the folder."""
    folder = tmp_path / "lake" / "date=2026-01-27"
    sigkill(start_slow_writer(str(folder / "big.csv")))
    return folder


@pytest.fixture
def killed_s3_write(s3_env, tmp_path):
    """``(bucket, key, scratch)``: an S3 write SIGKILLed half way, its TMPDIR ``scratch``."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    key = "lake/bronze/date=2026-01-27/big.csv"
    sigkill(start_slow_writer(f"s3://{s3_env}/{key}", env={"TMPDIR": str(scratch)}))
    return s3_env, key, scratch


def test_killed_local_write_leaves_only_a_dot_temporary_file(killed_local_write):
    (leftover,) = os.listdir(killed_local_write)
    assert re.fullmatch(r"\.big\.csv\.\d+-[A-Za-z0-9-]*-[0-9a-f]{8}\.tmp", leftover)


def test_next_local_write_in_the_folder_removes_the_killed_writes_temporary(killed_local_write):
    fs, folder = storage.filesystem(str(killed_local_write))
    writer.write_bytes(fs, storage.join(folder, "_manifest.json"), b"{}")
    assert os.listdir(killed_local_write) == ["_manifest.json"]


@pytest.mark.s3
def test_killed_s3_write_publishes_nothing_and_makes_no_local_copy(killed_s3_write, boto_s3):
    bucket, key, scratch = killed_s3_write
    assert boto_s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert list(scratch.iterdir()) == []
    assert unfinished_uploads(boto_s3, bucket) == [key]


@pytest.mark.s3
def test_next_streamed_write_of_the_key_aborts_the_killed_upload(killed_s3_write, boto_s3):
    bucket, key, _ = killed_s3_write
    fs, path = storage.filesystem(f"s3://{bucket}/{key}")
    with writer.atomic_writer(fs, path, block_size=BLOCK) as handle:
        write_chunks(handle, 6)
    assert unfinished_uploads(boto_s3, bucket) == []
    assert storage.read_bytes(fs, path) == b"y" * 6 * MIB


@pytest.mark.s3
def test_sweeping_the_folder_aborts_the_killed_upload(killed_s3_write, boto_s3):
    bucket, key, _ = killed_s3_write
    fs, folder = storage.filesystem(f"s3://{bucket}/{key.rsplit('/', 1)[0]}")
    assert writer.remove_abandoned_writes(fs, folder) == [f"s3://{bucket}/{key}"]
    assert unfinished_uploads(boto_s3, bucket) == []


# --------------------------------------------------------------------------
# concurrent writers are not leftovers
# --------------------------------------------------------------------------

def test_write_beside_a_live_writer_keeps_its_temporary_file(tmp_path):
    folder = tmp_path / "lake" / "date=2026-01-27"
    child = start_slow_writer(str(folder / "big.csv"), mode="hold")
    try:
        fs, path = storage.filesystem(str(folder))
        writer.write_bytes(fs, storage.join(path, "other.csv"), b"x")
        assert len([n for n in os.listdir(folder) if n.startswith(".big.csv.")]) == 1
        child.stdin.write("go on\n")
        child.stdin.flush()
        assert child.stdout.readline() == "published\n"
    finally:
        child.kill()
        child.wait(timeout=10)
    assert sorted(os.listdir(folder)) == ["big.csv", "other.csv"]


def temporary_name(pid: int, host: str = None) -> str:
    host = host if host is not None else re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
    return f".data.parquet.{pid}-{host}-0123abcd.tmp"


def test_temporary_file_whose_pid_was_reused_later_is_removed(tmp_path):
    stale = tmp_path / temporary_name(os.getpid())  # our pid, but written before we started
    stale.write_bytes(b"half")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    fs, folder = storage.filesystem(str(tmp_path))
    assert writer.remove_abandoned_writes(fs, folder) == [str(stale)]


def test_temporary_file_of_another_host_is_kept_until_a_day_old(tmp_path):
    recent = tmp_path / temporary_name(1, host="elsewhere")
    old = tmp_path / temporary_name(2, host="elsewhere")
    recent.write_bytes(b"half")
    old.write_bytes(b"half")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    fs, folder = storage.filesystem(str(tmp_path))
    assert writer.remove_abandoned_writes(fs, folder) == [str(old)]


def test_files_not_named_like_a_writers_temporary_are_never_removed(tmp_path):
    names = ["data.parquet", ".keep", ".data.parquet.tmp", "_SUCCESS", ".x.123-h-xyz.tmp"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (0, 0))
    fs, folder = storage.filesystem(str(tmp_path))
    assert writer.remove_abandoned_writes(fs, folder) == []
    assert sorted(os.listdir(tmp_path)) == sorted(names)


@pytest.mark.s3
def test_sweeping_a_folder_leaves_uploads_below_and_beside_it(s3_env, boto_s3):
    for key in ("lake/part/a", "lake/part/deeper/b", "lake/partition/c"):
        boto_s3.create_multipart_upload(Bucket=s3_env, Key=key)
    fs, folder = storage.filesystem(f"s3://{s3_env}/lake/part")
    assert writer.remove_abandoned_writes(fs, folder) == [f"s3://{s3_env}/lake/part/a"]
    assert sorted(unfinished_uploads(boto_s3, s3_env)) == ["lake/part/deeper/b", "lake/partition/c"]


class UploadsListing:
    """Just enough of s3fs for the sweep: one listing page, and the aborts it is asked for.

    moto reports every upload as initiated in 2010, so ages are checked here.
    """

    protocol = ("s3", "s3a")

    def __init__(self, server_date: str, uploads: dict):
        self.page = {"ResponseMetadata": {"HTTPHeaders": {"date": server_date}},
                     "Uploads": [{"Key": key, "UploadId": key, "Initiated": when}
                                 for key, when in uploads.items()]}
        self.aborted = []

    def split_path(self, path):
        bucket, _, key = path.partition("/")
        return bucket, key, None

    def call_s3(self, method, **kwargs):
        assert (method, kwargs) == ("list_multipart_uploads",
                                    {"Bucket": "bucket", "Prefix": "lake/part/"})
        return self.page

    def abort_mpu(self, bucket, key, upload_id):
        self.aborted.append(key)


def test_sweeping_with_older_than_keeps_younger_uploads_by_the_servers_clock():
    server_now = dt.datetime(2031, 5, 6, 12, 0, tzinfo=dt.timezone.utc)  # not this machine's
    fs = UploadsListing("Tue, 06 May 2031 12:00:00 GMT", {
        "lake/part/old": server_now - dt.timedelta(hours=2),
        "lake/part/new": server_now - dt.timedelta(minutes=30)})
    assert writer.remove_abandoned_writes(fs, "bucket/lake/part", older_than=3600) == [
        "s3://bucket/lake/part/old"]
    assert fs.aborted == ["lake/part/old"]


@pytest.mark.s3
def test_streamed_write_succeeds_when_uploads_may_not_be_listed(s3_env, monkeypatch, caplog):
    fs, path = storage.filesystem(f"s3://{s3_env}/lake/part/f.bin")
    call_s3 = fs.call_s3

    def without_listing(method, *args, **kwargs):
        if method == "list_multipart_uploads":
            raise PermissionError("Access Denied")
        return call_s3(method, *args, **kwargs)

    monkeypatch.setattr(fs, "call_s3", without_listing)
    with writer.atomic_writer(fs, path, block_size=BLOCK) as handle:
        write_chunks(handle, 6)
    assert storage.read_bytes(fs, path) == b"y" * 6 * MIB
    assert "cannot clear abandoned writes" in caplog.text


@pytest.mark.s3
def test_sweep_failure_is_a_storage_error(s3_invalid_credentials):
    fs, folder = storage.filesystem(f"s3://{s3_invalid_credentials}/lake/part")
    with pytest.raises(StorageError):
        writer.remove_abandoned_writes(fs, folder)
