"""Parsing a column once per distinct value is parsing every row: same silver, same rejects.

A block's column is parsed per distinct value (``dictionary_encode``, parse,
``take``) when it repeats enough (``blocks.DISTINCT_SHARE``), else row by
row. Both must give exactly the same typed values, verdicts and reasons; the
shipped sample days (every dataset, with the messiness the contract allows:
padded and case-folded codes, thousands separators, broken rows) and a
hand-written block of messy values are judged both ways here.
"""

import io

import pyarrow as pa
import pytest

from etl_targets import formats
from etl_targets.datasets import blocks
from etl_targets.datasets.gl import GL
from etl_targets.datasets.inv import INV
from etl_targets.datasets.po import PO
from etl_targets.datasets.silver import read_silver
from etl_targets.datasets.so import SO
from etl_targets.datasets.threads import ordered_map
from support.paths import SAMPLE_LANDING

DATASETS = {"so": SO, "po": PO, "inv": INV, "gl": GL}
DAYS = ("2026-1-1", "2026-1-27")

#: every row parsed on its own; every column parsed per distinct value
ROW_BY_ROW, PER_DISTINCT = 0.0, 1.0


def _judged(monkeypatch, dataset, data: bytes, share: float):
    monkeypatch.setattr(blocks, "DISTINCT_SHARE", share)
    result = read_silver(dataset, io.BytesIO(data), "landing.csv")
    return result.silver, result.rejects


@pytest.mark.parametrize("folder", sorted(DATASETS))
@pytest.mark.parametrize("day", DAYS)
def test_sample_day_is_judged_alike_row_by_row_and_per_distinct_value(monkeypatch, folder, day):
    dataset = DATASETS[folder]
    data = (SAMPLE_LANDING / folder / f"{dataset.file_prefix}-{day}.csv").read_bytes()
    monkeypatch.setattr(formats, "CSV_BLOCK_SIZE", 1 << 14)  # many blocks, each its own dictionary
    silver, rejects = _judged(monkeypatch, dataset, data, ROW_BY_ROW)
    assert rejects.num_rows and silver.num_rows
    distinct_silver, distinct_rejects = _judged(monkeypatch, dataset, data, PER_DISTINCT)
    assert distinct_silver.equals(silver)
    assert distinct_rejects.equals(rejects)


MESSY = ("SO Number,Line,Order Date,Customer ID,Customer Name,Region,SKU,Qty,Unit Price,"
         "Currency,Status,Last Modified\n" + "".join(
             f"SO-{n},{line},{date},C1,{name},{region},SKU-1,{qty},{price},{currency},{status},{stamp}\n"
             for n, (line, date, name, region, qty, price, currency, status, stamp) in enumerate([
                 ("1", "01/27/2026", "", " west ", '"1,200"', '"1,234.50"', "usd", "OPEN", "2026-01-27 10:00:00"),
                 ("1", "01/27/2026", "", "WEST", '"1,200"', '"1,234.50"', "usd", "open", "2026-01-27 10:00:00"),
                 ("0", "02/30/2026", "Acme", "ſouth", '"12,00"', "19.999", "us", "Shipped ", "2026-02-30 10:00:00"),
                 ("0", "02/30/2026", "Acme", "ſouth", '"12,00"', "19.999", "us", "Shipped ", "2026-02-30 10:00:00"),
                 ("+3", "1/2/2026", " ", "", "-0", "-0", "EUR", "", "2026-01-27 23:59:60"),
                 ("+3", "1/2/2026", " ", "", "-0", "-0", "EUR", "", "2026-01-27 23:59:60"),
                 ("１", "13/01/2026", "x", "North", "²", ".5", "€€€", "CANCELLED", "2026-01-27T10:00:00"),
                 ("１", "13/01/2026", "x", "North", "²", ".5", "€€€", "CANCELLED", "2026-01-27T10:00:00"),
             ])))


def test_messy_repeated_values_are_judged_alike_row_by_row_and_per_distinct_value(monkeypatch):
    data = MESSY.encode()
    silver, rejects = _judged(monkeypatch, SO, data, ROW_BY_ROW)
    assert silver.num_rows == 2 and rejects.num_rows == 6
    distinct_silver, distinct_rejects = _judged(monkeypatch, SO, data, PER_DISTINCT)
    assert distinct_silver.equals(silver)
    assert distinct_rejects.equals(rejects)


def test_ordered_map_yields_results_in_the_order_of_the_items():
    assert list(ordered_map(lambda n: n * n, range(50), threads=3)) == [n * n for n in range(50)]


def test_ordered_map_raises_the_error_of_an_item_in_its_turn():
    def square(n):
        if n == 7:
            raise ValueError("seven")
        return n * n
    results = ordered_map(square, range(50), threads=2)
    assert [next(results) for _ in range(7)] == [n * n for n in range(7)]
    with pytest.raises(ValueError, match="seven"):
        next(results)


def test_an_error_in_the_stream_stops_the_parquet_writer_and_is_raised():
    table = pa.table({"n": pa.array(range(100), pa.int64())})

    def stream():
        yield table.slice(0, 60)
        raise RuntimeError("merge failed")

    with pytest.raises(RuntimeError, match="merge failed"):
        formats.write_parquet(io.BytesIO(), table.schema, stream(), row_group_rows=16)


def test_an_error_of_the_parquet_writer_is_raised_to_the_caller():
    class Broken(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise OSError("disk full")

    table = pa.table({"n": pa.array(range(100), pa.int64())})
    with pytest.raises(OSError, match="disk full"):
        formats.write_parquet(Broken(), table.schema, [table], row_group_rows=16)
