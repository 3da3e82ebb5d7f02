"""Declarations: what a dataset is, written once as data.

A :class:`Dataset` names its landing files, its columns and their rules, its
derived columns, its rules across columns and over groups of rows, its
dedup key and its gold tables. The luigi graph, the lake paths, the silver
and rejects schemas and the CLI subcommand are all derived from it, so
adding purchase orders or the general ledger means writing one more
declaration, not new task classes. A declaration that contradicts itself
is refused when it is made. Importing this module does no I/O.

The words, in the order silver applies them:

* :class:`Column`: a landing column, its type (:mod:`.columns`) and whether
  it may be empty (``if_empty`` gives an empty field a value, e.g. ``"0"``);
* :class:`Derived`: an exact computed column (:mod:`.expressions`);
* :class:`RowRule`: a rule across columns, judged where the columns it reads
  are valid, rejecting with ``<header>: <rule>``;
* the dedup key (``dedup_keys``, ``latest_by``);
* :class:`GroupRule`: a rule over groups of the surviving rows.

Gold tables and the windows of dates they read are declared with the words
of :mod:`.gold_tables`; each says which silver columns it reads and what
contradicts itself in it, which the dataset checks with its own columns.

A dataset that does not land as a file names its :class:`HttpSource`
instead of landing columns: an HTTP API serving each date in pages, whose
silver is a pure function of the pages (the FX rates).
"""

import dataclasses
import datetime as dt
import re
import sys
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Tuple, Union

import pyarrow as pa

from etl_targets.dates import erp_stamp
from etl_targets.datasets.expressions import Expr, columns as read_columns, type_of
from etl_targets.errors import ConfigError

if TYPE_CHECKING:  # gold_tables builds on this module (DeclarationError), so only for the names
    from etl_targets.datasets.gold_tables import GoldFunction, GoldTable


class DeclarationError(ConfigError):
    """A declaration contradicts itself, or clashes with one already registered."""


# --- silver ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Column:
    """One landing column and the silver column it becomes.

    Attributes:
        header: the header as the contract spells it (matched after trimming
            and case-folding).
        name: the silver column name.
        type: a column type from :mod:`etl_targets.datasets.columns`.
        required: False when an empty value is allowed (stored as null).
        if_empty: the text an empty field stands for (``"0"``: "empty means
            0"); it is then parsed and checked like any value.
    """

    header: str
    name: str
    type: object
    required: bool = True
    if_empty: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Derived:
    """A computed silver column, exact; a value its type cannot hold rejects the row.

    Attributes:
        name: the silver column.
        expression: over columns and earlier derived columns, e.g.
            ``col("qty") * col("unit_price")``.
        type: the silver type; by default the expression's own
            (``decimal128(18, s)`` for decimals, int64 for whole numbers).
    """

    name: str
    expression: Expr
    type: Optional[pa.DataType] = None


@dataclasses.dataclass(frozen=True)
class RowRule:
    """A rule across columns that every row must satisfy.

    Judged on rows whose columns it reads are valid (a broken field is
    reported for itself); a null value (an empty optional field) satisfies
    it. The reason is ``"<header>: <rule>"``.
    """

    header: str
    rule: str
    holds: Expr

    @property
    def reason(self) -> str:
        return f"{self.header}: {self.rule}"


@dataclasses.dataclass(frozen=True)
class GroupRule:
    """A rule over groups of the rows that survive deduplication.

    Attributes:
        reason: the reject reason, word for word (``journal unbalanced``).
        group_by: the groups the rule is judged on.
        holds: over each group's :func:`~.expressions.total` of columns.
        reject_by: some of ``group_by``: every row sharing these keys with a
            failing group is rejected (default: the rows of the failing group).
    """

    reason: str
    group_by: Tuple[str, ...]
    holds: Expr
    reject_by: Tuple[str, ...] = ()

    @property
    def scope(self) -> Tuple[str, ...]:
        return self.reject_by or self.group_by


# --- landing from an HTTP API ------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSource:
    """A landing that is an HTTP API serving each date in pages, instead of a file.

    ``GET {url}/{path}?date=YYYY-MM-DD&page=N`` (N = 1, 2, ...) with
    ``Authorization: Bearer <token>``; each 200 body is a JSON object whose
    ``next_page`` names the next page (null on the last). A 404 is "not
    published yet" (missing input); 429, 5xx and network failures are retried
    (:mod:`etl_targets.lake.http_source`). Bronze keeps every body byte for
    byte (``bronze/<folder>/date=D/pages.jsonl`` and its manifest); silver is
    ``read(pages, day)``. Such a dataset has no rejects: a page that breaks
    the contract fails its date.

    Attributes:
        url_key: the ``[etl_targets]`` key of the API's base URL
            (``fx_api_url``); the variable ``ETL_<URL_KEY>`` wins.
        token_variable: the environment variable holding the bearer token.
        path: the resource below the URL (``rates``).
        section: the luigi.cfg section of its timeouts, retries and circuit
            breaker (``fx_source``).
        read: ``read(pages, day) -> pa.Table`` of ``schema``, pure; ``pages``
            are ``(number, url, body)``, in order, as bronze landed them. It
            raises ContractError naming the page and the problem.
        schema: the silver schema.
        records: the JSON field holding a page's records (counted in bronze's
            manifest as ``rows``).
        next_page: the JSON field naming the next page.
    """

    url_key: str
    token_variable: str
    path: str
    section: str
    read: Callable[..., pa.Table]
    schema: pa.Schema
    records: str
    next_page: str = "next_page"


