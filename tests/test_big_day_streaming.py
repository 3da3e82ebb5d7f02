"""A big day streams through silver: the same rows as one table, in bounded memory.

Silver of a big landing file is merged from sorted runs spilled to disk and
written a row group at a time; these tests shrink the blocks, runs and row
groups so that a few hundred rows exercise every path, and check the
contract's results stay exactly those of the whole file judged at once.
"""

import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_targets import formats
from etl_targets.datasets import silver, sorted_runs
from etl_targets.datasets.so import SO

HEADER = ("SO Number,Line,Order Date,Customer ID,Customer Name,Region,SKU,Qty,Unit Price,"
          "Currency,Status,Last Modified\n")


def _line(order: int, line: int, second: int, qty: int, name: str = "Acme") -> str:
    return (f"SO-{order:06d},{line},01/27/2026,C001,\"{name}\",west,SKU-1,{qty},1.50,usd,open,"
            f"2026-01-27 10:00:{second:02d}\n")


def _day(rows: int, seed: int, shuffle: bool) -> bytes:
    """Orders with re-sent lines (newer, older, same second) and the odd broken row."""
    chooser = random.Random(seed)
    lines = []
    for index in range(rows):
        order = chooser.randrange(rows // 3 + 1)
        qty = chooser.choice([1, 2, 3, 0]) if index % 17 else -1  # 0 and -1 are rejects
        lines.append(_line(order, chooser.randrange(1, 4), chooser.randrange(3), qty or 5))
    if shuffle:
        chooser.shuffle(lines)
    return (HEADER + "".join(lines)).encode()


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of a few dozen rows, runs spilled at once, merged 7 rows at a time."""
    monkeypatch.setattr(formats, "CSV_BLOCK_SIZE", 1 << 12)
    monkeypatch.setattr(sorted_runs, "HELD_BYTES", 0)
    monkeypatch.setattr(sorted_runs, "BATCH_ROWS", 7)
    monkeypatch.setattr(sorted_runs, "RESOLVE_ROWS", 50)


def _whole(data: bytes):
    """The file judged as one table: every valid row deduplicated at once."""
    with silver.SilverStream(SO, io.BytesIO(data), "zheSO-2026-1-27.csv") as stream:
        stream._runs = None  # the in-memory path, the reference
        rejects = list(stream.rejects())
        return pa.concat_tables(list(stream.silver())), pa.concat_tables(rejects)


@pytest.mark.parametrize("shuffle", [False, True])
def test_silver_merged_from_spilled_runs_equals_the_whole_file_judged_at_once(tiny_blocks, shuffle):
    data = _day(3000, seed=7, shuffle=shuffle)
    expected_silver, expected_rejects = _whole(data)
    result = silver.read_silver(SO, io.BytesIO(data), "zheSO-2026-1-27.csv")
    assert result.silver.equals(expected_silver)
    assert result.rejects.equals(expected_rejects)
    assert result.landed_rows == 3000


def test_equal_timestamps_in_different_blocks_keep_the_row_further_down(tiny_blocks):
    filler = "".join(_line(2 + k, 1, 0, 1) for k in range(200))
    data = (HEADER + _line(1, 1, 5, 7) + filler + _line(1, 1, 5, 9) + filler).encode()
    result = silver.read_silver(SO, io.BytesIO(data), "zheSO-2026-1-27.csv")
    first = result.silver.slice(0, 1).to_pylist()[0]
    assert (first["so_number"], first["qty"]) == ("SO-000001", 9)


def test_silver_is_sorted_by_the_dedup_key_whatever_the_file_order(tiny_blocks):
    result = silver.read_silver(SO, io.BytesIO(_day(2000, seed=3, shuffle=True)), "x.csv")
    keys = list(zip(result.silver.column("so_number").to_pylist(),
                    result.silver.column("line").to_pylist()))
    assert keys == sorted(set(keys))


def test_records_across_block_boundaries_are_read_while_reading_is_paced(monkeypatch):
    monkeypatch.setattr(formats, "CSV_BLOCK_SIZE", 1 << 10)
    names = [f"n{k}" + "x" * 700 for k in range(40)]
    data = (HEADER + "".join(_line(k, 1, 0, 1, name=n) for k, n in enumerate(names))).encode()
    result = silver.read_silver(SO, io.BytesIO(data), "x.csv")
    assert result.silver.column("customer_name").to_pylist() == names


def test_a_stream_of_one_row_group_is_the_bytes_of_the_table_written_whole():
    table = silver.read_silver(SO, io.BytesIO(_day(500, seed=1, shuffle=True)), "x.csv").silver
    sink = io.BytesIO()
    formats.write_parquet(sink, SO.silver_schema, [table.slice(0, 100), table.slice(100)])
    assert sink.getvalue() == formats.to_parquet_bytes(table)


def test_row_groups_do_not_depend_on_how_the_stream_is_cut():
    table = silver.read_silver(SO, io.BytesIO(_day(500, seed=2, shuffle=False)), "x.csv").silver
    written = []
    for cuts in ([table], [table.slice(0, 1), table.slice(1, 250), table.slice(251)]):
        sink = io.BytesIO()
        assert formats.write_parquet(sink, SO.silver_schema, cuts, row_group_rows=64) == table.num_rows
        written.append(sink.getvalue())
    assert written[0] == written[1]
    assert pq.ParquetFile(io.BytesIO(written[0])).metadata.num_row_groups == -(-table.num_rows // 64)


def test_an_empty_stream_is_an_empty_file_with_the_schema():
    sink = io.BytesIO()
    assert formats.write_parquet(sink, SO.silver_schema, []) == 0
    assert sink.getvalue() == formats.to_parquet_bytes(SO.silver_schema.empty_table())


def test_amounts_and_instants_are_stored_plain_and_the_other_columns_as_dictionaries():
    table = silver.read_silver(SO, io.BytesIO(_day(500, seed=4, shuffle=False)), "x.csv").silver
    for data in (formats.to_parquet_bytes(table), _streamed(table)):
        group = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
        encodings = {group.column(i).path_in_schema: group.column(i).encodings
                     for i in range(group.num_columns)}
        for name in ("unit_price", "line_amount", "last_modified"):
            assert "RLE_DICTIONARY" not in encodings[name], name
        for name in ("so_number", "region", "currency", "order_date", "qty"):
            assert "RLE_DICTIONARY" in encodings[name], name


def _streamed(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    formats.write_parquet(sink, table.schema, [table], row_group_rows=64)
    return sink.getvalue()


def test_spilled_runs_leave_no_file_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(sorted_runs, "HELD_BYTES", 0)
    with sorted_runs.SortedRuns(["k"], scratch=str(tmp_path)) as held:
        held.add(0, pa.table({"k": [1, 3]}))
        held.add(1, pa.table({"k": [2]}))
        merged = pa.concat_tables(list(held.merged(lambda t: t.sort_by("k"))))
        assert merged.column("k").to_pylist() == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", ["so", "po", "inv"])
def test_a_day_of_gold_aggregated_slice_by_slice_is_the_table_aggregated_whole(monkeypatch, code):
    import datetime as dt
    import glob

    from etl_targets.datasets import gold, gold_slices
    from etl_targets.datasets.gold_tables import Day, GoldTable
    from etl_targets.datasets.inv import INV
    from etl_targets.datasets.po import PO

    dataset = {"so": SO, "po": PO, "inv": INV}[code]
    monkeypatch.setattr(gold_slices, "SLICE_ROWS", 5)
    sliced = []
    monkeypatch.setattr(gold_slices, "_summed", _counting(gold_slices._summed, sliced))
    for path in sorted(glob.glob(f"sample_data/landing/{code}/*.csv"))[:3]:
        with open(path, "rb") as handle:
            day = silver.read_silver(dataset, handle, path).silver
        data = formats.to_parquet_bytes(day)
        for table in dataset.gold:
            if not isinstance(table, GoldTable) or not isinstance(table.window, Day):
                continue
            columns = gold.needed_columns(dataset, table)
            schema = pa.schema([dataset.silver_schema.field(c) for c in columns])
            whole = gold.aggregate(dataset, table, day.select(columns), dt.date(2026, 1, 27))
            by_slices = gold_slices.aggregate_day(
                dataset, table, lambda: formats.parquet_batches(data, columns, batch_rows=3),
                schema, dt.date(2026, 1, 27))
            assert formats.to_parquet_bytes(by_slices) == formats.to_parquet_bytes(whole)
    assert sliced  # the slices were added up, not the whole day aggregated


def _counting(function, calls):
    def counted(*args):
        calls.append(1)
        return function(*args)
    return counted
