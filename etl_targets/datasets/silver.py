"""Landing CSV -> silver and rejects: the contract's row rules, vectorised.

Pure functions of a dataset declaration and a byte stream. The file is read
in blocks; each block is validated and typed at once with pyarrow.compute,
so peak memory is the typed day plus one block of text, not the whole file
as strings. The declaration's words apply in order: column rules, rules
across columns, derived columns (per block); deduplication, then rules over
groups of rows (per file). Only a dataset with group rules keeps the raw
text of valid rows until they are judged, since such a rule can still
reject them.
"""

import collections
import concurrent.futures
import dataclasses
import decimal
import functools
import logging
import os
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.base import Dataset, derived_type
from etl_targets.datasets.expressions import columns as read_columns, evaluate
from etl_targets.datasets.runs import SortedRuns
from etl_targets.errors import ContractError
from etl_targets.formats import csv_batches, read_csv_header

log = logging.getLogger(__name__)

ROW = "__row__"
#: prefix of the raw-text columns kept for group rules
RAW = "__raw__"


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


def read_silver(dataset: Dataset, handle: BinaryIO, source: str,
                progress: Optional[Callable[[int], None]] = None) -> SilverResult:
    """Parses, validates, rejects and deduplicates one landing file, in memory.

    :class:`SilverStream` with its output collected: for tests and small
    files; the silver task streams instead.

    Raises:
        ContractError: a file-level problem (rule 4).
    """
    with SilverStream(dataset, handle, source, progress) as stream:
        rejects = pa.concat_tables([dataset.rejects_schema.empty_table(), *stream.rejects()])
        silver = pa.concat_tables([dataset.silver_schema.empty_table(), *stream.silver()])
        return SilverResult(silver, rejects, stream.landed_rows, stream.extra_columns)