#: the bronze file of a dataset landing from an HTTP source
PAGES_FILE = "pages.jsonl"


# --- the dataset -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Dataset:
    """One ERP export (or HTTP source) and everything the lake builds from it.

    Attributes:
        code: upper-case code used in task names (``SO`` -> ``SilverSO``).
        folder: landing and lake folder name (``so``), also its CLI subcommand.
        file_prefix: landing file name prefix (``zheSO``).
        columns: the contract's columns, in contract order.
        source: an HTTP API the dataset lands from instead of a file (then
            no ``file_prefix``, ``columns``, derived columns or rules).
        dedup_keys: a row's identity; duplicates keep the latest.
        latest_by: the column that decides which duplicate is latest (a tie,
            or no such column, goes to the row last in the file).
        gold: the gold tables.
        derived: exact computed columns appended to silver, in order.
        rules: rules across columns, applied after the column rules, in order.
        group_rules: rules over groups of rows, applied after deduplication.
    """

    code: str
    folder: str
    file_prefix: str = ""
    columns: Tuple[Column, ...] = ()
    source: Optional[HttpSource] = None
    dedup_keys: Tuple[str, ...]
    latest_by: Optional[str] = None
    gold: Tuple[Union["GoldTable", "GoldFunction"], ...] = ()
    derived: Tuple[Derived, ...] = ()
    rules: Tuple[RowRule, ...] = ()
    group_rules: Tuple[GroupRule, ...] = ()
    #: the module the declaration was made in (found, not given): named in clashes
    declared_in: str = dataclasses.field(default="", compare=False, repr=False)

    def __post_init__(self):
        if not self.declared_in:  # the caller of Dataset(...): two frames up from here
            caller = sys._getframe(2).f_globals.get("__name__", "")
            object.__setattr__(self, "declared_in", caller)
        problems = list(_problems(self))
        if problems:
            raise DeclarationError(f"dataset {self.folder!r}: " + "; ".join(problems))

    def landing_name(self, day: dt.date) -> str:
        """``zheSO-2026-1-27.csv``: the ERP does not zero-pad (an HTTP source: ``pages.jsonl``)."""
        if self.source is not None:
            return PAGES_FILE
        return f"{self.file_prefix}-{erp_stamp(day)}.csv"

    @property
    def rejects_folder(self) -> str:
        return f"{self.folder}_rejects"

    @property
    def silver_schema(self) -> pa.Schema:
        if self.source is not None:
            return self.source.schema
        schema = pa.schema([pa.field(c.name, c.type.arrow_type) for c in self.columns])
        for derived in self.derived:
            schema = schema.append(pa.field(derived.name, derived_type(derived, schema)))
        return schema

    @property
    def rejects_schema(self) -> pa.Schema:
        fields = [pa.field(c.name, pa.string()) for c in self.columns]
        fields += [pa.field("source_file", pa.string()), pa.field("row_number", pa.int64()),
                   pa.field("reject_reason", pa.string())]
        return pa.schema(fields)

    def gold_table(self, name: str):
        for table in self.gold:
            if table.name == name:
                return table
        raise KeyError(name)


def derived_type(derived: Derived, schema: pa.Schema) -> pa.DataType:
    return derived.type if derived.type is not None else type_of(derived.expression, schema)


