"""Bulk completeness: existence of many dates answered by one listing per prefix.

Issue 4, item 1. ``GoldSO.bulk_complete(dates)`` (what Luigi's range tools
call) and ``complete()`` during one ``etl_targets.graph.runner.build`` must answer
for any number of dates with one recursive listing of each output prefix --
no per-date ``HEAD`` on S3 -- and:

* a listing that fails is an error (``StorageError``), never "absent";
* what a build learned from its listings is never trusted by a later build:
  a file deleted (or written) by someone else in between is seen.

On S3 the evidence is the moto server's own request log: a ListObjectsV2 is
``GET /<bucket>?list-type=2&prefix=...``, an existence check ``HEAD /<bucket>/<key>``.
"""

import datetime as dt
import functools
import os

import fsspec
import pytest

from etl_targets import GoldSO, GoldSOMTD, SilverSO
from etl_targets.datasets.samples import so as sample
from etl_targets.graph import runner
from etl_targets.errors import StorageError

from support.cli import etl_argv, run_command
from support.lakes import partition
from support.paths import LUIGI_CFG
from support.s3 import broken_aws, heads, listed_prefixes, listings

JAN = [dt.date(2026, 1, day) for day in range(1, 32)]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def touch_outputs(fs, lake: str, table: str, days) -> None:
    """Puts a file where the contract says ``table``'s output for each day lives.

    Existence *is* completion, so for bulk_complete a placeholder is as good
    as a real Parquet file.
    """
    for day in days:
        fs.pipe(f"{lake}/{table}/{partition(day)}/data.parquet", b"placeholder")


def build_gold(days):
    """One ``runner.build`` of every gold table (as the CLI asks) for ``days``."""
    tasks = [cls(date=day) for day in days for cls in (GoldSO, GoldSOMTD)]
    outcome = runner.build(tasks)
    assert not outcome.failures and not outcome.missing, (outcome.failures, outcome.missing)
    return outcome


def ran_names(outcome, family=None):
    return sorted(f"{t.task_family}({t.date})" for t in outcome.ran
                  if family in (None, t.task_family))


@pytest.fixture
def sample_lake(monkeypatch, sample_landing, tmp_lake):
    """Configuration reads the shipped sample month, writes a fresh local lake."""
    monkeypatch.setenv("ETL_LANDING_ROOT", str(sample_landing))
    return tmp_lake


@pytest.fixture
def s3_lake(s3_env, monkeypatch):
    """``s3://<fresh bucket>/lake`` as the configured lake (local landing)."""
    url = f"s3://{s3_env}/lake"
    monkeypatch.setenv("ETL_LAKE_ROOT", url)
    return url


# --------------------------------------------------------------------------
# exactly the dates whose outputs exist
# --------------------------------------------------------------------------

def test_bulk_complete_returns_exactly_the_dates_whose_outputs_exist(sample_lake, luigi_build):
    silver_days = [JAN[1], JAN[2], JAN[4], JAN[9]]
    gold_days = [JAN[1], JAN[9]]
    result = luigi_build([SilverSO(date=d) for d in silver_days] + [GoldSO(date=d) for d in gold_days])
    assert not result.failed and not result.missing

    asked = JAN[:12]
    assert sorted(GoldSO.bulk_complete(asked)) == gold_days
    assert sorted(SilverSO.bulk_complete(asked)) == silver_days


def test_bulk_complete_of_an_empty_lake_is_empty(sample_lake):
    assert list(GoldSO.bulk_complete(JAN)) == []
    assert list(SilverSO.bulk_complete(JAN)) == []


def test_bulk_complete_accepts_what_luigis_range_tools_pass(sample_lake, tmp_path, luigi_build):
    """RangeDaily calls ``bulk_complete.__func__(functools.partial(cls, **of_params), map(...))``."""
    other_lake = tmp_path / "other-lake"
    luigi_build([GoldSO(date=JAN[3], lake_root=str(other_lake))])

    of_params = functools.partial(GoldSO, lake_root=str(other_lake))
    answer = GoldSO.bulk_complete.__func__(of_params, map(lambda d: d, JAN[:7]))
    assert sorted(answer) == [JAN[3]]
    # ...and the configured lake, which has nothing, is not what it looked at.
    assert list(GoldSO.bulk_complete(JAN[:7])) == []


def test_a_silver_file_without_its_rejects_is_not_complete(sample_lake, luigi_build):
    """SilverSO has two outputs; both must exist (rejects are written first, silver last)."""
    luigi_build([SilverSO(date=JAN[0]), SilverSO(date=JAN[1])])
    fs = fsspec.filesystem("file")
    fs.rm(str(sample_lake / "silver" / "so_rejects" / partition(JAN[1])), recursive=True)

    assert sorted(SilverSO.bulk_complete(JAN[:3])) == [JAN[0]]


