"""Landing CSV -> silver and rejects: the contract's row rules, vectorised.

Pure functions of a dataset declaration and a byte stream. The file is read
in blocks; each block is validated and typed at once with pyarrow.compute,
so peak memory is the typed day plus one block of text, not the whole file
as strings.
"""

import collections
import concurrent.futures
import dataclasses
import decimal
import functools
import logging
import os
from typing import BinaryIO, Dict, List, Sequence, Tuple

import numpy
import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.base import Dataset
from etl_targets.errors import ContractError
from etl_targets.formats import csv_batches, read_csv_header

log = logging.getLogger(__name__)

ROW = "__row__"


@dataclasses.dataclass
class SilverResult:
    """What one landing file becomes.

    Attributes:
        silver: valid, typed, deduplicated rows (the dataset's silver schema).
        rejects: rejected rows as text with source, row number and reason.
        landed_rows: data records read (valid + rejected, before dedup).
        extra_columns: unknown header names that were dropped.
    """

    silver: pa.Table
    rejects: pa.Table
    landed_rows: int
    extra_columns: List[str]


def match_header(dataset: Dataset, names: Sequence[str], source: str) -> Tuple[Dict[str, int], List[str]]:
    """Maps each contract column to its position in the file's header.

    Headers match after trimming and case-folding, in any order.

    Returns:
        (silver name -> position, unknown header names).

    Raises:
        ContractError: a contract column is missing or appears twice.
    """
    wanted = {c.header.strip().casefold(): c.name for c in dataset.columns}
    positions: Dict[str, int] = {}
    extras: List[str] = []
    for index, raw in enumerate(names):
        name = wanted.get(raw.strip().casefold())
        if name is None:
            extras.append(raw.strip())
        elif name in positions:
            raise ContractError(source, f"header has column {raw.strip()!r} twice")
        else:
            positions[name] = index
    missing = [c.header for c in dataset.columns if c.name not in positions]
    if missing:
        raise ContractError(source, "header lacks required column(s): " + ", ".join(missing))
    return positions, extras


def read_silver(dataset: Dataset, handle: BinaryIO, source: str) -> SilverResult:
    """Parses, validates, rejects and deduplicates one landing file.

    Args:
        dataset: the declaration.
        handle: binary stream of the landing file (local or S3).
        source: the file name, recorded in rejects and error messages.

    Raises:
        ContractError: a file-level problem (rule 4).
    """
    names = read_csv_header(handle, source)
    positions, extras = match_header(dataset, names, source)
    if extras:
        log.warning("%s: dropping unknown column(s) %s", source, ", ".join(extras))
    order = [positions[c.name] for c in dataset.columns]
    valid: List[pa.Table] = []
    rejected: List[pa.Table] = []
    landed = 0
    # pyarrow's kernels release the GIL: blocks are validated on every core,
    # a bounded number at a time so memory stays one block per thread.
    workers = os.cpu_count() or 1
    pending: "collections.deque" = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        # Every column is decoded (extras too), so invalid UTF-8 anywhere is caught.
        for batch in csv_batches(handle, len(names), range(len(names)), source):
            raw = [batch.column(f"f{i}") for i in order]
            pending.append(pool.submit(clean_batch, dataset, raw, landed + 1, source))
            landed += batch.num_rows
            while len(pending) > workers:
                _collect(pending.popleft(), valid, rejected)
        while pending:
            _collect(pending.popleft(), valid, rejected)
    silver = pa.concat_tables(valid) if valid else _empty(dataset.silver_schema, ROW)
    rejects = (pa.concat_tables(rejected) if rejected
               else dataset.rejects_schema.empty_table())
    return SilverResult(deduplicate(dataset, silver), rejects, landed, extras)


def _collect(future, valid: List[pa.Table], rejected: List[pa.Table]) -> None:
    good, bad = future.result()
    valid.append(good)
    rejected.append(bad)


def _empty(schema: pa.Schema, row_column: str) -> pa.Table:
    return schema.append(pa.field(row_column, pa.int64())).empty_table()


