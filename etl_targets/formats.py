"""File formats: Parquet bytes and landing CSV streams, via pyarrow.

Sits between storage (bytes and file objects) and datasets (tables): it
turns one into the other and translates pyarrow's errors about a landing
file into :class:`ContractError` naming the file.
"""

import concurrent.futures
import csv
import io
import threading
from typing import BinaryIO, Callable, Iterable, Iterator, List, Optional, Sequence

import numpy
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from etl_targets.errors import ContractError

BOM = b"\xef\xbb\xbf"
#: Read size while looking for the end of the header row.
HEADER_CHUNK = 1 << 20
#: The longest header row read (a legal header may be megabytes: huge unknown
#: column names); beyond it the file is refused rather than held in memory.
HEADER_SCAN_LIMIT = 64 << 20
#: pyarrow CSV block size: large enough to be fast, small enough that one
#: block of text columns stays a small fraction of a day's typed table.
CSV_BLOCK_SIZE = 8 << 20
#: blocks the CSV reader may read ahead of the batches taken: pyarrow's
#: background reader would queue up to 32 (256 MiB of 8 MiB blocks)
READ_AHEAD_BLOCKS = 3
#: the longest a read waits for a batch to be taken (a record longer than the
#: blocks read ahead needs more reads first: it is slowed, never stuck)
READ_AHEAD_WAIT = 5.0
#: rows per Parquet row group of a table written as a stream (:func:`write_parquet`)
ROW_GROUP_ROWS = 1 << 17
#: How every Parquet file of the lake is written. Snappy, the format's usual
#: default (pyarrow, Spark, DuckDB): on a 2M-row day it encodes ~10% faster
#: than zstd for files ~30% larger, and it decodes faster for the gold tables
#: and month-to-date readers that read silver back; a lake's bytes are cheap.
PARQUET_OPTIONS = {"compression": "snappy"}


def parquet_options(schema: pa.Schema) -> dict:
    """:data:`PARQUET_OPTIONS`, and which columns are dictionary-encoded.

    Amounts (decimals) and instants (timestamps) are nearly all distinct:
    pyarrow would build a dictionary for each of their pages only to give it
    up: skipping it saves ~15% of a big day's encoding CPU, for files ~12%
    larger (on a 2M-row day's silver).
    Every other column (codes, names, keys, dates, counts) repeats and keeps
    its dictionary, as pyarrow would choose.
    """
    repeating = [field.name for field in schema
                 if not (pa.types.is_decimal(field.type) or pa.types.is_timestamp(field.type))]
    return {**PARQUET_OPTIONS, "use_dictionary": repeating}


def to_parquet_bytes(table: pa.Table) -> bytes:
    """Serialises a table as one Parquet file in memory."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **parquet_options(table.schema))
    return sink.getvalue().to_pybytes()


def write_parquet(handle: BinaryIO, schema: pa.Schema, tables: Iterable[pa.Table],
                  row_group_rows: int = ROW_GROUP_ROWS) -> int:
    """Writes a stream of tables into ``handle`` as one Parquet file; returns the rows written.

    Row groups hold ``row_group_rows`` rows (the last fewer) however the
    stream is cut, so memory is two row groups and the bytes depend only on
    the rows. A stream of at most ``row_group_rows`` rows gives the same
    bytes as :func:`to_parquet_bytes` of its table. Each row group is
    encoded and compressed in a thread of its own while the stream makes the
    next (pyarrow releases the GIL): producing and writing use two cores.
    """
    written = 0
    with pq.ParquetWriter(handle, schema, **parquet_options(schema)) as writer, _OneBehind() as behind:
        for rows in _row_groups(schema, tables, row_group_rows):
            rows = rows.combine_chunks()  # here: the writer's thread is the busier one
            behind.submit(lambda rows=rows: writer.write_table(rows))
            written += rows.num_rows
    return written


def _row_groups(schema: pa.Schema, tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    """The stream's rows cut into tables of ``size`` rows, the last fewer (at least one table)."""
    pending: List[pa.Table] = []
    held = emitted = 0
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= size:
            rows = pa.concat_tables(pending)
            yield rows.slice(0, size)
            pending, held, emitted = [rows.slice(size)], held - size, emitted + 1
    if held or not emitted:
        yield pa.concat_tables(pending or [schema.empty_table()])