class SilverStream:
    """One landing file read once: rejects as they are found, then silver in key order.

    The file is read in blocks, each validated and typed on its own (on
    every core). :meth:`rejects` reads the whole file and yields its rejects
    in row order; :meth:`silver` then yields the deduplicated rows sorted by
    the dedup key. Each block's valid rows are deduplicated and sorted as a
    run (:class:`~etl_targets.datasets.runs.SortedRuns`), and the runs are
    merged, so memory stays a few blocks whatever the size of the file. A
    dataset with group rules is judged whole, in memory: such a rule can
    still reject any valid row, so rejects are known only at the end.

    Args:
        dataset: the declaration.
        handle: binary stream of the landing file (local or S3).
        source: the file name, recorded in rejects and error messages.
        progress: called with the number of records parsed so far after each
            block (a big day reports as it streams).

    Raises:
        ContractError: a file-level problem (rule 4), from the constructor
            (the header) or from :meth:`rejects` (the body).
    """

    def __init__(self, dataset: Dataset, handle: BinaryIO, source: str,
                 progress: Optional[Callable[[int], None]] = None):
        self.dataset, self.source, self._handle, self._progress = dataset, source, handle, progress
        self._names = read_csv_header(handle, source)
        positions, self.extra_columns = match_header(dataset, self._names, source)
        if self.extra_columns:
            log.warning("%s: dropping unknown column(s) %s", source, ", ".join(self.extra_columns))
        self._order = [positions[c.name] for c in dataset.columns]
        self.landed_rows = self.rejected_rows = 0
        self._runs = SortedRuns(dataset.dedup_keys) if streams(dataset) else None
        self._valid: List[Tuple[int, pa.Table]] = []  # without runs: (block, valid rows)
        self._read = False

    def __enter__(self) -> "SilverStream":
        return self

    def __exit__(self, *exc) -> None:
        if self._runs is not None:
            self._runs.close()

    def rejects(self) -> Iterator[pa.Table]:
        """Reads the file; the rejected rows, in row order."""
        judged = self._runs is None and self.dataset.group_rules
        found = [self.dataset.rejects_schema.empty_table()]
        for bad in self._blocks():
            self.rejected_rows += bad.num_rows
            if bad.num_rows and not judged:
                yield bad
            found.append(bad)
        self._read = True
        if judged:  # a group rule may reject rows of any block: in row order at the end
            late = self._judge_groups()
            self.rejected_rows += sum(t.num_rows for t in late)
            yield pa.concat_tables(found + late).sort_by("row_number")

    def silver(self) -> Iterator[pa.Table]:
        """The deduplicated valid rows sorted by the dedup key (after :meth:`rejects`)."""
        if not self._read:
            raise RuntimeError("SilverStream.silver() before rejects() was read")
        if self._runs is not None:
            yield from self._runs.merged(functools.partial(deduplicate, self.dataset))
            return
        silver = self._valid_rows()
        if not self.dataset.group_rules:
            silver = deduplicate(self.dataset, silver, drop_tie_breaker=False)
        yield silver.select(self.dataset.silver_schema.names)

    def _blocks(self) -> Iterator[pa.Table]:
        """Each block's rejects, in order; its valid rows go to the runs (or are kept)."""
        # pyarrow's kernels release the GIL: blocks are validated on every core,
        # a bounded number at a time so memory stays one block per thread.
        workers = os.cpu_count() or 1
        pending: "collections.deque" = collections.deque()
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            # Every column is decoded (extras too), so invalid UTF-8 anywhere is caught.
            batches = csv_batches(self._handle, len(self._names), range(len(self._names)),
                                  self.source)
            for index, batch in enumerate(batches):
                raw = [batch.column(f"f{i}") for i in self._order]
                pending.append(pool.submit(self._clean, index, raw, self.landed_rows + 1))
                self.landed_rows += batch.num_rows
                if self._progress is not None:
                    self._progress(self.landed_rows)
                while len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def _clean(self, index: int, raw: Sequence[pa.Array], first_row: int) -> pa.Table:
        good, bad = clean_batch(self.dataset, raw, first_row, self.source)
        if self._runs is not None:  # a key's winner among this block's rows, sorted by key
            self._runs.add(index, deduplicate(self.dataset, good, drop_tie_breaker=False))
        else:
            self._valid.append((index, good))
        return bad

    def _valid_rows(self) -> pa.Table:
        """Every valid row kept (without runs), in row order; released."""
        valid = [good for _, good in sorted(self._valid, key=lambda pair: pair[0])]
        self._valid = []
        return pa.concat_tables(valid) if valid else _empty(self.dataset, ROW)

    def _judge_groups(self) -> List[pa.Table]:
        """Dedup, then the group rules; keeps the survivors, returns the rows they reject."""
        silver = deduplicate(self.dataset, self._valid_rows(), drop_tie_breaker=False)
        survivors, late = apply_group_rules(self.dataset, silver, self.source)
        self._valid = [(0, survivors)]
        return late


def streams(dataset: Dataset) -> bool:
    """Whether silver of ``dataset`` is merged from sorted runs (no group rules, required keys)."""
    required = {c.name for c in dataset.columns if c.required}
    return (bool(dataset.dedup_keys) and not dataset.group_rules
            and set(dataset.dedup_keys) <= required)


def _empty(dataset: Dataset, row_column: str) -> pa.Table:
    schema = dataset.silver_schema.append(pa.field(row_column, pa.int64()))
    if dataset.group_rules:
        for column in dataset.columns:
            schema = schema.append(pa.field(RAW + column.name, pa.string()))
    return schema.empty_table()


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
    values, broken, invalid = _typed_columns(dataset, raw, count)
    rows = pa.array(numpy.arange(first_row, first_row + count, dtype=numpy.int64))
    table = pa.table(values + [rows], names=[c.name for c in dataset.columns] + [ROW])
    broken += _row_rules(dataset, table, invalid)
    table, broken = _add_derived(dataset, table, broken)
    bad = _any([mask for mask, _ in broken], count)
    table = table.filter(pc.invert(bad))
    if dataset.group_rules:  # a group rule may still reject a valid row: keep its text
        for column, text in zip(dataset.columns, raw):
            table = table.append_column(RAW + column.name, pc.filter(text, pc.invert(bad)))
    rejected = [pc.filter(column, bad) for column in list(raw) + [rows]]
    size = len(rejected[-1])
    rejects = pa.table(rejected[:-1] + [pa.repeat(pa.scalar(source, pa.string()), size),
                                        rejected[-1], _reasons(broken, bad)],
                       schema=dataset.rejects_schema)
    return table, rejects