def clean_batch(dataset: Dataset, raw: Sequence[pa.Array], first_row: int,
                source: str) -> Tuple[pa.Table, pa.Table]:
    """Validates and types one block of records.

    Args:
        dataset: the declaration.
        raw: text of each contract column, in ``dataset.columns`` order.
        first_row: 1-based data row number of the block's first record.
        source: file name for the rejects table.

    Returns:
        (valid rows typed, with their row number in ``__row__``; rejects).
    """
    count = len(raw[0]) if raw else 0
    broken: List[Tuple[pa.Array, str]] = []  # (rows breaking a rule, the rule's name)
    values = []
    for column, text in zip(dataset.columns, raw):
        trimmed = pc.utf8_trim_whitespace(text)
        empty = pc.equal(trimmed, "")
        typed, problems = column.type.parse(trimmed)
        label = column.header
        if column.required:
            broken.append((empty, f"{label}: required"))
        else:  # an allowed empty value is null in silver
            typed = pc.if_else(empty, pa.scalar(None, typed.type), typed)
        broken += [(pc.and_not(mask, empty), f"{label}: {rule}") for mask, rule in problems]
        values.append(typed)
    rows = pa.array(numpy.arange(first_row, first_row + count, dtype=numpy.int64))
    table = pa.table(values + [rows], names=[c.name for c in dataset.columns] + [ROW])
    table, broken = _add_derived(dataset, table, broken)
    bad = functools.reduce(pc.or_, (pc.fill_null(mask, False) for mask, _ in broken),
                           pa.repeat(False, count))
    table = table.filter(pc.invert(bad))
    rejected = [pc.filter(column, bad) for column in list(raw) + [rows]]
    size = len(rejected[-1])
    rejects = pa.table(rejected[:-1] + [pa.repeat(pa.scalar(source, pa.string()), size),
                                        rejected[-1], _reasons(broken, bad)],
                       schema=dataset.rejects_schema)
    return table, rejects


def _reasons(broken: List[Tuple[pa.Array, str]], bad: pa.Array) -> pa.Array:
    """Every rule each rejected row breaks, joined with "; " (rejected rows only: few)."""
    where = pc.indices_nonzero(bad)
    texts: List[List[str]] = [[] for _ in range(len(where))]
    for mask, rule in broken:
        for position, hit in enumerate(pc.take(pc.fill_null(mask, False), where).to_pylist()):
            if hit:
                texts[position].append(rule)
    return pa.array(["; ".join(parts) for parts in texts], pa.string())


def _add_derived(dataset: Dataset, table: pa.Table, broken: List[Tuple[pa.Array, str]]):
    """Appends exact derived columns; a result too large for its type rejects the row."""
    for derived in dataset.derived:
        left = pc.fill_null(table.column(derived.left), 0)
        if pa.types.is_integer(left.type):
            left = pc.cast(left, pa.decimal128(19, 0))
        right = pc.fill_null(table.column(derived.right), 0)
        product = pc.multiply_checked(left, right)  # decimal128(38, s): cannot overflow
        limit = pa.scalar(decimal.Decimal(10) ** (derived.type.precision - derived.type.scale),
                          product.type)
        too_large = pc.greater_equal(pc.abs(product), limit)
        broken = broken + [(too_large, f"{derived.name}: too large")]
        fitted = pc.if_else(too_large, pa.scalar(0, product.type), product)
        table = table.append_column(pa.field(derived.name, derived.type),
                                    pc.cast(fitted, derived.type))
    return _move_last(table, ROW), broken


def _move_last(table: pa.Table, name: str) -> pa.Table:
    names = [n for n in table.column_names if n != name] + [name]
    return table.select(names)


def deduplicate(dataset: Dataset, table: pa.Table, tie_breaker: str = ROW) -> pa.Table:
    """Keeps one row per dedup key: greatest ``latest_by``, then greatest tie-breaker.

    Sorting by key, latest_by and tie-breaker puts each key's winner last in
    its run; a row wins when the next row has a different key. The result is
    sorted by the key and the helper column is dropped.
    """
    keys = list(dataset.dedup_keys)
    ordering = [(k, "ascending") for k in keys + [dataset.latest_by, tie_breaker]]
    count = table.num_rows
    if count == 0:
        return table.drop_columns([tie_breaker])
    # Sort indices on the few ordering columns, find each key's last row on
    # the sorted keys, then gather whole rows once: only the winners.
    order = pc.sort_indices(table.select([k for k, _ in ordering]), sort_keys=ordering)
    changes = pa.repeat(False, count - 1)
    for key in keys:
        column = pc.take(table.column(key), order).combine_chunks()
        changes = pc.or_(changes, pc.not_equal(column.slice(0, count - 1), column.slice(1)))
    winners = pa.concat_arrays([changes, pa.array([True])])
    return table.take(pc.filter(order, winners)).drop_columns([tie_breaker])