# --------------------------------------------------------------------------
# one listing per output prefix on S3, no HEAD per date
# --------------------------------------------------------------------------

@pytest.mark.s3
def test_gold_bulk_complete_on_s3_is_one_listing_and_no_head(s3_lake, s3_requests, s3fs_client):
    fs = s3fs_client
    present = JAN[0:31:3]
    touch_outputs(fs, s3_lake, "gold/so_daily_sales", present)
    # a neighbouring table's files must not be mistaken for this one's
    touch_outputs(fs, s3_lake, "gold/so_mtd_by_region", JAN)

    s3_requests.mark()
    answer = GoldSO.bulk_complete(JAN)
    requests = s3_requests()

    assert sorted(answer) == present
    assert len(listings(requests)) == 1, requests
    assert heads(requests) == []
    assert all(p.startswith(s3_lake.split("/", 3)[3] + "/gold/so_daily_sales")
               for p in listed_prefixes(requests)), listed_prefixes(requests)
    assert len(requests) == 1, requests


@pytest.mark.s3
def test_silver_bulk_complete_on_s3_is_one_listing_per_output_prefix(s3_lake, s3_requests,
                                                                      s3fs_client):
    """Silver has two outputs (silver and rejects): two prefixes, two listings, whatever the date count."""
    fs = s3fs_client
    touch_outputs(fs, s3_lake, "silver/so", JAN[:20])
    touch_outputs(fs, s3_lake, "silver/so_rejects", JAN[5:25])

    s3_requests.mark()
    assert sorted(SilverSO.bulk_complete(JAN)) == JAN[5:20]
    many = s3_requests()
    s3_requests.mark()
    assert sorted(SilverSO.bulk_complete(JAN[4:7])) == JAN[5:7]
    few = s3_requests()

    for requests in (many, few):
        assert heads(requests) == [], requests
        assert len(listings(requests)) <= 2, requests
        assert len(requests) == len(listings(requests)), requests


@pytest.mark.s3
def test_bulk_complete_never_lists_more_than_the_output_prefix(s3_lake, s3_requests, s3fs_client):
    """A lake with many other files (other stages, other tables) costs no extra listing pages."""
    fs = s3fs_client
    touch_outputs(fs, s3_lake, "gold/so_daily_sales", JAN[:2])
    for table in ("silver/so", "silver/so_rejects", "gold/so_mtd_by_region", "bronze/so"):
        touch_outputs(fs, s3_lake, table, JAN)

    s3_requests.mark()
    assert sorted(GoldSO.bulk_complete(JAN)) == JAN[:2]
    assert len(listings(s3_requests())) == 1


# --------------------------------------------------------------------------
# a listing failure is an error, never "absent"
# --------------------------------------------------------------------------

#: A key pair the auth-checking server never issued, the secret spelled for the test to look for.
REVOKED = {"AWS_ACCESS_KEY_ID": "AKIAREVOKEDREVOKED00",
           "AWS_SECRET_ACCESS_KEY": "revoked-secret-revoked-secret"}


@pytest.fixture
def unreachable_s3(s3_unreachable, monkeypatch):
    """The configured lake is in S3 at a loopback port where nothing listens."""
    monkeypatch.setenv("ETL_LAKE_ROOT", f"s3://{s3_unreachable}/lake")


@pytest.fixture
def rejected_credentials(moto_server_with_auth, monkeypatch):
    """The configured lake is on an S3 server that refuses our (invented) key."""
    with broken_aws(monkeypatch, moto_server_with_auth.endpoint, **REVOKED):
        monkeypatch.setenv("ETL_LAKE_ROOT", "s3://guarded/lake")
        yield


@pytest.mark.s3
@pytest.mark.parametrize("task", [GoldSO, SilverSO])
def test_bulk_complete_with_rejected_credentials_is_an_error(rejected_credentials, task):
    with pytest.raises(StorageError) as raised:
        task.bulk_complete(JAN[:5])
    assert "revoked-secret" not in str(raised.value)


@pytest.mark.s3
def test_bulk_complete_with_an_unreachable_store_is_an_error(unreachable_s3):
    with pytest.raises(StorageError):
        GoldSO.bulk_complete(JAN[:5])


@pytest.mark.s3
def test_a_build_whose_listing_fails_is_an_error_before_anything_runs(rejected_credentials,
                                                                      sample_landing, monkeypatch):
    """The build's first listing raises: nothing is scheduled as "missing" and rebuilt."""
    monkeypatch.setenv("ETL_LANDING_ROOT", str(sample_landing))
    with pytest.raises(StorageError):
        runner.build([GoldSO(date=JAN[0])])


