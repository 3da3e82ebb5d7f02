"""S3 concurrency: worker threads and processes, and many reads at once.

Issue 12, items 2 and 3. ``--workers N`` on an S3 lake. The plain ``luigi``
command forks one process per task when ``--workers`` is above one, and each
opens its own s3fs client (one made before the fork refuses to work in the
child: "This class is not fork-safe"). ``etl-targets --workers N`` runs its
tasks in threads of one process instead, sharing the build context and one
client: it makes exactly the requests of ``--workers 1``. Each command here
runs as a subprocess against the moto S3 server (``AWS_ENDPOINT_URL``), with
the landing files in the same bucket: reading landing and silver, writing
bronze, silver, gold and the failure markers, and the listings. Their gold
must equal a ``--workers 1`` build of the same dates, compared as decoded
tables.

``BuildContext.prefetch_reads`` fetches a month's silver files at once
before month-to-date reads them: the same requests (one GET per file, no
HEAD), and the reads that follow make none.
"""

import collections
import datetime as dt
import io
import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_targets import SilverSO
from etl_targets.datasets.samples import so as sample
from etl_targets.lake import context

from support.cli import etl_argv, explain, luigi_argv, run_command
from support.env import cli_environment
from support.lakes import GOLD_TABLES, partition
from support.s3 import heads, listings

pytestmark = pytest.mark.s3

START = dt.date(2026, 1, 1)
DAYS = [START + dt.timedelta(days=k) for k in range(6)]
END = DAYS[-1]
FORK_ERROR = "not fork-safe"


def gold(fs, lake: str, table: str, day: dt.date) -> pa.Table:
    """One gold file of an S3 lake, decoded."""
    data = fs.cat_file(f"{lake}/gold/{table}/{partition(day)}/data.parquet")
    return pq.read_table(io.BytesIO(data))


@pytest.fixture(scope="module")
def _builds():
    return {}


@pytest.fixture
def lakes(request, _builds):
    """Three lakes in one bucket, built from the same S3 landing, once for the module.

    ``one``: ``etl-targets so --workers 1``; ``three``: the same with
    ``--workers 3``; ``luigi``: ``luigi --module etl_targets GoldSOMTD --date
    END --workers 3 --local-scheduler``.
    """
    if not _builds:
        bucket = request.getfixturevalue("s3_env")
        fs = request.getfixturevalue("s3fs_client")
        tmp_path = request.getfixturevalue("tmp_path")
        local = tmp_path / "generated"
        sample.generate(START, len(DAYS), 40, local, seed=12, mess=sample.Messiness(invalid=0.0))
        fs.put(str(local / "so") + "/", f"{bucket}/landing/so/", recursive=True)
        dates = ("--start", START.isoformat(), "--end", END.isoformat())
        commands = {
            "one": etl_argv("so", *dates, "--workers", "1"),
            "three": etl_argv("so", *dates, "--workers", "3"),
            "luigi": luigi_argv("GoldSOMTD", "--date", END.isoformat(), "--workers", "3",
                                "--local-scheduler"),
        }
        server = request.getfixturevalue("moto_server")
        for name, argv in commands.items():
            env = cli_environment(f"s3://{bucket}/{name}", f"s3://{bucket}/landing",
                                  tmp_path / f"logs-{name}")
            before = len(server.requests())
            _builds[name] = run_command(argv, env=env, cwd=tmp_path, timeout=180)
            _builds[f"{name} requests"] = server.requests()[before:]
        _builds.update(fs=fs, bucket=bucket)
    return _builds


@pytest.mark.parametrize("name", ["three", "luigi"])
def test_three_workers_on_s3_succeed_without_fork_errors(lakes, name):
    done = lakes[name]
    assert done.returncode == 0, explain(done)
    assert FORK_ERROR not in done.stdout + done.stderr, explain(done)


def test_one_worker_reference_build_succeeds(lakes):
    assert lakes["one"].returncode == 0, explain(lakes["one"])


@pytest.mark.parametrize("table", GOLD_TABLES)
def test_three_workers_build_the_same_gold_as_one(lakes, table):
    fs, bucket = lakes["fs"], lakes["bucket"]
    for day in DAYS:
        one = gold(fs, f"{bucket}/one", table, day)
        three = gold(fs, f"{bucket}/three", table, day)
        assert three.equals(one), (table, day)


