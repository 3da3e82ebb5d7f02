"""Storage errors are never "absent", and each is one error naming the path (issue 9, item 6).

Library-level: the storage functions, the build context, the runner, the
log file, gold aggregation and the CSV header reader, each given the fault
itself - a folder a real non-root user may not read (run as ``nobody``
through ``setpriv``), a tiny ``tmpfs`` that fills up, an HTTP port nobody
listens on, a filesystem that refuses one folder's listing. The same faults
as subprocess runs of both commands are in ``test_bad_input_corpus.py``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import errno
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import fsspec
import pyarrow as pa
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from etl_targets.cli import exitcodes
from etl_targets.cli.logfile import run_log
from etl_targets.datasets import DATASETS
from etl_targets.datasets.gold import aggregate, month_to_date
from etl_targets.datasets.silver import read_silver
from etl_targets.errors import ConfigError, ContractError, StorageError
from etl_targets.formats import read_csv_header
from etl_targets.lake import context, storage, writer
from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing, landing_name
from support.lakes import run_records
from support.paths import SAMPLE_SO
from support.servers import free_port

SO = DATASETS["so"]
JAN_1 = dt.date(2026, 1, 1)
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


# --------------------------------------------------------------------------
# helpers: a real non-root user, filesystems that fail in one place
# --------------------------------------------------------------------------

def needs_nobody() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as user nobody")


@pytest.fixture
def open_dir():
    """A folder every user may enter (pytest's own temp root is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="etl-storage-errors-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


LISTING_PROBE = """
import sys
from etl_targets.lake import storage
from etl_targets.errors import StorageError
fs, prefix = storage.filesystem(sys.argv[1])
try:
    print("answered", sorted(storage.list_files(fs, prefix)))
except StorageError as exc:
    print("StorageError", exc)
"""


def as_nobody(*argv: str) -> str:
    probe = subprocess.run([*NOBODY, *argv], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    return probe.stdout.strip()


class _OwnMemory(MemoryFileSystem):
    """``memory://`` under a protocol of its own (the store is shared: paths are unique)."""

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(str(path).replace(f"{cls.protocol}://", "memory://", 1))


class RefusingMemory(_OwnMemory):
    """Storage that refuses to list any folder named ``refused`` (and below it), as S3
    refuses ``ListObjectsV2`` to a key without ``s3:ListBucket``."""

    protocol = "refusingmem"

    def ls(self, path, detail=True, **kwargs):
        self._refuse(path)
        return super().ls(path, detail=detail, **kwargs)

    def find(self, path, *args, **kwargs):
        self._refuse(path)
        return super().find(path, *args, **kwargs)

    def _refuse(self, path):
        if "/refused" in self._strip_protocol(path):
            raise PermissionError(errno.EACCES, "Permission denied", path)


class FullMemory(_OwnMemory):
    """Storage on a full device: every write fails with ENOSPC."""

    protocol = "fullmem"

    def pipe_file(self, path, value, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")


fsspec.register_implementation(RefusingMemory.protocol, RefusingMemory, clobber=True)
fsspec.register_implementation(FullMemory.protocol, FullMemory, clobber=True)


def memory_root(protocol: str) -> str:
    return f"{protocol}:///etl-{uuid.uuid4().hex}"


@pytest.fixture
def tiny_tmpfs(open_dir):
    """A 64 KiB tmpfs mounted at a folder (root only): the disk that fills up."""
    mount = open_dir / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


# --------------------------------------------------------------------------
# a folder that cannot be listed is an error, never "empty"
# --------------------------------------------------------------------------

def test_listing_a_stage_with_an_unreadable_date_folder_raises_for_a_real_non_root_user(open_dir):
    needs_nobody()
    stage = open_dir / "lake" / "silver" / "so"
    for day in ("date=2026-01-04", "date=2026-01-05"):
        (stage / day).mkdir(parents=True)
        (stage / day / "data.parquet").write_bytes(b"x")
    (stage / "date=2026-01-05").chmod(0)
    answer = as_nobody(sys.executable, "-c", LISTING_PROBE, str(stage))
    assert answer.startswith("StorageError"), answer
    assert "date=2026-01-05" in answer and "Permission denied" in answer, answer


def test_listing_raises_when_a_subfolder_refuses_even_off_the_local_disk():
    root = memory_root(RefusingMemory.protocol)
    fs, path = storage.filesystem(root)
    writer.write_bytes(fs, storage.join(path, "silver/so/date=2026-01-04/data.parquet"), b"x")
    writer.write_bytes(fs, storage.join(path, "silver/so/refused/data.parquet"), b"x")
    with pytest.raises(StorageError, match="refused"):
        storage.list_details(fs, storage.join(path, "silver/so"))


def test_listing_of_a_missing_prefix_is_still_empty():
    fs, path = storage.filesystem(memory_root(RefusingMemory.protocol))
    assert storage.list_details(fs, storage.join(path, "silver/so")) == {}


def test_existence_answered_by_a_failed_listing_names_the_file_asked_about():
    area = context.Area(memory_root(RefusingMemory.protocol))
    prefix = area.join("refused")
    with pytest.raises(StorageError) as raised:
        context.BuildContext().exists(area, area.join("refused", "zheSO-2026-1-1.csv"), prefix)
    assert "zheSO-2026-1-1.csv" in str(raised.value) and "Permission denied" in str(raised.value)


def test_a_landing_folder_that_cannot_be_listed_fails_the_run_with_exit_5_naming_the_file(
        tmp_path, monkeypatch, capsys):
    """luigi catches what LandingSO.complete() raises and says only "failed scheduling" (exit 6)."""
    from etl_targets.cli import main

    landing = memory_root(RefusingMemory.protocol)
    fs, path = storage.filesystem(landing)
    writer.write_bytes(fs, storage.join(path, "refused", "so", landing_name(JAN_1)),
                       (SAMPLE_SO / landing_name(JAN_1)).read_bytes())
    monkeypatch.setenv("ETL_LANDING_ROOT", f"{landing}/refused")
    code = main(["so", "--date", JAN_1.isoformat()])
    err = capsys.readouterr().err
    assert code == exitcodes.TASK_FAILED, err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert landing_name(JAN_1) in line and "Permission denied" in line, err
    (record,) = run_records(tmp_path / "lake")
    assert record["exit_code"] == 5 and landing_name(JAN_1) in record["error"]


# --------------------------------------------------------------------------
# HTTP: a refused connection or a server error is not "file not found"
# --------------------------------------------------------------------------

class _Files(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        status = {"/x.csv": 200, "/broken.csv": 500}.get(self.path, 404)
        data = b"a,b\n1,2\n" if status == 200 else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_files():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_file_on_a_port_nobody_listens_on_is_a_storage_error():
    fs, path = storage.filesystem(f"http://127.0.0.1:{free_port()}/x.csv")
    with pytest.raises(StorageError, match="Cannot connect"):
        storage.exists(fs, path)


def test_http_server_error_is_a_storage_error(http_files):
    fs, path = storage.filesystem(f"{http_files}/broken.csv")
    with pytest.raises(StorageError, match="500"):
        storage.exists(fs, path)


def test_http_404_is_absent_and_200_present(http_files):
    fs, _ = storage.filesystem(http_files)
    assert storage.exists(fs, f"{http_files}/missing.csv") is False
    assert storage.exists(fs, f"{http_files}/x.csv") is True


# --------------------------------------------------------------------------
# writes: a folder that is not writable, a full disk
# --------------------------------------------------------------------------

def test_local_write_below_something_that_is_not_a_folder_is_a_storage_error_naming_it(tmp_path):
    (tmp_path / "blocker").write_bytes(b"not a folder")
    target = tmp_path / "blocker" / "lake" / "bronze" / "f.csv"
    fs, _ = storage.filesystem(str(tmp_path))
    with pytest.raises(StorageError) as raised:
        writer.write_bytes(fs, str(target), b"x")
    assert str(target) in str(raised.value)


WRITE_PROBE = """
import sys
from etl_targets.lake import storage, writer
from etl_targets.errors import StorageError
fs, path = storage.filesystem(sys.argv[1])
try:
    writer.write_bytes(fs, path, b"x")
    print("written")
except StorageError as exc:
    print("StorageError", exc)
"""


def test_local_write_into_a_folder_a_real_user_may_not_write_is_a_storage_error(open_dir):
    needs_nobody()
    (open_dir / "lake").mkdir()  # root's, mode 755
    target = open_dir / "lake" / "bronze" / "so" / "f.csv"
    answer = as_nobody(sys.executable, "-c", WRITE_PROBE, str(target))
    assert answer.startswith("StorageError") and str(target) in answer, answer
    assert "Permission denied" in answer, answer


def test_local_write_on_a_full_disk_names_the_file_and_leaves_nothing(tiny_tmpfs):
    target = tiny_tmpfs / "bronze" / "f.csv"
    fs, _ = storage.filesystem(str(tiny_tmpfs))
    with pytest.raises(StorageError) as raised:
        writer.write_bytes(fs, str(target), b"x" * (1 << 20))
    assert str(target) in str(raised.value) and "No space left" in str(raised.value)
    assert [p for p in tiny_tmpfs.rglob("*") if p.is_file()] == []


def test_streamed_write_on_a_full_device_names_the_file():
    fs, root = storage.filesystem(memory_root(FullMemory.protocol))
    with pytest.raises(StorageError, match="No space left") as raised:
        writer.write_bytes(fs, storage.join(root, "f.csv"), b"x")
    assert "f.csv" in str(raised.value)


def test_a_log_folder_that_cannot_be_made_yields_a_config_error_naming_it(tmp_path):
    (tmp_path / "logs").write_bytes(b"a file where the log folder should be")
    path = str(tmp_path / "logs" / "so" / "so-2026-01-01.log")
    with run_log(path, "run-1") as error:
        assert isinstance(error, ConfigError)
        assert path in str(error)


def test_a_log_folder_that_cannot_be_made_fails_the_run_with_one_line_exit_3_and_a_record(
        tmp_path):
    (tmp_path / "landing" / "so").mkdir(parents=True)
    copy_landing(tmp_path / "landing", JAN_1)
    (tmp_path / "logs").write_bytes(b"a file where the log folder should be")
    (tmp_path / "cwd").mkdir()
    env = cli_environment(tmp_path / "lake", tmp_path / "landing", tmp_path / "logs")
    run = Run.of(run_command(etl_argv("so", "--date", "2026-01-01"), cwd=tmp_path / "cwd",
                             env=env))
    assert run.code == exitcodes.CONFIG_ERROR, str(run)
    assert "Traceback" not in run.output, str(run)
    first = [x for x in run.stderr.splitlines() if x.startswith("error:")][0]
    assert str(tmp_path / "logs" / "so" / "so-2026-01-01.log") in first, str(run)
    (record,) = run_records(tmp_path / "lake")
    assert record["status"] == "failure" and record["error"] == first[len("error: "):]
    assert not (tmp_path / "lake" / "bronze").exists()  # nothing ran without its log


# --------------------------------------------------------------------------
# credentials in a URL
# --------------------------------------------------------------------------

KEY, SECRET = "AKIAURLKEYEXAMPLE", "url/secret+never-print"
QUOTED_SECRET = "url%2Fsecret%2Bnever-print"


def test_s3_url_credentials_go_to_s3fs_and_never_into_the_path():
    fs, path = storage.filesystem(f"s3://{KEY}:{QUOTED_SECRET}@bucket-x/lake")
    assert path == "bucket-x/lake"
    assert (fs.key, fs.secret) == (KEY, SECRET)
    assert storage.location(fs, path) == "s3://bucket-x/lake"


def test_a_secret_seen_in_a_url_is_redacted_from_any_later_message():
    storage.filesystem(f"s3://{KEY}:{QUOTED_SECRET}@bucket-y/lake")
    message = f'Invalid bucket name "{KEY}:{QUOTED_SECRET}@bucket-y": key {KEY} secret {SECRET}'
    shown = storage.redact(message)
    assert SECRET not in shown and QUOTED_SECRET not in shown and KEY not in shown, shown


def test_an_s3_secret_whose_slash_is_not_percent_encoded_is_understood_and_never_shown():
    raw = f"s3://{KEY}:{SECRET}@bucket-z/lake"  # SECRET holds a "/" and a "+", as written
    fs, path = storage.filesystem(raw)
    assert (path, fs.key, fs.secret) == ("bucket-z/lake", KEY, SECRET)
    for text in (raw, f"error: cannot check {raw}: Invalid bucket name"):
        shown = storage.redact(text)
        assert KEY not in shown and SECRET not in shown and "url/" not in shown, shown


def test_redaction_keeps_a_url_without_credentials_as_it_is():
    for url in ("s3://bucket/lake/a:b@c", "s3://bucket/lake", "/data/lake", "https://h/x?page=2"):
        assert storage.redact(url) == url


@pytest.fixture
def silent_endpoint():
    """A TCP port that accepts connections and never answers (a hung S3 endpoint)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_an_s3_endpoint_that_never_answers_is_a_storage_error_not_a_hang(silent_endpoint,
                                                                         monkeypatch):
    """The S3 client's timeouts and retries come from storage.S3_OPTIONS (shortened here)."""
    monkeypatch.setattr(storage, "S3_OPTIONS", {"config_kwargs": {
        "connect_timeout": 1, "read_timeout": 0.5, "retries": {"max_attempts": 1}}})
    monkeypatch.setattr(storage, "S3FS_RETRIES", 1)
    for name, value in {"AWS_ENDPOINT_URL": silent_endpoint, "AWS_ACCESS_KEY_ID": "x",
                        "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    fs, path = storage.filesystem(f"s3://hung-{uuid.uuid4().hex[:8]}/lake/silver/so")
    assert fs.retries == 1
    with pytest.raises(StorageError, match=f"cannot list s3://{path}: .*[Tt]imeout"):
        storage.list_details(fs, path)


def test_task_ids_and_names_never_carry_url_credentials():
    from etl_targets.graph.registry import TASKS

    task = TASKS["GoldSO"](date=JAN_1, lake_root=f"s3://{KEY}:{QUOTED_SECRET}@b/lake",
                           landing_root=f"s3://{KEY}:{QUOTED_SECRET}@b/landing")
    for text in (task.task_id, str(task), repr(task), json.dumps(task.to_str_params())):
        assert QUOTED_SECRET not in text and KEY not in text, text


# --------------------------------------------------------------------------
# a landing file that is a link out of the landing root
# --------------------------------------------------------------------------

def test_a_landing_link_to_a_file_outside_the_landing_root_is_refused_naming_it(tmp_path):
    (tmp_path / "landing" / "so").mkdir(parents=True)
    (tmp_path / "outside.csv").write_bytes(b"secret")
    link = tmp_path / "landing" / "so" / landing_name(JAN_1)
    link.symlink_to(tmp_path / "outside.csv")
    fs, root = storage.filesystem(str(tmp_path / "landing"))
    with pytest.raises(StorageError) as raised:
        storage.check_inside(fs, str(link), root)
    assert str(link) in str(raised.value) and "outside" in str(raised.value)


def test_a_landing_link_within_the_landing_root_is_fine(tmp_path):
    (tmp_path / "landing" / "so").mkdir(parents=True)
    (tmp_path / "landing" / "archive.csv").write_bytes(b"a,b\n")
    link = tmp_path / "landing" / "so" / landing_name(JAN_1)
    link.symlink_to(tmp_path / "landing" / "archive.csv")
    fs, root = storage.filesystem(str(tmp_path / "landing"))
    storage.check_inside(fs, str(link), root)


def test_a_file_named_on_its_own_is_its_own_root_even_through_a_link(tmp_path):
    (tmp_path / "real.csv").write_bytes(b"a,b\n")
    (tmp_path / "named.csv").symlink_to(tmp_path / "real.csv")
    fs, path = storage.filesystem(str(tmp_path / "named.csv"))
    storage.check_inside(fs, path, path)


# --------------------------------------------------------------------------
# a gold sum too large for its type
# --------------------------------------------------------------------------

def silver_rows(amounts, region="West", sku="SKU-1") -> pa.Table:
    rows = [{"so_number": f"SO-{i}", "line": 1, "order_date": JAN_1, "customer_id": "C1",
             "customer_name": None, "region": region, "sku": sku, "qty": 1,
             "unit_price": decimal.Decimal(a), "currency": "USD", "status": "OPEN",
             "last_modified": dt.datetime(2026, 1, 1, 10), "line_amount": decimal.Decimal(a)}
            for i, a in enumerate(amounts)]
    return pa.Table.from_pylist(rows, schema=SO.silver_schema)


HUGE = "9000000000000000.00"  # fits decimal(18, 2); two of them do not


def test_a_daily_sum_too_large_for_decimal_18_2_names_table_date_and_group():
    daily = next(t for t in SO.gold if t.name == "so_daily_sales")
    with pytest.raises(ContractError) as raised:
        aggregate(SO, daily, silver_rows([HUGE, HUGE]), dt.date(2026, 1, 5))
    text = str(raised.value)
    assert text.startswith("gold so_daily_sales for 2026-01-05: revenue"), text
    assert "region=West, sku=SKU-1, currency=USD" in text and "decimal128(18, 2)" in text, text
    assert "\n" not in text


def test_a_month_to_date_sum_too_large_names_its_group():
    mtd = next(t for t in SO.gold if t.name == "so_mtd_by_region")
    days = [(JAN_1, silver_rows([HUGE])), (dt.date(2026, 1, 2), silver_rows([HUGE]).set_column(
        0, "so_number", pa.array(["SO-other"])))]
    with pytest.raises(ContractError, match=r"so_mtd_by_region for 2026-01-02: revenue of group "
                                            r"\(region=West, currency=USD\)"):
        month_to_date(SO, mtd, days)


# --------------------------------------------------------------------------
# legal CSV with a very long header
# --------------------------------------------------------------------------

CONTRACT_HEADER = ["SO Number", "Line", "Order Date", "Customer ID", "Customer Name", "Region",
                   "SKU", "Qty", "Unit Price", "Currency", "Status", "Last Modified"]
ROW = ["SO-1", "1", "01/27/2026", "C1", "Acme", "West", "SKU-1", "2", "19.99", "USD", "OPEN",
       "2026-01-27 10:00:00"]


def csv_with_extras(extra_names) -> bytes:
    header = ",".join(CONTRACT_HEADER + list(extra_names))
    rows = [",".join([f"SO-{i}"] + ROW[1:] + [""] * len(extra_names)) for i in range(40)]
    return (header + "\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("extras", [
    pytest.param([f"Extra {i} " + "x" * 200_000 for i in range(11)], id="2-MB-header-line"),
    pytest.param(["Note " + "y" * 200_000], id="200-KB-header-field"),
])
def test_a_legal_very_long_header_is_read_not_refused(extras):
    data = csv_with_extras(extras)
    handle = io.BytesIO(data)
    names = read_csv_header(handle, "zheSO-2026-1-27.csv")
    assert names == CONTRACT_HEADER + extras
    assert handle.read().startswith(b"SO-0,1,")
    result = read_silver(SO, io.BytesIO(data), "zheSO-2026-1-27.csv")
    assert (result.silver.num_rows, result.rejects.num_rows) == (40, 0)
    assert len(result.extra_columns) == len(extras)
