"""The practical floor: SO landing files to silver, rejects and gold, pyarrow only.

No framework, no storage layer, no validation messages beyond the first
failing rule: read the CSV at once with explicit string column types (only
the contract's columns), clean and type with ``pyarrow.compute``, keep the
latest duplicate, group with ``Table.group_by``, write Parquet files.

Usage:
    python bench/floor_pyarrow.py LANDING.csv OUT_DIR
        one day: OUT_DIR/silver.parquet, rejects.parquet, gold.parquet (daily sales)
    python bench/floor_pyarrow.py --year LANDING_ROOT START END LAKE_ROOT
        every date of START..END (roots: a folder or s3://bucket/prefix, through
        fsspec): silver, rejects, daily gold and month-to-date gold in the lake
        layout of etl_targets; the month's silver is kept in memory for the MTD.
Prints one JSON line: {"wall": seconds, "maxrss_mb": peak RSS, ...}.
"""

import csv
import io
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from script_common import (DATES, INTEGER, MTD_COLUMNS, PRICE, REGIONS, REQUIRED, STATUSES,
                           contract_name, day_or_year, filesystem, makedirs_for, year_paths)

MONEY = pa.decimal128(18, 2)
DAY_COLUMN = "__day__"


def read(source) -> pa.Table:
    """The contract's columns as trimmed text, named by the silver names.

    Args:
        source: a local path, or the file's bytes (a file read from S3).
    """
    if isinstance(source, bytes):
        header = next(csv.reader(io.StringIO(source[:1 << 16].decode("utf-8-sig", "replace"))))
        source = pa.BufferReader(source)
    else:
        with open(source, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle))
    positional = [f"f{i}" for i in range(len(header))]
    keep = {f"f{i}": contract_name(h) for i, h in enumerate(header) if contract_name(h)}
    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=positional, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(
            include_columns=list(keep), column_types={c: pa.string() for c in keep},
            strings_can_be_null=False, quoted_strings_can_be_null=False))
    columns = {keep[name]: pc.utf8_trim_whitespace(table.column(name)) for name in keep}
    return pa.table(columns)


def clean(text: pa.Table):
    """(typed valid rows with __row__, rejected rows as text with a reason)."""
    col = text.column
    checks = [(pc.equal(col(c), ""), f"{c}: required") for c in REQUIRED]
    values = {c: col(c) for c in ("so_number", "customer_id", "customer_name", "sku")}
    for name, kind in (("line", pa.int32()), ("qty", pa.int64())):
        ok = pc.match_substring_regex(col(name), f"^(?:{INTEGER})$")
        number = pc.cast(pc.if_else(ok, pc.replace_substring(col(name), ",", ""), "0"), pa.int64())
        checks.append((pc.or_(pc.invert(ok), pc.less(number, 1)), f"{name}: not >= 1"))
        values[name] = pc.cast(number, kind)
    for name, fmt in DATES:
        stamp = pc.strptime(col(name), format=fmt, unit="s", error_is_null=True)
        # strptime rolls 02/30 over into March: the day written must be the day parsed
        parsed = pc.if_else(pc.is_null(stamp), "00/00/0000 00:00:00", col(name))
        if name == "order_date":
            written = pc.list_element(pc.split_pattern(parsed, "/"), 1)
        else:
            written = pc.utf8_slice_codeunits(parsed, 8, 10)
        written = pc.cast(written, pa.int64())
        checks.append((pc.or_(pc.is_null(stamp), pc.not_equal(pc.day(stamp), written)),
                       f"{name}: bad date"))
        values[name] = stamp
    values["order_date"] = pc.cast(values["order_date"], pa.date32())
    values["last_modified"] = pc.cast(values["last_modified"], pa.timestamp("ms"))
    for name, choices in (("region", REGIONS), ("status", STATUSES)):
        index = pc.index_in(pc.utf8_lower(col(name)), value_set=pa.array([c.lower() for c in choices]))
        checks.append((pc.is_null(index), f"{name}: not canonical"))
        values[name] = pc.take(pa.array(choices), index)
    ok = pc.match_substring_regex(col("currency"), r"^[A-Za-z]{3}$")
    checks.append((pc.invert(ok), "currency: not 3 letters"))
    values["currency"] = pc.utf8_upper(col("currency"))
    price = pc.replace_substring(col("unit_price"), ",", "")
    ok = pc.match_substring_regex(price, f"^(?:{PRICE})$")
    checks.append((pc.invert(ok), "unit_price: not a price"))
    values["unit_price"] = pc.cast(pc.if_else(ok, price, "0"), MONEY)
    reason = pa.nulls(text.num_rows, pa.string())
    for mask, why in reversed(checks):  # the first failing rule wins
        reason = pc.if_else(pc.fill_null(mask, True), why, reason)
    good = pc.is_null(reason)
    amount = pc.multiply_checked(pc.cast(values["qty"], pa.decimal128(19, 0)), values["unit_price"])
    values["line_amount"] = pc.cast(amount, MONEY)
    values["__row__"] = pa.array(range(1, text.num_rows + 1), pa.int64())
    silver = pa.table(values).filter(good)
    rejects = text.append_column("row_number", values["__row__"]).append_column("reject_reason", reason)
    return silver, rejects.filter(pc.invert(good))