#: codes and task names: they become Python class names (``SilverSO``)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: folders, gold table and pipeline names: lake folders and CLI subcommands
_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
#: landing file name prefixes (``zheSO``)
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def _problems(dataset: Dataset) -> Iterable[str]:
    """Everything inconsistent inside one declaration, as phrases."""
    yield from _name_problems(dataset)
    yield from _landing_problems(dataset)
    yield from _column_problems(dataset)
    yield from declared_twice("column", [c.name for c in dataset.columns])
    yield from declared_twice("header", [c.header.strip().casefold() for c in dataset.columns])
    known = {c.name for c in dataset.columns} | (
        set(dataset.source.schema.names) if dataset.source is not None else set())
    for derived in dataset.derived:
        yield from _unknown(f"derived {derived.name}", read_columns(derived.expression), known)
        if derived.name in known:
            yield f"derived {derived.name} is already a column"
        known.add(derived.name)
    yield from _derived_types(dataset)
    landing = {c.name for c in dataset.columns}
    for rule in dataset.rules:  # judged before derived columns exist
        yield from _unknown(f"rule {rule.reason!r}", read_columns(rule.holds), landing)
    ordering = set(dataset.dedup_keys) | ({dataset.latest_by} if dataset.latest_by else set())
    yield from _unknown("dedup key", ordering, known)
    if not dataset.dedup_keys:
        yield "dedup_keys is empty: a row needs an identity"
    for rule in dataset.group_rules:
        used = set(rule.group_by) | set(rule.scope) | read_columns(rule.holds)
        yield from _unknown(f"group rule {rule.reason!r}", used, known)
        if not set(rule.scope) <= set(rule.group_by):
            yield f"group rule {rule.reason!r}: reject_by must be some of group_by"
    yield from declared_twice("gold table", [t.name for t in dataset.gold])
    yield from declared_twice("gold task", [t.task for t in dataset.gold])
    for table in dataset.gold:
        yield from _unknown(f"gold table {table.name}", table.own_columns(), known)
        yield from table.problems()


def _name_problems(dataset: Dataset) -> Iterable[str]:
    """Names are plain words: they become class names, lake folders and file names.

    A folder like ``../x`` would put files outside the lake, and a task name
    with a space would not be a class luigi can name on its command line.
    """
    names = [("code", dataset.code, _IDENTIFIER), ("folder", dataset.folder, _FOLDER)]
    if dataset.source is None:
        names.append(("file_prefix", dataset.file_prefix, _PREFIX))
    for table in dataset.gold:
        names += [("gold table name", table.name, _FOLDER),
                  (f"task of gold table {table.name!r}", table.task, _IDENTIFIER)]
        if table.pipeline is not None:
            names.append((f"pipeline of gold table {table.name!r}", table.pipeline, _FOLDER))
    for what, name, pattern in names:
        if not isinstance(name, str) or not pattern.match(name) or ".." in name:
            yield (f"{what} {name!r} is not a plain name (letters and digits, then also "
                   f"{'_' if pattern is _IDENTIFIER else '_ -' if pattern is _FOLDER else '_ - .'})")


def _column_problems(dataset: Dataset) -> Iterable[str]:
    """Each column names a header, a silver name and a column type instance."""
    for column in dataset.columns:
        label = f"column {column.name!r}"
        if not isinstance(column.header, str) or not column.header.strip():
            yield f"{label}: the header must be a non-empty string"
        if not isinstance(column.name, str) or not _IDENTIFIER.match(column.name):
            yield f"{label}: the silver name must be a plain name (letters, digits, _)"
        kind = column.type
        if isinstance(kind, type) or not all(hasattr(type(kind), a) for a in ("parse", "arrow_type")):
            yield (f"{label}: the type must be a column type such as Text(), Integer() or "
                   f"Money(scale=2), not {kind!r}")
            continue
        for problem in getattr(kind, "problems", lambda: [])():
            yield f"{label}: {type(kind).__name__} {problem}"


def _column_types_valid(dataset: Dataset) -> bool:
    return not any(True for _ in _column_problems(dataset))


def _landing_problems(dataset: Dataset) -> Iterable[str]:
    """A dataset lands as a file (prefix and columns) or from an HTTP source, not both."""
    if dataset.source is None:
        if not dataset.file_prefix or not dataset.columns:
            yield "a dataset needs file_prefix and columns (or an HTTP source)"
        return
    given = [name for name in ("file_prefix", "columns", "derived", "rules", "group_rules")
             if getattr(dataset, name)]
    if given:
        yield f"a dataset landing from an HTTP source has no {', '.join(given)}"


def _derived_types(dataset: Dataset) -> Iterable[str]:
    """A declared derived type must hold every digit its expression yields (never rounded)."""
    if not _column_types_valid(dataset):
        return  # reported for the columns themselves
    try:
        schema = dataset.silver_schema
    except KeyError:  # an unknown column, reported already
        return
    except TypeError as exc:
        yield f"a derived column cannot be typed: {exc}"
        return
    for derived in dataset.derived:
        natural = type_of(derived.expression, schema)
        kind = schema.field(derived.name).type
        if pa.types.is_decimal(natural) and not (pa.types.is_decimal(kind)
                                                 and kind.scale >= natural.scale):
            yield f"derived {derived.name}: {kind} cannot hold {natural} exactly"


def declared_twice(what: str, names) -> Iterable[str]:
    """``<what> '<name>' is declared twice`` for each name already seen: a name means one thing."""
    seen = set()
    for name in names:
        if name in seen:
            yield f"{what} {name!r} is declared twice"
        seen.add(name)


def _unknown(what: str, used, known) -> Iterable[str]:
    missing = sorted(set(used) - set(known))
    if missing:
        yield f"{what} reads unknown column(s) {', '.join(missing)}"