def kinds_of_requests(requests, bucket: str, lake: str) -> collections.Counter:
    """(method, path) with the lake's name, dates and run ids generalised, counted."""
    found = collections.Counter()
    for method, path in requests:
        path = path.replace(f"/{bucket}/{lake}/", "/{lake}/")
        path = path.replace(f"prefix={lake}", "prefix={lake}")
        path = re.sub(r"\d{4}-\d{1,2}-\d{1,2}|\d{8}T\d{9}Z-[0-9a-f]{8}", "*", path)
        found[(method, path)] += 1
    return found


def test_three_workers_make_exactly_the_requests_of_one(lakes):
    """Worker threads share the build's listings and what it wrote: no request is repeated."""
    bucket = lakes["bucket"]
    one = kinds_of_requests(lakes["one requests"], bucket, "one")
    three = kinds_of_requests(lakes["three requests"], bucket, "three")
    assert three == one
    assert sum(one.values()) <= 8 * len(DAYS) + 10, one  # a landing GET and 7 PUTs per date


def test_three_workers_record_how_long_each_task_ran(lakes):
    """Run times are measured where the task ran: a thread of the CLI's process."""
    fs, bucket = lakes["fs"], lakes["bucket"]
    (run,) = [json.loads(fs.cat_file(path)) for path in fs.find(f"{bucket}/three/_ops/runs")]
    assert all(stage["duration_ms"] is not None for stage in run["stages"]), run["stages"]


def test_plain_luigi_with_three_workers_builds_the_same_month_to_date(lakes):
    fs, bucket = lakes["fs"], lakes["bucket"]
    expected = gold(fs, f"{bucket}/one", "so_mtd_by_region", END)
    assert gold(fs, f"{bucket}/luigi", "so_mtd_by_region", END).equals(expected)
    built = fs.find(f"{bucket}/luigi/silver/so")
    assert len(built) == len(DAYS)  # every date of the month so far, each in a forked worker


def test_an_input_file_on_s3_is_read_by_a_forked_worker(lakes, s3_env, tmp_path):
    """``--input`` is resolved before the fork; the child that lands it opens its own client.

    (``s3_env``: the AWS environment the command inherits.)
    """
    fs, bucket = lakes["fs"], lakes["bucket"]
    other = tmp_path / "other"
    sample.generate(END, 1, 30, other, seed=99, mess=sample.Messiness(invalid=0.0))
    (local,) = (other / "so").iterdir()
    given = f"s3://{bucket}/inputs/{local.name}"
    fs.put(str(local), given[len("s3://"):])
    fs.copy(f"{bucket}/three", f"{bucket}/input", recursive=True)  # the built lake, untouched
    env = cli_environment(f"s3://{bucket}/input", f"s3://{bucket}/landing", tmp_path / "logs")

    done = run_command(etl_argv("so", "--date", END.isoformat(), "--input", given,
                                "--workers", "3"), env=env, cwd=tmp_path, timeout=180)

    assert done.returncode == 0, explain(done)
    assert FORK_ERROR not in done.stdout + done.stderr, explain(done)
    manifest = fs.cat_file(f"{bucket}/input/bronze/so/{partition(END)}/_manifest.json")
    assert json.loads(manifest)["source_path"] == given


def test_prefetched_reads_make_one_get_per_file_and_the_reads_none(lakes, s3_env, s3_requests):
    """(``s3_env``: the AWS environment, for this process's own requests.)"""
    bucket = lakes["bucket"]
    build = context.BuildContext()
    with context.use(build):
        silver = [SilverSO(date=day, lake_root=f"s3://{bucket}/one",
                           landing_root=f"s3://{bucket}/landing").output()["silver"]
                  for day in DAYS]
        assert all(target.exists() for target in silver)  # one listing, as scheduling makes
        s3_requests.mark()
        fetched = build.prefetch_reads(silver, columns=["region"])
        prefetched = s3_requests()
        s3_requests.mark()
        tables = [target.read(["region"]) for target in silver]
        reads = s3_requests()

    assert fetched == len(DAYS)
    gets = [path for method, path in prefetched if method == "GET"]
    assert len(gets) == len(DAYS) == len(set(gets)), prefetched
    assert heads(prefetched) == [] and listings(prefetched) == []
    assert len(prefetched) == len(DAYS)
    assert reads == []
    assert all(table.num_rows > 0 for table in tables)
