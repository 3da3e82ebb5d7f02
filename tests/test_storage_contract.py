"""One storage and target contract, passed by every backend.

Like fsspec's ``tests/abstract`` suite and luigi's ``FileSystemTargetTestMixin``:
the tests below are written once against :mod:`etl_targets.lake.storage` and
:class:`etl_targets.lake.targets.LakeTarget` / ``ParquetTarget``; a backend only
supplies the ``backend`` fixture, a filesystem and an empty root on

* a local folder,
* fsspec's ``memory://``,
* S3 through the moto server over HTTP (marked ``s3``).

Strict existence (``exists`` False only for "not found") is checked against
the ``denied`` fixture: storage that answers with a permission or
credential error, or does not answer at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import gc
import os
import posixpath
import shutil
import subprocess
import sys
import uuid

import fsspec
import luigi.target
import pandas as pd
import pyarrow as pa
import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from etl_targets.lake import storage, writer
from etl_targets.errors import StorageError
from etl_targets.lake.targets import LakeTarget, ParquetTarget

BINARY = b"a\xf2\xf3\r\nfd\x00\xff"
UNICODE = "我éçф, \"quoted\"\nsecond line\n"


class Boom(Exception):
    """Raised inside a write to abandon it."""


@dataclasses.dataclass
class Backend:
    """An empty root on one filesystem.

    Attributes:
        fs: the fsspec filesystem, as :func:`storage.filesystem` opens it.
        root: the root's bare path on ``fs``.
        root_url: the same root as a URL (what ``LakeTarget`` takes).
    """

    name: str
    fs: fsspec.AbstractFileSystem
    root: str
    root_url: str

    def path(self, *parts: str) -> str:
        return storage.join(self.root, *parts)

    def url(self, *parts: str) -> str:
        return "/".join([self.root_url, *parts])

    def all_files(self) -> set:
        """Every file below the root, hidden names included."""
        return set(self.fs.find(self.root))

    def visible_files(self) -> set:
        """Files a Parquet dataset reader would see: no name starting with ``.`` or ``_``."""
        return {p for p in self.all_files()
                if not any(part.startswith((".", "_"))
                           for part in posixpath.relpath(p, self.root).split("/"))}


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request, tmp_path):
    if request.param == "local":
        root_url = str(tmp_path / "root")
    elif request.param == "memory":
        root_url = f"memory://contract-{uuid.uuid4().hex}"
    else:
        root_url = f"s3://{request.getfixturevalue('s3_env')}/root"
    fs, root = storage.filesystem(root_url)
    yield Backend(request.param, fs, root, root_url)
    if request.param == "memory" and fs.exists(root):
        fs.rm(root, recursive=True)


# --------------------------------------------------------------------------
# storage: read, write, atomicity, listing
# --------------------------------------------------------------------------

class TestStorageContract:

    def test_written_bytes_read_back_identically(self, backend):
        writer.write_bytes(backend.fs, backend.path("f.bin"), BINARY)
        assert storage.read_bytes(backend.fs, backend.path("f.bin")) == BINARY

    def test_open_input_streams_what_was_written(self, backend):
        writer.write_bytes(backend.fs, backend.path("f.bin"), BINARY * 1000)
        with storage.open_input(backend.fs, backend.path("f.bin")) as handle:
            assert handle.read(len(BINARY)) == BINARY
            handle.seek(len(BINARY) * 999)
            assert handle.read() == BINARY

    def test_write_creates_missing_parent_folders(self, backend):
        path = backend.path("a", "date=2026-01-27", "data.parquet")
        writer.write_bytes(backend.fs, path, b"x")
        assert storage.read_bytes(backend.fs, path) == b"x"

    def test_write_that_raises_publishes_nothing(self, backend):
        with pytest.raises(Boom):
            with writer.atomic_writer(backend.fs, backend.path("f.bin")) as handle:
                handle.write(BINARY)
                raise Boom()
        assert not storage.exists(backend.fs, backend.path("f.bin"))

    def test_write_that_raises_leaves_no_temporary_file(self, backend):
        with pytest.raises(Boom):
            with writer.atomic_writer(backend.fs, backend.path("d", "f.bin")) as handle:
                handle.write(BINARY)
                raise Boom()
        assert backend.all_files() == set()

    def test_write_that_raises_keeps_the_previous_content(self, backend):
        writer.write_bytes(backend.fs, backend.path("f.bin"), b"old")
        with pytest.raises(Boom):
            with writer.atomic_writer(backend.fs, backend.path("f.bin")) as handle:
                handle.write(b"new, half written")
                raise Boom()
        assert storage.read_bytes(backend.fs, backend.path("f.bin")) == b"old"

    def test_write_in_progress_is_invisible_to_readers(self, backend):
        with writer.atomic_writer(backend.fs, backend.path("d", "f.bin")) as handle:
            handle.write(BINARY)
            handle.flush()
            assert not storage.exists(backend.fs, backend.path("d", "f.bin"))
            assert backend.visible_files() == set()

    def test_later_successful_write_replaces_the_content(self, backend):
        writer.write_bytes(backend.fs, backend.path("f.bin"), b"first, longer content")
        writer.write_bytes(backend.fs, backend.path("f.bin"), b"second")
        assert storage.read_bytes(backend.fs, backend.path("f.bin")) == b"second"
        assert backend.all_files() == {backend.path("f.bin")}

    def test_exists_is_true_for_a_written_file(self, backend):
        writer.write_bytes(backend.fs, backend.path("f.bin"), b"")
        assert storage.exists(backend.fs, backend.path("f.bin")) is True

    def test_exists_is_false_for_a_missing_file(self, backend):
        writer.write_bytes(backend.fs, backend.path("other.bin"), b"x")
        assert storage.exists(backend.fs, backend.path("missing.bin")) is False

    def test_exists_is_false_below_a_missing_folder(self, backend):
        assert storage.exists(backend.fs, backend.path("no", "such", "f.bin")) is False

    def test_list_files_returns_every_file_below_the_prefix(self, backend):
        wanted = [backend.path("silver", "so", "date=2026-01-0%d" % d, "data.parquet")
                  for d in (1, 2)] + [backend.path("silver", "so", "deep", "er", "x")]
        others = [backend.path("silver", "so_rejects", "date=2026-01-01", "data.parquet"),
                  backend.path("silver", "sox"), backend.path("gold", "so", "y")]
        for path in wanted + others:
            writer.write_bytes(backend.fs, path, b"x")
        assert storage.list_files(backend.fs, backend.path("silver", "so")) == set(wanted)

    def test_list_files_of_a_missing_prefix_is_empty(self, backend):
        writer.write_bytes(backend.fs, backend.path("silver", "so", "f"), b"x")
        assert storage.list_files(backend.fs, backend.path("silver", "po")) == set()

    def test_remove_deletes_a_folder_tree_and_missing_is_fine(self, backend):
        writer.write_bytes(backend.fs, backend.path("d", "e", "f"), b"x")
        storage.remove(backend.fs, backend.path("d"))
        storage.remove(backend.fs, backend.path("d"))
        assert storage.list_files(backend.fs, backend.path("d")) == set()


# --------------------------------------------------------------------------
# strict existence: errors are never "absent"
# --------------------------------------------------------------------------

def _permission_denied(path):
    return PermissionError(13, "Permission denied", path)


class UnreadableLocal(LocalFileSystem):
    """A local folder this user may not enter, as seen by a non-root process.

    ``os.stat`` and ``os.scandir`` raise EACCES while ``os.path.isdir`` /
    ``isfile`` / ``exists`` swallow it and answer False (the tests run as
    root, where ``chmod 000`` changes nothing).
    """

    def info(self, path, **kwargs):
        raise _permission_denied(path)

    def ls(self, path, detail=False, **kwargs):
        raise _permission_denied(path)

    def isdir(self, path):
        return False

    def isfile(self, path):
        return False

    def exists(self, path, **kwargs):
        return False


class UnreadableMemory(MemoryFileSystem):
    """An in-memory store that refuses every metadata call."""

    def info(self, path, **kwargs):
        raise _permission_denied(path)

    def ls(self, path, detail=True, **kwargs):
        raise _permission_denied(path)

    def find(self, path, *args, **kwargs):  # memory's find scans its store, not ls()
        raise _permission_denied(path)


@dataclasses.dataclass
class Denied:
    """A folder, and a file in it, that storage will not answer about."""

    fs: fsspec.AbstractFileSystem
    folder: str

    @property
    def file(self) -> str:
        return storage.join(self.folder, "date=2026-01-27", "data.parquet")


@pytest.fixture
def denied(request):
    """Storage answering with an error other than "not found" (indirect parameter)."""
    kind = request.param
    if kind == "local-permission":
        return Denied(UnreadableLocal(skip_instance_cache=True), "/srv/lake/silver/so")
    if kind == "memory-permission":
        return Denied(UnreadableMemory(skip_instance_cache=True), "/lake/silver/so")
    fixture = {"s3-invalid-credentials": "s3_invalid_credentials",
               "s3-connection-refused": "s3_unreachable"}[kind]
    bucket = request.getfixturevalue(fixture)
    fs, folder = storage.filesystem(f"s3://{bucket}/lake/silver/so")
    return Denied(fs, folder)


LOCAL, MEMORY = "local-permission", "memory-permission"
S3_DENIED = [pytest.param("s3-invalid-credentials", marks=pytest.mark.s3),
             pytest.param("s3-connection-refused", marks=pytest.mark.s3)]


class TestStrictExistence:

    @pytest.mark.parametrize("denied", [LOCAL, MEMORY, *S3_DENIED], indirect=True)
    def test_exists_raises_storage_error_instead_of_answering_absent(self, denied):
        with pytest.raises(StorageError):
            storage.exists(denied.fs, denied.file)

    @pytest.mark.parametrize("denied", [LOCAL, MEMORY, *S3_DENIED], indirect=True)
    def test_storage_error_names_the_path(self, denied):
        with pytest.raises(StorageError, match="date=2026-01-27/data.parquet"):
            storage.exists(denied.fs, denied.file)

    @pytest.mark.parametrize("denied", [
        pytest.param(LOCAL),
        pytest.param(MEMORY),
        *S3_DENIED], indirect=True)
    def test_list_files_raises_storage_error_instead_of_answering_empty(self, denied):
        try:
            listing = storage.list_files(denied.fs, denied.folder)
        except StorageError:
            return
        raise AssertionError(f"list_files answered {listing!r} for storage it cannot read")

    @pytest.mark.parametrize("denied", S3_DENIED, indirect=True)
    def test_lake_target_exists_raises_instead_of_answering_absent(self, denied):
        target = LakeTarget(denied.fs.unstrip_protocol(denied.file))
        with pytest.raises(StorageError):
            target.exists()


NON_ROOT_PROBE = """
import sys
from etl_targets.lake import storage
from etl_targets.errors import StorageError
operation, folder = sys.argv[1:]
fs, folder = storage.filesystem(folder)
try:
    if operation == "exists":
        print("answered", storage.exists(fs, storage.join(folder, "f")))
    else:
        print("answered", sorted(storage.list_files(fs, folder)))
