"""Acceptance: the published lake agrees with an independent computation.

"For contract-conforming data nobody here generated, both gold tables match
an independent computation exactly (revenue to the cent)." A month of SO
files from the foreign writer (``tests/foreign_so.py``) and the shipped
sample data are built through the real luigi graph into a local lake (the
foreign month also into an S3 lake on the moto server); the published
Parquet is read back and compared row by row with the reference
implementation (``tests/reference_so.py``), which shares no code with the
pipeline. Money is compared as ``Decimal``, never as float.
"""

import datetime as dt
import re
from pathlib import Path

import luigi
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from luigi.execution_summary import LuigiStatusCode

from etl_targets import GoldSO, GoldSOMTD

# tests/ is on sys.path (see conftest.py); the reference and the foreign writer live there.
from foreign_so import write_foreign_month
from reference_so import COLUMNS, daily_sales, month_to_date, mtd_by_region, parse_landing
from support.lakes import roots
from support.landing import landing_name
from support.paths import SAMPLE_LANDING

SAMPLE_DAY = dt.date(2026, 1, 27)
FOREIGN_YEAR, FOREIGN_MONTH, FOREIGN_DAYS = 2026, 3, 6
FOREIGN_DATES = [dt.date(FOREIGN_YEAR, FOREIGN_MONTH, d) for d in range(1, FOREIGN_DAYS + 1)]
HEADER_OF = {name: header for header, name in COLUMNS}
# Longest first, so "unit_price" is found before a shorter name inside it.
_FIELD_NAMES = sorted(HEADER_OF, key=len, reverse=True)


class Lake:
    """A built local lake and the reference's reading of its landing files."""

    def __init__(self, root: Path, landing: Path, dates):
        self.root = root
        self.reference = {}
        for day in dates:
            path = landing / "so" / landing_name(day)
            self.reference[day] = parse_landing(path.read_bytes(), path.name)

    def table(self, stage: str, name: str, day: dt.date) -> pa.Table:
        return pq.read_table(self.root / stage / name / f"date={day.isoformat()}" / "data.parquet")

    def rows(self, stage: str, name: str, day: dt.date):
        return self.table(stage, name, day).to_pylist()

    def reference_silver(self, day):
        return self.reference[day][0]

    def reference_rejects(self, day):
        return self.reference[day][1]

    def reference_mtd(self, day):
        return mtd_by_region({d: self.reference_silver(d) for d in month_to_date(day)})


class S3Lake(Lake):
    """The same, with the lake in a bucket, read back through an s3fs client."""

    def __init__(self, client, root: str, landing: Path, dates):
        super().__init__(root, landing, dates)
        self.client = client

    def table(self, stage: str, name: str, day: dt.date) -> pa.Table:
        with self.client.open(f"{self.root}/{stage}/{name}/date={day.isoformat()}/data.parquet",
                              "rb") as handle:
            return pq.read_table(handle)


def build(tasks) -> None:
    """Runs the real graph in-process; any failure fails the test with luigi's summary."""
    result = luigi.build(tasks, local_scheduler=True, detailed_summary=True,
                         log_level="WARNING")
    assert result.status == LuigiStatusCode.SUCCESS, result.summary_text


@pytest.fixture(scope="module")
def foreign_lake(tmp_path_factory):
    """A foreign month of six days, every daily table and every MTD table built."""
    base = tmp_path_factory.mktemp("foreign")
    landing, lake = base / "landing", base / "lake"
    write_foreign_month(landing, FOREIGN_YEAR, FOREIGN_MONTH, days=FOREIGN_DAYS,
                        rows_per_day=60, seed=20260306)
    where = roots(lake, landing)
    build([GoldSO(date=day, **where) for day in FOREIGN_DATES]
          + [GoldSOMTD(date=day, **where) for day in FOREIGN_DATES])
    return Lake(lake, landing, FOREIGN_DATES)


@pytest.fixture(scope="module")
def foreign_s3_lake(tmp_path_factory, s3_module_env, s3fs_client):
    """The same foreign month, landed in a bucket and built into an S3 lake (moto over HTTP)."""
    landing = tmp_path_factory.mktemp("foreign-s3") / "landing"
    write_foreign_month(landing, FOREIGN_YEAR, FOREIGN_MONTH, days=FOREIGN_DAYS,
                        rows_per_day=60, seed=20260306)
    bucket = s3_module_env
    names = [landing_name(day) for day in FOREIGN_DATES]
    s3fs_client.put([str(landing / "so" / name) for name in names],
                    [f"{bucket}/landing/so/{name}" for name in names])
    where = {"lake_root": f"s3://{bucket}/lake", "landing_root": f"s3://{bucket}/landing"}
    build([GoldSO(date=day, **where) for day in FOREIGN_DATES]
          + [GoldSOMTD(date=day, **where) for day in FOREIGN_DATES])
    return S3Lake(s3fs_client, f"{bucket}/lake", landing, FOREIGN_DATES)


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory):
    """The shipped sample data, built for 2026-01-27 into a fresh lake."""
    lake = tmp_path_factory.mktemp("sample") / "lake"
    where = roots(lake, SAMPLE_LANDING)
    build([GoldSO(date=SAMPLE_DAY, **where), GoldSOMTD(date=SAMPLE_DAY, **where)])
    return Lake(lake, SAMPLE_LANDING, month_to_date(SAMPLE_DAY))