def latest(silver: pa.Table, tie: str = "__row__") -> pa.Table:
    """One row per (so_number, line): greatest last_modified, then greatest ``tie``."""
    ordered = silver.sort_by([("so_number", "ascending"), ("line", "ascending"),
                              ("last_modified", "ascending"), (tie, "ascending")])
    n = ordered.num_rows
    if n == 0:
        return ordered.drop_columns([tie])
    so, line = ordered.column("so_number").combine_chunks(), ordered.column("line").combine_chunks()
    change = pc.or_(pc.not_equal(so.slice(0, n - 1), so.slice(1)),
                    pc.not_equal(line.slice(0, n - 1), line.slice(1)))
    return ordered.filter(pa.concat_arrays([change, pa.array([True])])).drop_columns([tie])


def aggregate(silver: pa.Table, keys=("region", "sku", "currency")) -> pa.Table:
    """Gold: CANCELLED left out; orders, lines, qty, revenue by ``keys``."""
    keys = list(keys)
    kept = silver.filter(pc.not_equal(silver.column("status"), "CANCELLED"))
    grouped = kept.group_by(keys, use_threads=False).aggregate([
        ("so_number", "count_distinct"), ("so_number", "count"),
        ("qty", "sum"), ("line_amount", "sum")])
    return pa.table({
        **{k: grouped.column(k) for k in keys},
        "orders": grouped.column("so_number_count_distinct"),
        "lines": grouped.column("so_number_count"),
        "qty": grouped.column("qty_sum"),
        "revenue": pc.cast(grouped.column("line_amount_sum"), MONEY),
    }).sort_by([(k, "ascending") for k in keys])


def month_to_date(month) -> pa.Table:
    """Gold by region and currency over the month's silver, deduplicated across days."""
    parts = [silver.select(MTD_COLUMNS).append_column(
        DAY_COLUMN, pa.array([day] * silver.num_rows, pa.date32())) for day, silver in month]
    return aggregate(latest(pa.concat_tables(parts), tie=DAY_COLUMN), ("region", "currency"))


def day(source, write) -> dict:
    """Silver, rejects and daily gold of one landing file; ``write(name, table)`` stores them."""
    silver, rejects = clean(read(source))
    silver = latest(silver)
    write("rejects", rejects)
    write("silver", silver)
    gold = aggregate(silver)
    write("daily", gold)
    return {"silver": silver, "rejects": rejects, "gold": gold}


def year(landing_url: str, start: str, end: str, lake_url: str) -> int:
    """Every date of start..end, each with its month-to-date gold; returns the dates done."""
    landing_fs, landing_root = filesystem(landing_url)
    lake_fs, lake_root = filesystem(lake_url)
    month, done = [], 0
    for date, source, outputs in year_paths(landing_root, lake_root, start, end):
        if month and month[-1][0].month != date.month:
            month = []

        def write(name, table, path=None):
            path = path or outputs[name]
            makedirs_for(lake_fs, path)
            with lake_fs.open(path, "wb") as sink:
                pq.write_table(table, sink, compression="zstd")

        made = day(landing_fs.cat_file(source), write)
        month.append((date, made["silver"].select(MTD_COLUMNS)))
        write("mtd", month_to_date(month))
        done += 1
    return done


def main(argv) -> int:
    def one_day(source: str, out: str) -> dict:
        made = day(source, lambda name, table: pq.write_table(
            table, os.path.join(out, {"daily": "gold"}.get(name, name) + ".parquet"),
            compression="zstd"))
        return {"silver_rows": made["silver"].num_rows, "rejects": made["rejects"].num_rows,
                "gold_rows": made["gold"].num_rows}

    return day_or_year(argv, year, one_day)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