except StorageError as exc:
    print("StorageError", exc)
"""


@pytest.fixture
def as_nobody(tmp_path):
    """Runs a storage operation as user nobody on ``<tmp>/locked/inner``; ``locked`` is mode 000.

    The real thing behind ``UnreadableLocal``: a folder a non-root process may not enter.
    """
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the probe as user nobody")
    tmp_path.chmod(0o755)
    inner = tmp_path / "locked" / "inner"
    inner.mkdir(parents=True)
    (inner / "f").write_bytes(b"x")
    (tmp_path / "locked").chmod(0)

    def run(operation: str) -> str:
        probe = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", NON_ROOT_PROBE, operation, str(inner)],
            capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        return probe.stdout

    yield run
    (tmp_path / "locked").chmod(0o755)


def test_local_exists_in_an_unreadable_folder_raises_for_a_real_non_root_user(as_nobody):
    assert as_nobody("exists").startswith("StorageError")


def test_local_listing_of_an_unreadable_folder_raises_for_a_real_non_root_user(as_nobody):
    assert as_nobody("list").startswith("StorageError")


# --------------------------------------------------------------------------
# luigi's target contract (after luigi's FileSystemTargetTestMixin)
# --------------------------------------------------------------------------



class TestLakeTargetContract:

    def test_missing_target_does_not_exist(self, backend):
        assert LakeTarget(backend.url("f.txt")).exists() is False

    def test_open_w_is_invisible_until_close(self, backend):
        target = LakeTarget(backend.url("f.txt"))
        handle = target.open("w")
        handle.write("hej\n")
        assert not target.exists()
        handle.close()
        assert target.exists()

    def test_leaving_with_open_w_publishes(self, backend):
        target = LakeTarget(backend.url("d", "f.txt"))
        with target.open("w") as handle:
            handle.write("hej\n")
        assert target.exists()
        assert backend.visible_files() == {backend.path("d", "f.txt")}

    def test_text_mode_round_trips_unicode(self, backend):
        target = LakeTarget(backend.url("f.txt"))
        with target.open("w") as handle:
            handle.write(UNICODE)
        with target.open("r") as handle:
            assert handle.read() == UNICODE

    def test_text_written_as_utf8(self, backend):
        target = LakeTarget(backend.url("f.txt"))
        with target.open("w") as handle:
            handle.write(UNICODE)
        assert target.read_bytes() == UNICODE.encode("utf-8")

    def test_binary_mode_round_trips_bytes(self, backend):
        target = LakeTarget(backend.url("f.bin"))
        with target.open("wb") as handle:
            handle.write(BINARY)
        with target.open("rb") as handle:
            assert handle.read() == BINARY

    def test_writelines_and_line_iteration(self, backend):
        target = LakeTarget(backend.url("f.txt"))
        with target.open("w") as handle:
            handle.writelines(["a\n", "b\n", "c\n"])
        with target.open("r") as handle:
            assert list(handle) == ["a\n", "b\n", "c\n"]

    def test_exception_inside_with_open_wb_publishes_nothing(self, backend):
        target = LakeTarget(backend.url("f.bin"))
        with pytest.raises(Boom):
            with target.open("wb") as handle:
                handle.write(BINARY)
                raise Boom()
        assert not target.exists()
        assert backend.all_files() == set()

    def test_exception_inside_with_open_w_publishes_nothing(self, backend):
        target = LakeTarget(backend.url("f.txt"))
        with pytest.raises(Boom):
            with target.open("w") as handle:
                handle.write("half a record")
                raise Boom()
        assert not target.exists()

    def test_temporary_path_publishes_only_when_the_block_succeeds(self, backend):
        target = LakeTarget(backend.url("d", "f.bin"))
        with target.temporary_path() as scratch:
            with open(scratch, "wb") as handle:
                handle.write(BINARY)
            assert not target.exists() and backend.all_files() == set()
        assert target.read_bytes() == BINARY
        assert backend.all_files() == {backend.path("d", "f.bin")}

    def test_temporary_path_that_raises_leaves_nothing_anywhere(self, backend):
        target = LakeTarget(backend.url("d", "f.bin"))
        with pytest.raises(Boom):
            with target.temporary_path() as scratch:
                with open(scratch, "wb") as handle:
                    handle.write(BINARY)
                raise Boom()
        assert backend.all_files() == set()
        assert not os.path.exists(scratch)

    def test_exception_inside_with_open_w_keeps_the_previous_content(self, backend):
        target = LakeTarget(backend.url("f.txt"))
        with target.open("w") as handle:
            handle.write("complete")
        with pytest.raises(Boom):
            with target.open("w") as handle:
                handle.write("half")
                raise Boom()
        assert target.open("r").read() == "complete"

    @pytest.mark.parametrize("mode", ["w", "wb"])
    def test_writer_dropped_without_close_publishes_nothing(self, backend, mode):
        target = LakeTarget(backend.url("f.txt"))

        def abandon():
            handle = target.open(mode)
            handle.write("stuff" if mode == "w" else b"stuff")

        abandon()
        gc.collect()
        assert not target.exists()

    def test_unsupported_mode_is_refused(self, backend):
        with pytest.raises(ValueError):
            LakeTarget(backend.url("f.txt")).open("a")

    def test_move_makes_the_source_absent_and_the_destination_present(self, backend):
        source, dest = LakeTarget(backend.url("a.txt")), LakeTarget(backend.url("b.txt"))
        source.write_bytes(b"x")
        source.fs.move(source.path, dest.path)
        assert (source.exists(), dest.exists()) == (False, True)
        assert dest.read_bytes() == b"x"

    def test_rename_dont_move_refuses_an_existing_destination(self, backend):
        source, dest = LakeTarget(backend.url("a.txt")), LakeTarget(backend.url("b.txt"))
        source.write_bytes(b"new")
        dest.write_bytes(b"old")
        with pytest.raises(luigi.target.FileAlreadyExists):
            source.fs.rename_dont_move(source.path, dest.path)
        assert dest.read_bytes() == b"old"


DECIMALS = [decimal.Decimal(v) for v in ("0.01", "19.99", "1234.50", "9999999999999999.99")]


class TestParquetTargetContract:

    def test_arrow_table_round_trips_with_its_schema(self, backend):
        table = pa.table({
            "so_number": pa.array(["SO-1", "SO-2", None]),
            "line": pa.array([1, 2, 3], pa.int32()),
            "qty": pa.array([5, 7, 11], pa.int64()),
            "unit_price": pa.array(DECIMALS[:3], pa.decimal128(18, 2)),
            "order_date": pa.array([dt.date(2026, 1, 27)] * 3, pa.date32()),
        })
        target = ParquetTarget(backend.url("t", "data.parquet"))
        target.write(table)
        assert target.read().equals(table)
        assert target.read().schema == table.schema

    def test_dataframe_decimals_round_trip_exactly(self, backend):
        frame = pd.DataFrame({"sku": ["A", "B", "C", "D"], "revenue": DECIMALS})
        target = ParquetTarget(backend.url("t", "data.parquet"))
        target.write(frame)
        back = target.read_pandas()
        assert list(back["revenue"]) == DECIMALS
        assert sum(back["revenue"]) == sum(DECIMALS)

    def test_dataframe_index_is_not_stored(self, backend):
        frame = pd.DataFrame({"x": [1, 2]}, index=[10, 20])
        target = ParquetTarget(backend.url("t", "data.parquet"))
        target.write(frame)
        assert target.read().column_names == ["x"]

    def test_read_decodes_only_the_requested_columns(self, backend):
        target = ParquetTarget(backend.url("t", "data.parquet"))
        target.write(pa.table({"a": [1], "b": ["x"], "c": [2.5]}))
        assert target.read(["c", "a"]).column_names == ["c", "a"]

    def test_num_rows_comes_from_the_footer(self, backend):
        target = ParquetTarget(backend.url("t", "data.parquet"))
        target.write(pa.table({"a": list(range(1234))}))
        assert target.num_rows() == 1234

    def test_empty_table_is_published_and_reads_back_empty(self, backend):
        schema = pa.schema([("reject_reason", pa.string())])
        target = ParquetTarget(backend.url("t", "data.parquet"))
        target.write(schema.empty_table())
        assert target.exists()
        assert target.read().num_rows == 0
        assert target.read().schema == schema

    def test_parquet_write_is_one_visible_file(self, backend):
        target = ParquetTarget(backend.url("t", "date=2026-01-27", "data.parquet"))
        target.write(pa.table({"a": [1]}))
        assert backend.all_files() == {backend.path("t", "date=2026-01-27", "data.parquet")}