# --------------------------------------------------------------------------
# a no-op rerun through runner.build on S3
# --------------------------------------------------------------------------

@pytest.fixture
def s3_generated_landing(s3_env, s3fs_client, monkeypatch, tmp_path):
    """20 generated days (2026-01-01..20) in ``s3://bucket/landing/so``; lake in the same bucket."""
    local = tmp_path / "generated"
    sample.generate(JAN[0], 20, 15, local, seed=4, mess=sample.Messiness(invalid=0.0))
    s3fs_client.put(str(local / "so") + "/", f"{s3_env}/landing/so/", recursive=True)
    monkeypatch.setenv("ETL_LANDING_ROOT", f"s3://{s3_env}/landing")
    monkeypatch.setenv("ETL_LAKE_ROOT", f"s3://{s3_env}/lake")
    return s3_env


@pytest.mark.s3
def test_noop_rerun_on_s3_makes_a_handful_of_listings_and_no_head(s3_generated_landing, s3_requests):
    days = JAN[:20]
    first = build_gold(days)
    assert len(first.ran) == 20 * 4  # bronze, silver, daily and month-to-date gold

    s3_requests.mark()
    again = build_gold(days)
    requests = s3_requests()

    assert again.ran == [] and not again.failures
    assert heads(requests) == [], heads(requests)[:5]
    assert s3_requests.writes() == []
    assert len(listings(requests)) <= 4, listed_prefixes(requests)
    assert len(requests) <= 6, requests


@pytest.mark.s3
def test_catch_up_on_s3_checks_existence_without_head(s3_generated_landing, s3_requests):
    """One new date after many built: still no HEAD per date while scheduling."""
    build_gold(JAN[:15])

    s3_requests.mark()
    outcome = build_gold(JAN[:16])
    requests = s3_requests()

    assert ran_names(outcome) == sorted(f"{f}({JAN[15]})" for f in
                                        ("BronzeSO", "SilverSO", "GoldSO", "GoldSOMTD"))
    # Existence is answered by listings. (s3fs may HEAD an object right before
    # GETting it to learn its size: that is a read, not an existence check.)
    read = {path for method, path in requests if method == "GET"}
    existence_checks = [path for path in heads(requests) if path not in read]
    assert existence_checks == [], existence_checks
    assert len(listings(requests)) <= 6, listed_prefixes(requests)


# --------------------------------------------------------------------------
# never trusted across builds
# --------------------------------------------------------------------------

def test_a_build_sees_a_file_deleted_after_the_previous_build(sample_lake):
    days = JAN[:4]
    build_gold(days)
    victim = sample_lake / "gold" / "so_daily_sales" / partition(JAN[2]) / "data.parquet"
    before = victim.read_bytes()
    fsspec.filesystem("file").rm(str(victim))

    again = build_gold(days)

    assert ran_names(again) == [f"GoldSO({JAN[2]})"]
    assert victim.read_bytes() == before


@pytest.mark.s3
def test_a_build_on_s3_sees_a_file_deleted_after_the_previous_build(s3_generated_landing, s3_lake,
                                                                    s3fs_client):
    days = JAN[:3]
    build_gold(days)
    victim = f"{s3_lake}/gold/so_mtd_by_region/{partition(JAN[1])}/data.parquet"
    fsspec.filesystem("s3", skip_instance_cache=True).rm(victim)

    again = build_gold(days)

    assert ran_names(again) == [f"GoldSOMTD({JAN[1]})"]
    assert s3fs_client.exists(victim)


def test_a_build_sees_files_another_process_wrote_after_the_previous_build(sample_lake, tmp_path):
    """First build: date 5 is absent. Another process builds it. Second build: nothing to do."""
    build_gold(JAN[:4])
    assert list(GoldSO.bulk_complete([JAN[4]])) == []

    env = {**os.environ, "LUIGI_CONFIG_PATH": str(LUIGI_CFG)}
    done = run_command(etl_argv("so", "--date", JAN[4].isoformat()), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    again = build_gold(JAN[:5])
    assert again.ran == []
    assert list(GoldSO.bulk_complete([JAN[4]])) == [JAN[4]]


def test_each_build_has_its_own_session_and_lists_each_prefix_once(sample_lake):
    days = JAN[:6]
    first = build_gold(days)
    second = build_gold(days)

    assert first.context is not second.context
    assert second.ran == []
    # gold daily, gold month-to-date: one listing each, whatever the number of dates
    assert second.context.listing_count <= 2

