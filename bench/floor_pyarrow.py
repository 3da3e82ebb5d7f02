"""The practical floor: one SO landing file to silver, rejects and daily gold, pyarrow only.

No framework, no storage layer, no validation messages beyond the first
failing rule: read the CSV at once with explicit string column types (only
the contract's columns), clean and type with ``pyarrow.compute``, keep the
latest duplicate, group with ``Table.group_by``, write three Parquet files.

Usage: python bench/floor_pyarrow.py LANDING.csv OUT_DIR
Prints one JSON line: {"wall": seconds, "maxrss_mb": peak RSS, "rows": ...}.
"""

import csv
import json
import os
import resource
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HEADERS = {
    "so number": "so_number", "line": "line", "order date": "order_date",
    "customer id": "customer_id", "customer name": "customer_name", "region": "region",
    "sku": "sku", "qty": "qty", "unit price": "unit_price", "currency": "currency",
    "status": "status", "last modified": "last_modified",
}
REQUIRED = ["so_number", "line", "order_date", "customer_id", "sku", "qty", "unit_price",
            "currency", "status", "last_modified"]
REGIONS = ["North", "South", "East", "West"]
STATUSES = ["OPEN", "SHIPPED", "INVOICED", "CANCELLED"]
MONEY = pa.decimal128(18, 2)


def read(path: str) -> pa.Table:
    """The contract's columns as trimmed text, named by the silver names."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle))
    positional = [f"f{i}" for i in range(len(header))]
    keep = {f"f{i}": HEADERS[h.strip().casefold()] for i, h in enumerate(header)
            if h.strip().casefold() in HEADERS}
    table = pacsv.read_csv(
        path,
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
        ok = pc.match_substring_regex(col(name), r"^\+?\d{1,18}$|^\+?\d{1,3}(,\d{3}){1,5}$")
        number = pc.cast(pc.if_else(ok, pc.replace_substring(col(name), ",", ""), "0"), pa.int64())
        checks.append((pc.or_(pc.invert(ok), pc.less(number, 1)), f"{name}: not >= 1"))
        values[name] = pc.cast(number, kind)
    for name, fmt in (("order_date", "%m/%d/%Y"), ("last_modified", "%Y-%m-%d %H:%M:%S")):
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
    ok = pc.match_substring_regex(price, r"^\+?\d{1,16}(\.\d{0,2}0*)?$")
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


def latest(silver: pa.Table) -> pa.Table:
    """One row per (so_number, line): greatest last_modified, then latest row."""
    ordered = silver.sort_by([("so_number", "ascending"), ("line", "ascending"),
                              ("last_modified", "ascending"), ("__row__", "ascending")])
    n = ordered.num_rows
    if n == 0:
        return ordered.drop_columns(["__row__"])
    so, line = ordered.column("so_number").combine_chunks(), ordered.column("line").combine_chunks()
    change = pc.or_(pc.not_equal(so.slice(0, n - 1), so.slice(1)),
                    pc.not_equal(line.slice(0, n - 1), line.slice(1)))
    return ordered.filter(pa.concat_arrays([change, pa.array([True])])).drop_columns(["__row__"])


def daily(silver: pa.Table) -> pa.Table:
    kept = silver.filter(pc.not_equal(silver.column("status"), "CANCELLED"))
    keys = ["region", "sku", "currency"]
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


def main(argv) -> int:
    source, out = argv
    start = time.perf_counter()
    silver, rejects = clean(read(source))
    silver = latest(silver)
    os.makedirs(out, exist_ok=True)
    pq.write_table(rejects, os.path.join(out, "rejects.parquet"), compression="zstd")
    pq.write_table(silver, os.path.join(out, "silver.parquet"), compression="zstd")
    gold = daily(silver)
    pq.write_table(gold, os.path.join(out, "gold.parquet"), compression="zstd")
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "maxrss_mb": peak, "silver_rows": silver.num_rows,
                      "rejects": rejects.num_rows, "gold_rows": gold.num_rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