def _typed_columns(dataset: Dataset, raw: Sequence[pa.Array], count: int):
    """Each column trimmed, typed and checked by its own rules.

    Returns:
        (typed values, [(rows breaking a rule, the rule's name)], and per
        column the rows where it broke one: only when row rules need it).
    """
    broken: List[Tuple[pa.Array, str]] = []
    values = []
    invalid: Dict[str, pa.Array] = {}
    for column, text in zip(dataset.columns, raw):
        trimmed = pc.utf8_trim_whitespace(text)
        if column.if_empty is not None:  # "empty means 0": the stand-in is checked like a value
            trimmed = pc.if_else(pc.equal(trimmed, ""), column.if_empty, trimmed)
        empty = pc.equal(trimmed, "")
        typed, problems = column.type.parse(trimmed)
        label = column.header
        found = len(broken)
        if column.required:
            broken.append((empty, f"{label}: required"))
        else:  # an allowed empty value is null in silver
            typed = pc.if_else(empty, pa.scalar(None, typed.type), typed)
        broken += [(pc.and_not(mask, empty), f"{label}: {rule}") for mask, rule in problems]
        values.append(typed)
        if dataset.rules:
            invalid[column.name] = _any([mask for mask, _ in broken[found:]], count)
    return values, broken, invalid


def _any(masks: List[pa.Array], count: int) -> pa.Array:
    """Rows where any mask holds (a null is no)."""
    return functools.reduce(pc.or_, (pc.fill_null(mask, False) for mask in masks),
                            pa.repeat(False, count))


def _row_rules(dataset: Dataset, table: pa.Table, invalid: Dict[str, pa.Array]):
    """Each rule across columns, judged where the columns it reads are valid; null holds."""
    for rule in dataset.rules:
        unjudged = _any([invalid[name] for name in sorted(read_columns(rule.holds))],
                        table.num_rows)
        holds = pc.fill_null(evaluate(rule.holds, table), True)
        yield pc.and_not(pc.invert(holds), unjudged), rule.reason


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
        kind = derived_type(derived, table.schema)
        value = evaluate(derived.expression, table)  # exact: checked int64 or decimal128(<=38)
        too_large = pc.fill_null(_beyond(value, kind), False)
        broken = broken + [(too_large, f"{derived.name}: too large")]
        fitted = pc.if_else(too_large, pa.scalar(0, value.type), value)
        table = table.append_column(pa.field(derived.name, kind), pc.cast(fitted, kind))
    return _move_last(table, ROW), broken


def _beyond(value: pa.Array, kind: pa.DataType) -> pa.Array:
    """Where ``value`` cannot be held by ``kind`` (a decimal's whole digits, an integer's width)."""
    if pa.types.is_decimal(kind):
        if pa.types.is_integer(value.type):
            value = pc.cast(value, pa.decimal128(19, 0))
        limit = decimal.Decimal(10) ** (kind.precision - kind.scale)
        if value.type.precision - value.type.scale <= kind.precision - kind.scale:
            return pa.repeat(False, len(value))
        return pc.greater_equal(pc.abs(value), pa.scalar(limit, value.type))
    if pa.types.is_integer(kind) and kind.bit_width < 64:
        bound = 2 ** (kind.bit_width - 1)
        return pc.or_(pc.less(value, -bound), pc.greater_equal(value, bound))
    return pa.repeat(False, len(value))


