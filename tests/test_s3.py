"""The graph and the storage layer on S3, through the moto server over HTTP.

Landing and lake both live in a bucket; s3fs reaches the server only
through the standard ``AWS_ENDPOINT_URL``. Requests are counted from the
server's own request log (``s3_requests``), so "no write" means the server
received no PUT, POST or DELETE at all.
"""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from luigi.execution_summary import LuigiStatusCode

from etl_targets import GoldSO, GoldSOMTD
from etl_targets.lake import storage, writer
from etl_targets.errors import MissingBucket, StorageError

from support.env import etl_roots
from support.lakes import GOLD_TABLES, contract_paths
from support.landing import landing_name as erp_name
from support.s3 import heads, listings

pytestmark = pytest.mark.s3

DAY = dt.date(2026, 1, 27)
MONTH = [dt.date(2026, 1, d) for d in range(1, DAY.day + 1)]


def contract_keys(day: dt.date) -> set:
    return set(contract_paths(day).values())


def gold_tasks(lake_root: str, landing_root: str):
    return [GoldSO(date=DAY, lake_root=lake_root, landing_root=landing_root),
            GoldSOMTD(date=DAY, lake_root=lake_root, landing_root=landing_root)]


def ipc_bytes(table: pa.Table) -> bytes:
    """The decoded table as Arrow IPC bytes: equal bytes, equal schema and values."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return sink.getvalue().to_pybytes()


@pytest.fixture(scope="module")
def s3_lake(s3_module_env, s3fs_client, sample_landing, luigi_build):
    """GoldSO and GoldSOMTD of Jan 27 built with landing and lake in one bucket."""
    bucket = s3_module_env
    s3fs_client.put([str(sample_landing / "so" / erp_name(day)) for day in MONTH],
                    [f"{bucket}/landing/so/{erp_name(day)}" for day in MONTH])
    run = luigi_build(gold_tasks(f"s3://{bucket}/lake", f"s3://{bucket}/landing"))
    assert run.status == LuigiStatusCode.SUCCESS, run.result.summary_text
    return bucket


@pytest.fixture(scope="module")
def local_lake(tmp_path_factory, sample_landing, luigi_build):
    """The same day built on a local lake from the local sample landing."""
    lake = tmp_path_factory.mktemp("local") / "lake"
    run = luigi_build(gold_tasks(str(lake), str(sample_landing)))
    assert run.status == LuigiStatusCode.SUCCESS, run.result.summary_text
    return lake


# --------------------------------------------------------------------------
# the graph on S3
# --------------------------------------------------------------------------

@pytest.mark.parametrize("table", GOLD_TABLES)
def test_s3_build_publishes_the_same_gold_table_as_a_local_build(s3_lake, local_lake,
                                                                 s3fs_client, table):
    key = f"{s3_lake}/lake/gold/{table}/date={DAY.isoformat()}/data.parquet"
    with s3fs_client.open(key, "rb") as handle:
        on_s3 = pq.read_table(handle)
    on_disk = pq.read_table(local_lake / "gold" / table / f"date={DAY}" / "data.parquet")
    assert ipc_bytes(on_s3) == ipc_bytes(on_disk)


def test_s3_build_publishes_exactly_the_contract_keys(s3_lake, s3fs_client):
    keys = {k[len(f"{s3_lake}/lake/"):] for k in s3fs_client.find(f"{s3_lake}/lake")}
    expected = set().union(*(contract_keys(d) for d in MONTH))
    expected -= {k for d in MONTH[:-1] for k in contract_keys(d) if k.startswith("gold/")}
    assert {k for k in keys if not k.startswith("_ops/")} == expected


def test_s3_bronze_is_the_landing_object_byte_for_byte(s3_lake, s3fs_client):
    landed = s3fs_client.cat_file(f"{s3_lake}/landing/so/{erp_name(DAY)}")
    bronze = s3fs_client.cat_file(f"{s3_lake}/lake/bronze/so/date={DAY}/{erp_name(DAY)}")
    assert bronze == landed


def test_second_identical_run_on_s3_makes_no_write_request(s3_lake, luigi_build, s3_requests):
    luigi_build(gold_tasks(f"s3://{s3_lake}/lake", f"s3://{s3_lake}/landing"))
    assert s3_requests(), "the request log saw nothing: is it still being written?"
    assert s3_requests.writes() == []


def test_second_identical_run_on_s3_reports_the_tasks_already_done(s3_lake, luigi_build):
    again = luigi_build(gold_tasks(f"s3://{s3_lake}/lake", f"s3://{s3_lake}/landing"))
    assert again.ran == []
    assert again.complete_names() == ["GoldSO(2026-01-27)", "GoldSOMTD(2026-01-27)"]
    assert again.status == LuigiStatusCode.SUCCESS


@pytest.fixture
def cli_on_s3(s3_env, s3fs_client, sample_landing, monkeypatch, tmp_path):
    """``etl-targets`` in this process, on an empty S3 lake, the first week of the month landed."""
    from etl_targets.cli import main

    week = MONTH[:7]
    s3fs_client.put([str(sample_landing / "so" / erp_name(day)) for day in week],
                    [f"{s3_env}/landing/so/{erp_name(day)}" for day in week])
    for name, value in etl_roots(f"s3://{s3_env}/lake", f"s3://{s3_env}/landing",
                                 tmp_path / "logs").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ETL_ALERT_CMD", "")
    argv = ["so", "--start", week[0].isoformat(), "--end", week[-1].isoformat()]
    return lambda *more: main(argv + list(more)), len(week)


@pytest.mark.parametrize("workers", ["1", "3"])
def test_cold_cli_range_costs_a_landing_get_and_seven_puts_per_date(cli_on_s3, s3_requests,
                                                                     workers):
    """Bronze (file, manifest), silver, rejects, two gold tables, the date's run manifest;
    per run a few listings, the run record and the latest pointer. No HEAD: a file this
    build wrote or listed is known."""
    run, dates = cli_on_s3
    s3_requests.mark()
    assert run("--workers", workers) == 0
    made = s3_requests()
    puts = [path for method, path in made if method == "PUT"]
    gets = [path for method, path in made if method == "GET" and "list-type=2" not in path]
    assert heads(made) == [], made
    assert len(puts) == 7 * dates + 2 and len(gets) == dates, made
    assert len(listings(made)) <= 8, listings(made)


def test_rerun_of_a_complete_cli_range_is_five_requests(cli_on_s3, s3_requests):
    """Three listings (landing, both gold tables), the run record and the latest pointer."""
    run, _ = cli_on_s3
    assert run() == 0
    s3_requests.mark()
    assert run() == 0
    made = s3_requests()
    assert len(made) <= 5, made
    assert [path.split("/_ops/")[1].split("/")[0] for _, path in s3_requests.writes()] == [
        "runs", "latest"]


# --------------------------------------------------------------------------
# storage on S3: request economy and secrecy
# --------------------------------------------------------------------------

def test_list_files_is_one_list_request_for_a_whole_stage(s3_env, s3fs_client, s3_requests):
    for day in range(1, 4):
        s3fs_client.pipe(f"{s3_env}/silver/so/date=2026-01-0{day}/data.parquet", b"x")
    s3fs_client.pipe(f"{s3_env}/silver/so_rejects/date=2026-01-01/data.parquet", b"x")
    fs, prefix = storage.filesystem(f"s3://{s3_env}/silver/so")
    s3_requests.mark()
    assert len(storage.list_files(fs, prefix)) == 3
    assert [method for method, _ in s3_requests()] == ["GET"]
    assert "list-type=2" in s3_requests()[0][1]


def test_atomic_write_is_a_single_put_of_the_final_key(s3_env, s3_requests):
    fs, path = storage.filesystem(f"s3://{s3_env}/gold/t/date=2026-01-27/data.parquet")
    s3_requests.mark()
    writer.write_bytes(fs, path, b"x" * 1000)
    assert s3_requests.writes() == [("PUT", f"/{path}")]


def test_failed_write_sends_nothing_to_s3(s3_env, s3_requests):
    fs, path = storage.filesystem(f"s3://{s3_env}/gold/t/date=2026-01-27/data.parquet")
    s3_requests.mark()
    with pytest.raises(RuntimeError):
        with writer.atomic_writer(fs, path) as handle:
            handle.write(b"half")
            raise RuntimeError("crash mid-write")
    assert s3_requests() == []


def test_a_bucket_that_does_not_exist_is_an_error_never_absent(s3_env):
    fs, path = storage.filesystem(f"s3://{s3_env}-missing/lake/silver/so/x")
    for look in (storage.exists, storage.list_details, storage.read_bytes):
        with pytest.raises(MissingBucket, match=f"the bucket {s3_env}-missing does not exist"):
            look(fs, path)


def test_credential_error_never_shows_the_credentials(s3_invalid_credentials):
    fs, path = storage.filesystem(f"s3://{s3_invalid_credentials}/lake/silver/so/x")
    with pytest.raises(StorageError) as raised:
        storage.exists(fs, path)
    message = str(raised.value)
    assert os.environ["AWS_ACCESS_KEY_ID"] not in message
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in message


@pytest.mark.parametrize("command", [
    ["status", "so", "--date", "2026-01-27"],
    ["freshness", "--dataset", "so", "--expect", "2026-01-27"],
    ["runs"],
    ["invalidate", "so", "--date", "2026-01-27"],
    ["so", "--date", "2026-01-27", "--dry-run"],
    ["so", "--date", "2026-01-27"],
], ids=["status", "freshness", "runs", "invalidate", "dry-run", "build"])
def test_a_lake_root_naming_a_bucket_that_does_not_exist_is_a_configuration_error(
        s3_env, sample_landing, tmp_path, monkeypatch, capsys, command):
    """Never "missing", "no runs" or "nothing to invalidate": a typo in the bucket, another
    account or endpoint, is exit 3 naming the bucket, before anything is built."""
    from etl_targets.cli import main

    missing = f"{s3_env}-typo"
    for name, value in etl_roots(f"s3://{missing}/lake", str(sample_landing),
                                 tmp_path / "logs").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ETL_ALERT_CMD", "")
    assert main(command) == 3
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors and all(f"the bucket {missing} does not exist" in line for line in errors), errors
