"""Every shipped dataset on an S3 lake, the way users run it (issue 10).

The sample landing of January 2026 (SO, PO, INV, GL) is uploaded to a moto
server's bucket; the FX rates come from a rates API on a loopback port.
Each command runs as a subprocess: ``luigi --module etl_targets Gold… --date
2026-01-27 --local-scheduler`` for each dataset's gold task, ``etl-targets
po|inv|gl|cover|all``, and a month of ``etl-targets all`` whose rerun must
be a no-op answered by a handful of listings. Gold tables on S3 must equal
the same commands' output on a local lake, compared as decoded tables.
"""

import datetime as dt
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support.cli import etl_argv, explain, luigi_argv, run_command
from support.env import cli_environment
from support.lakes import partition
from support.paths import SAMPLE_LANDING
from support.rates_server import SAMPLE_RATES, TEST_TOKEN, rates_server
from support.s3 import heads, listings

pytestmark = pytest.mark.s3

DAY = dt.date(2026, 1, 27)
#: the gold task of each dataset, and the table (lake folder) it publishes
GOLD_TASKS = {
    "GoldPO": "po_open_by_vendor",
    "GoldINV": "inv_value_by_warehouse",
    "GoldGL": "gl_trial_balance",
    "GoldInvCover": "inv_days_of_cover",
}
#: each CLI subcommand and the gold tables it publishes
SUBCOMMANDS = {
    "po": ["po_open_by_vendor"],
    "inv": ["inv_value_by_warehouse"],
    "gl": ["gl_trial_balance"],
    "cover": ["inv_days_of_cover"],
    "all": ["gl_trial_balance", "inv_days_of_cover", "inv_value_by_warehouse",
            "po_open_by_vendor", "so_daily_sales", "so_mtd_by_region", "so_revenue_usd"],
}


@pytest.fixture(scope="module")
def rates():
    with rates_server(SAMPLE_RATES, TEST_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def s3_landing(s3_module_env, s3fs_client) -> str:
    """The shipped sample landing of every dataset, uploaded once; its ``s3://`` URL."""
    s3fs_client.put(str(SAMPLE_LANDING) + "/", f"{s3_module_env}/landing/", recursive=True)
    return f"s3://{s3_module_env}/landing"


class Lakes:
    """Runs one command on a named S3 lake and on a local lake, and reads their gold."""

    def __init__(self, bucket: str, landing: str, fs, work: Path, rates):
        self.bucket, self.landing, self.fs, self.work, self.rates = bucket, landing, fs, work, rates

    def env(self, lake: str, name: str):
        return cli_environment(lake, self.landing if lake.startswith("s3://") else SAMPLE_LANDING,
                               self.work / f"logs-{name}", ETL_FX_API_URL=self.rates.url,
                               ETL_FX_TOKEN=TEST_TOKEN)

    def run(self, argv, lake: str, name: str, timeout: float = 300):
        done = run_command(argv, env=self.env(lake, name), cwd=self.work, timeout=timeout)
        assert done.returncode == 0, explain(done)
        assert TEST_TOKEN not in done.stdout + done.stderr
        return done

    def s3_lake(self, name: str) -> str:
        return f"s3://{self.bucket}/{name}"

    def local_lake(self, name: str) -> str:
        return str(self.work / name)

    def gold(self, lake: str, table: str, day: dt.date = DAY):
        path = f"{lake}/gold/{table}/{partition(day)}/data.parquet"
        if lake.startswith("s3://"):
            return pq.read_table(io.BytesIO(self.fs.cat_file(path[len("s3://"):])))
        return pq.read_table(path)

    def gold_tables(self, lake: str):
        """The gold table folders of a lake."""
        if lake.startswith("s3://"):
            return sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(f"{lake[5:]}/gold"))
        return sorted(p.name for p in (Path(lake) / "gold").iterdir())


@pytest.fixture(scope="module")
def lakes(s3_module_env, s3_landing, s3fs_client, tmp_path_factory, rates) -> Lakes:
    return Lakes(s3_module_env, s3_landing, s3fs_client, tmp_path_factory.mktemp("s3-datasets"),
                 rates)


