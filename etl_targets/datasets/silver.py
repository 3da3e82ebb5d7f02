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

import dataclasses
import functools
import logging
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
import pyarrow as pa
import pyarrow.compute as pc

from etl_targets.datasets.base import Dataset
from etl_targets.datasets.blocks import RAW, ROW, clean_batch
from etl_targets.datasets.expressions import columns as read_columns, evaluate
from etl_targets.datasets.sorted_runs import SortedRuns
from etl_targets.datasets.threads import ordered_map
from etl_targets.errors import ContractError
from etl_targets.formats import csv_batches, read_csv_header

log = logging.getLogger(__name__)



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
    run (:class:`~etl_targets.datasets.sorted_runs.SortedRuns`), and the runs are
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
        # Every column is decoded (extras too), so invalid UTF-8 anywhere is caught.
        batches = csv_batches(self._handle, len(self._names), range(len(self._names)),
                              self.source)

        def numbered() -> Iterator[tuple]:
            for index, batch in enumerate(batches):
                first_row = self.landed_rows + 1
                self.landed_rows += batch.num_rows
                if self._progress is not None:
                    self._progress(self.landed_rows)
                yield index, [batch.column(f"f{i}") for i in self._order], first_row

        # pyarrow's kernels release the GIL: blocks are validated on every core,
        # a bounded number at a time so memory stays one block per thread.
        yield from ordered_map(lambda job: self._clean(*job), numbered())

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