class _OneBehind:
    """Runs jobs in one background thread, in order, at most one at a time.

    :meth:`submit` first waits for the previous job (raising its error), so
    one job runs while the caller prepares the next. Leaving the block waits
    for the last job; its error is raised unless another is already on its way.
    """

    def __enter__(self) -> "_OneBehind":
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._pending: Optional[concurrent.futures.Future] = None
        return self

    def submit(self, job: Callable[[], object]) -> None:
        self._wait()
        self._pending = self._pool.submit(job)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __exit__(self, kind, *exc) -> None:
        try:
            if kind is None:
                self._wait()
            elif self._pending is not None:
                concurrent.futures.wait([self._pending])
        finally:
            self._pool.shutdown(wait=True)


def from_parquet_bytes(data: bytes, columns: Optional[Sequence[str]] = None) -> pa.Table:
    """Reads a Parquet file held in memory, decoding only ``columns``."""
    return pq.read_table(pa.BufferReader(data), columns=list(columns) if columns else None)


def parquet_batches(data: bytes, columns: Sequence[str], batch_rows: int = 1 << 16,
                    repeated: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
    """The rows of a Parquet file held in memory, ``columns`` only, a batch at a time.

    Args:
        repeated: text columns whose values repeat (codes, names): decoded
            as dictionaries (as their pages are stored) and cast back, so no
            string is built twice; the batches keep the file's types.
    """
    source = pq.ParquetFile(pa.BufferReader(data))
    if not repeated:
        return source.iter_batches(batch_size=batch_rows, columns=list(columns))
    schema = pa.schema([source.schema_arrow.field(name) for name in columns])
    text = [name for name in repeated if pa.types.is_string(schema.field(name).type)]
    source = pq.ParquetFile(pa.BufferReader(data), read_dictionary=text)
    return (batch.cast(schema) for batch in
            source.iter_batches(batch_size=batch_rows, columns=list(columns)))


def parquet_num_rows(data: bytes) -> int:
    """Row count from the Parquet footer, without decoding any column."""
    return pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows


def read_csv_header(handle: BinaryIO, source: str) -> List[str]:
    """Reads the header row and leaves ``handle`` just after it.

    Blank lines before the header are skipped and a UTF-8 byte-order mark is
    dropped. Reading the header ourselves lets pyarrow parse the body with
    positional names, so header matching (trim, case-fold, any order) stays
    in the dataset layer. The file is read a chunk at a time until the
    header row ends, so a header of any legal length (up to
    :data:`HEADER_SCAN_LIMIT`) is read whole, and fields of any length too.

    Raises:
        ContractError: no header, a header that is not valid UTF-8, or one
            longer than :data:`HEADER_SCAN_LIMIT`.
    """
    start = handle.tell()
    data = bytearray()
    position = 0  # where the row being read (the header, or a blank line before it) starts
    checked, quotes = 0, 0  # data[position:checked] is read, holding this many quotes
    while True:
        newline = data.find(b"\n", checked)
        if newline < 0:
            quotes += data.count(b'"', checked)
            checked = len(data)
            chunk = handle.read(HEADER_CHUNK) if len(data) < HEADER_SCAN_LIMIT else b""
            if chunk:
                data += chunk
                if position == 0 and data.startswith(BOM):
                    position = checked = len(BOM)
                continue
            if len(data) >= HEADER_SCAN_LIMIT:
                raise ContractError(source, f"has a header row longer than "
                                            f"{HEADER_SCAN_LIMIT >> 20} MiB")
            end = len(data)
        else:
            quotes += data.count(b'"', checked, newline)
            checked = newline + 1
            if quotes % 2:  # a line break inside a quoted name: the row goes on
                continue
            end = newline + 1
        line = data[position:end]
        if line.strip():
            break
        if newline < 0:
            raise ContractError(source, "has no header row (the file is empty)")
        position, quotes = end, 0
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractError(source, "is not valid UTF-8 (in the header row)") from None
    handle.seek(start + end)
    return _header_fields(text, source)


def _header_fields(text: str, source: str) -> List[str]:
    """The header's fields, RFC 4180 quoting, however long (the csv module's limit is 128 KiB)."""
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(max(limit, len(text) + 1))
        return next(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ContractError(source, f"has a malformed header row: {exc}") from None
    finally:
        csv.field_size_limit(limit)


def csv_batches(handle: BinaryIO, width: int, keep: Sequence[int], source: str,
                check_utf8: bool = True) -> Iterator[pa.RecordBatch]:
    """Streams the CSV body (after the header) as batches of raw text.

    Args:
        handle: positioned just after the header row.
        width: number of fields in the header; every record must have it.
        keep: positions of the fields to materialise (columns ``f<i>``).
        source: file name for error messages.
        check_utf8: False only to count records of a file whatever its bytes.

    Raises:
        ContractError: malformed CSV (broken quoting included) or invalid
            UTF-8, naming the file.
    """
    names = [f"f{i}" for i in range(width)]
    kept = [names[i] for i in keep]
    value_type = pa.string() if check_utf8 else pa.binary()
    paced = _PacedReader(handle, _QuotingCheck(source, handle.tell()) if check_utf8 else None)
    try:
        reader = pacsv.open_csv(
            paced,
            read_options=pacsv.ReadOptions(column_names=names, block_size=CSV_BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True,
                                             invalid_row_handler=_skip_blank_rows),
            convert_options=pacsv.ConvertOptions(
                column_types={name: value_type for name in kept}, include_columns=kept,
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                check_utf8=check_utf8),
        )
        for batch in reader:
            paced.taken()
            yield batch
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return  # a header and no records: a valid day with zero rows
        raise ContractError(source, _csv_problem(exc)) from exc


class _PacedReader(io.RawIOBase):
    """The landing stream, read at most :data:`READ_AHEAD_BLOCKS` blocks ahead of the batches taken.

    Closing it leaves the stream open: its owner closes it.
    """

    def __init__(self, handle: BinaryIO, quoting: Optional["_QuotingCheck"] = None):
        super().__init__()
        self._handle = handle
        self._quoting = quoting
        self._permits = threading.Semaphore(READ_AHEAD_BLOCKS)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._permits.acquire(timeout=READ_AHEAD_WAIT)
        data = self._handle.read(size)
        if self._quoting is not None:
            self._quoting.feed(data)  # raises ContractError, which pyarrow passes on
        return data

    def taken(self) -> None:
        """One batch was taken: one more block may be read."""
        self._permits.release()


class _QuotingCheck:
    """Refuses what pyarrow's CSV reader would quietly repair: broken RFC 4180 quoting.

    pyarrow joins text after a closing quote to the field (``"x"y`` reads as
    ``xy``) and keeps a quote inside an unquoted field (``ab"c``); both are a
    guess at what the writer meant, so the file fails instead. Every quote
    of a well-formed file either opens a field (after a comma, a line break
    or the start), closes one (before a comma, a line break or the end), or
    is half of a doubled quote; quotes alternate between opening and
    closing whatever the doubled ones (each pair opens and closes), so the
    parity of the quotes seen so far says which a quote must be. numpy
    looks only at the quotes of each block, so the check costs one pass of
    the bytes; an unterminated quote is left to pyarrow, which reports it.
    """

    #: the bytes that may stand next to a quote: a comma, a line break, another quote
    _AROUND = numpy.zeros(256, dtype=bool)
    _AROUND[[ord(","), ord("\n"), ord("\r"), ord('"')]] = True

    def __init__(self, source: str, start: int):
        self.source = source
        self._offset = start  # the file offset of the next byte fed
        self._quotes = 0
        self._before = ord("\n")  # the body starts a line
        self._closing_at_end = False  # the last block ended with a closing quote

    def feed(self, data: bytes) -> None:
        if not data:  # the end: a closing quote may end the file
            self._closing_at_end = False
            return
        block = numpy.frombuffer(data, dtype=numpy.uint8)
        if self._closing_at_end:
            self._closing_at_end = False
            if not self._AROUND[block[0]]:
                self._fail(self._offset - 1)
        quotes = numpy.flatnonzero(block == ord('"'))
        if len(quotes):
            odd = self._quotes % 2  # 1: the first quote of this block closes a field
            opening, closing = quotes[odd::2], quotes[1 - odd::2]
            before = numpy.where(opening > 0, block[numpy.maximum(opening - 1, 0)], self._before)
            self._check(opening, self._AROUND[before])
            inside = closing[closing < len(block) - 1]
            self._check(inside, self._AROUND[block[inside + 1]])
            self._closing_at_end = len(inside) < len(closing)
            self._quotes += len(quotes)
        self._before = int(block[-1])
        self._offset += len(block)

    def _check(self, positions, good) -> None:
        if not good.all():
            self._fail(self._offset + int(positions[numpy.argmin(good)]))

    def _fail(self, offset: int) -> None:
        raise ContractError(self.source, f"is not well-formed CSV: broken quoting at byte "
                                         f"{offset + 1} (text after a closing quote, or a quote "
                                         f"inside an unquoted field)")


def _skip_blank_rows(row) -> str:
    """A whitespace-only line is blank (ignored); any other short row is an error."""
    return "skip" if not (row.text or "").strip() else "error"


def _csv_problem(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "UTF8" in text or "UTF-8" in text:
        return "is not valid UTF-8"
    return f"is not well-formed CSV: {text[:200]}"