@pytest.mark.parametrize("task", sorted(GOLD_TASKS))
def test_luigi_command_builds_each_datasets_gold_on_s3_as_on_local_disk(lakes, task):
    argv = luigi_argv(task, "--date", DAY.isoformat(), "--local-scheduler")
    on_s3, local = lakes.s3_lake(f"luigi-{task}"), lakes.local_lake(f"luigi-{task}")
    lakes.run(argv, on_s3, f"s3-{task}")
    lakes.run(argv, local, f"local-{task}")
    table = GOLD_TASKS[task]
    assert lakes.gold_tables(on_s3) == lakes.gold_tables(local)
    assert lakes.gold(on_s3, table).num_rows > 0
    assert lakes.gold(on_s3, table).equals(lakes.gold(local, table))


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_cli_builds_each_datasets_gold_on_s3_as_on_local_disk(lakes, command):
    argv = etl_argv(command, "--date", DAY.isoformat())
    on_s3, local = lakes.s3_lake(f"cli-{command}"), lakes.local_lake(f"cli-{command}")
    lakes.run(argv, on_s3, f"s3-{command}")
    lakes.run(argv, local, f"local-{command}")
    assert lakes.gold_tables(on_s3) == SUBCOMMANDS[command]
    for table in SUBCOMMANDS[command]:
        assert lakes.gold(on_s3, table).equals(lakes.gold(local, table)), table


MONTH = [dt.date(2026, 1, day) for day in range(7, 32)]
#: every stage task whose completeness a range build asks of the lake in bulk
BULK_TASKS = sorted(GOLD_TASKS) + ["GoldSO", "GoldSOMTD", "GoldSORevenueUSD",
                                   "SilverSO", "SilverPO", "SilverINV", "SilverGL"]


@pytest.fixture(scope="module")
def month_argv():
    # From the 7th: days of cover of the 1st..6th need December's sales,
    # which the sample landing does not hold.
    return etl_argv("all", "--start", MONTH[0].isoformat(), "--end", MONTH[-1].isoformat())


@pytest.fixture(scope="module")
def month_lake(lakes, month_argv) -> str:
    """An S3 lake holding every gold table of every dataset for the month, built cold once."""
    lake = lakes.s3_lake("all-month")
    lakes.run(month_argv, lake, "month-cold", timeout=600)
    return lake


def test_noop_rerun_of_a_month_of_all_on_s3_is_a_handful_of_listings(lakes, month_lake, month_argv,
                                                                      s3_requests):
    s3_requests.mark()
    rerun = lakes.run(month_argv, month_lake, "month-noop")
    made = s3_requests()
    # nothing is rebuilt: the run's own record (and latest pointer) are the only writes
    written = {path.split("/_ops/")[-1].split("/")[0] for _, path in s3_requests.writes()}
    assert written <= {"runs", "latest"}, made
    # one listing per gold table and a probe of the landing root; no request per date
    assert len(listings(made)) <= len(SUBCOMMANDS["all"]) + 1, made
    assert len(made) <= 12, made
    assert "already" in rerun.stdout + rerun.stderr


@pytest.mark.parametrize("name", BULK_TASKS)
def test_bulk_completeness_of_every_datasets_stages_is_a_listing_per_output_prefix(
        lakes, month_lake, name, monkeypatch, s3_requests):
    import etl_targets

    monkeypatch.setenv("ETL_LAKE_ROOT", month_lake)
    monkeypatch.setenv("ETL_LANDING_ROOT", lakes.landing)
    task = getattr(etl_targets, name)
    prefixes = len(task(date=MONTH[0]).output()) if name.startswith("Silver") else 1
    s3_requests.mark()
    complete = sorted(task.bulk_complete(MONTH))
    made = s3_requests()
    assert complete == MONTH
    assert heads(made) == [], made
    assert len(listings(made)) == prefixes == len(made), made