def day_with_most_rejects(lake: Lake) -> dt.date:
    day = max(lake.reference, key=lambda d: len(lake.reference_rejects(d)))
    assert lake.reference_rejects(day), "the data set should hold at least one reject"
    return day


def silver_sorted(rows):
    return sorted(rows, key=lambda r: (r["so_number"], r["line"]))


def reject_identity(rows):
    """What a reject must carry: every raw field, the file, the row number."""
    keys = [name for _, name in COLUMNS] + ["source_file", "row_number"]
    return [{k: r[k] for k in keys} for r in sorted(rows, key=lambda r: r["row_number"])]


def field_named_by(reference_reason: str):
    """The silver column the reference blames, or None (e.g. field count)."""
    for name in _FIELD_NAMES:
        if re.search(rf"\b{name}\b", reference_reason):
            return name
    return None


def assert_money_is_decimal(rows, *columns):
    for row in rows:
        for name in columns:
            assert not isinstance(row[name], float)


# --- foreign data, nobody here generated ------------------------------------------


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def foreign_gold(request):
    """The foreign month's lake, on local disk and on S3: gold must agree on both."""
    return request.getfixturevalue("foreign_lake" if request.param == "local" else "foreign_s3_lake")


@pytest.mark.parametrize("day", FOREIGN_DATES, ids=str)
def test_daily_sales_matches_independent_computation_exactly(foreign_gold, day):
    published = foreign_gold.rows("gold", "so_daily_sales", day)
    expected = daily_sales(foreign_gold.reference_silver(day))
    assert expected, "the day should have sales"
    assert published == expected
    assert_money_is_decimal(published, "revenue")


@pytest.mark.parametrize("day", FOREIGN_DATES, ids=str)
def test_mtd_by_region_matches_independent_computation_exactly(foreign_gold, day):
    published = foreign_gold.rows("gold", "so_mtd_by_region", day)
    assert published == foreign_gold.reference_mtd(day)
    assert_money_is_decimal(published, "revenue")


def test_published_revenue_is_decimal_to_the_cent(foreign_lake):
    day = FOREIGN_DATES[-1]
    for table in ("so_daily_sales", "so_mtd_by_region"):
        published = foreign_lake.table("gold", table, day)
        assert published.schema.field("revenue").type == pa.decimal128(18, 2)
        assert_money_is_decimal(published.to_pylist(), "revenue")


def test_mtd_revenue_of_the_month_adds_up_to_the_cent(foreign_lake):
    day = FOREIGN_DATES[-1]
    published = sum(r["revenue"] for r in foreign_lake.rows("gold", "so_mtd_by_region", day))
    expected = sum(r["revenue"] for r in foreign_lake.reference_mtd(day))
    assert published == expected


def test_silver_matches_independent_computation_for_a_day_with_rejects(foreign_lake):
    day = day_with_most_rejects(foreign_lake)
    published = foreign_lake.rows("silver", "so", day)
    assert silver_sorted(published) == foreign_lake.reference_silver(day)
    assert_money_is_decimal(published, "unit_price", "line_amount")


def test_reject_rows_match_independent_computation(foreign_lake):
    day = day_with_most_rejects(foreign_lake)
    published = foreign_lake.rows("silver", "so_rejects", day)
    assert reject_identity(published) == reject_identity(foreign_lake.reference_rejects(day))


def test_reject_reasons_name_the_field_the_reference_blames(foreign_lake):
    for day in FOREIGN_DATES:
        published = {r["row_number"]: r["reject_reason"]
                     for r in foreign_lake.rows("silver", "so_rejects", day)}
        for reject in foreign_lake.reference_rejects(day):
            blamed = field_named_by(reject["reject_reason"])
            if blamed is not None:
                assert HEADER_OF[blamed] in published[reject["row_number"]], (day, reject)


def test_every_day_of_the_month_has_a_rejects_table(foreign_lake):
    for day in FOREIGN_DATES:
        expected = [r["row_number"] for r in foreign_lake.reference_rejects(day)]
        published = foreign_lake.rows("silver", "so_rejects", day)
        assert sorted(r["row_number"] for r in published) == expected


# --- the shipped sample data ----------------------------------------------------------


def test_sample_daily_sales_matches_independent_computation_exactly(sample_lake):
    published = sample_lake.rows("gold", "so_daily_sales", SAMPLE_DAY)
    assert published == daily_sales(sample_lake.reference_silver(SAMPLE_DAY))


def test_sample_mtd_by_region_matches_independent_computation_exactly(sample_lake):
    published = sample_lake.rows("gold", "so_mtd_by_region", SAMPLE_DAY)
    assert published == sample_lake.reference_mtd(SAMPLE_DAY)


def test_sample_silver_matches_independent_computation(sample_lake):
    published = sample_lake.rows("silver", "so", SAMPLE_DAY)
    assert silver_sorted(published) == sample_lake.reference_silver(SAMPLE_DAY)


def test_sample_rejects_match_independent_computation(sample_lake):
    published = sample_lake.rows("silver", "so_rejects", SAMPLE_DAY)
    expected = sample_lake.reference_rejects(SAMPLE_DAY)
    assert expected, "the sample day should hold rejects"
    assert reject_identity(published) == reject_identity(expected)