def apply_group_rules(dataset: Dataset, table: pa.Table, source: str):
    """Judges each group rule on the deduplicated rows; returns (survivors, rejects tables).

    ``table`` carries the row numbers (``__row__``) and the raw text of every
    row, so a row a group rule rejects reaches the rejects table like any other.
    """
    late = []
    for rule in dataset.group_rules:
        failing = _failing_scopes(rule, table)
        if failing.num_rows == 0:
            continue
        hit = _rows_in(table, failing, list(rule.scope))
        late.append(_raw_rejects(dataset, table.filter(hit), source, rule.reason))
        table = table.filter(pc.invert(hit))
    return table, late


def _failing_scopes(rule, table: pa.Table) -> pa.Table:
    """The distinct ``reject_by`` keys of the groups where the rule does not hold."""
    keys = list(rule.group_by)
    summed = sorted(n for n in read_columns(rule.holds) if n not in keys)
    work = table.select(keys)
    for name in summed:  # integers are summed as decimals: exact, never wrapped
        values = table.column(name)
        work = work.append_column(name, pc.cast(values, pa.decimal128(38, 0))
                                  if pa.types.is_integer(values.type) else values)
    grouped = work.group_by(keys, use_threads=False).aggregate([(n, "sum") for n in summed])
    holds = pc.fill_null(evaluate(rule.holds, grouped, total_column=lambda n: f"{n}_sum"), True)
    failing = grouped.filter(pc.invert(holds)).select(list(rule.scope))
    return failing.group_by(list(rule.scope), use_threads=False).aggregate([])


def _rows_in(table: pa.Table, keys: pa.Table, scope: List[str]) -> pa.Array:
    """Where a row's ``scope`` values are among ``keys`` (in row order)."""
    index = table.select(scope).append_column("__index__", pa.array(numpy.arange(table.num_rows)))
    flags = keys.append_column("__hit__", pa.repeat(True, keys.num_rows))
    joined = index.join(flags, keys=scope, join_type="left outer").sort_by("__index__")
    return pc.fill_null(joined.column("__hit__"), False).combine_chunks()


def _raw_rejects(dataset: Dataset, rows: pa.Table, source: str, reason: str) -> pa.Table:
    size = rows.num_rows
    columns = [rows.column(RAW + c.name) for c in dataset.columns]
    columns += [pa.repeat(pa.scalar(source, pa.string()), size), rows.column(ROW),
                pa.repeat(pa.scalar(reason, pa.string()), size)]
    return pa.table(columns, schema=dataset.rejects_schema)


def _move_last(table: pa.Table, name: str) -> pa.Table:
    names = [n for n in table.column_names if n != name] + [name]
    return table.select(names)


def deduplicate(dataset: Dataset, table: pa.Table, tie_breaker: str = ROW,
                drop_tie_breaker: bool = True) -> pa.Table:
    """Keeps one row per dedup key: greatest ``latest_by``, then greatest tie-breaker.

    Sorting by key, latest_by and tie-breaker puts each key's winner last in
    its run; a row wins when the next row has a different key. The result is
    sorted by the key and the helper column is dropped (unless told not to).
    """
    keys = list(dataset.dedup_keys)
    latest = [dataset.latest_by] if dataset.latest_by else []
    ordering = [(k, "ascending") for k in keys + latest + [tie_breaker]]
    count = table.num_rows
    dropped = [tie_breaker] if drop_tie_breaker else []
    if count == 0:
        return table.drop_columns(dropped)
    # Sort indices on the few ordering columns, find each key's last row on
    # the sorted keys, then gather whole rows once: only the winners.
    order = pc.sort_indices(table.select([k for k, _ in ordering]), sort_keys=ordering)
    changes = pa.repeat(False, count - 1)
    for key in keys:
        column = pc.take(table.column(key), order).combine_chunks()
        changes = pc.or_(changes, pc.not_equal(column.slice(0, count - 1), column.slice(1)))
    winners = pa.concat_arrays([changes, pa.array([True])])
    return table.take(pc.filter(order, winners)).drop_columns(dropped)
