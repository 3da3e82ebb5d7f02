"""Gold declarations: the business tables of a dataset and the days of silver they read.

A :class:`GoldTable` is grouping and :class:`Measure` columns over its
dataset's silver; a :class:`GoldFunction` is a plain typed pyarrow function
of its :class:`Input` tables (silver of any dataset, or a day of another
gold table). Each reads a window of dates: :data:`DAY`, :data:`MONTH_TO_DATE`
or :class:`Trailing` days. :mod:`.gold` interprets them. Each declaration
also says which of its own dataset's silver columns it reads, which the
dataset checks (:mod:`.base`) and the gold tasks prune their reads to.
Importing this module does no I/O.
"""

import dataclasses
import datetime as dt
import inspect
from typing import Callable, FrozenSet, Iterable, Optional, Tuple, Union

import pyarrow as pa

from etl_targets.dates import month_to_date
from etl_targets.datasets.base import DeclarationError, declared_twice
from etl_targets.datasets.expressions import Expr, columns as read_columns


@dataclasses.dataclass(frozen=True)
class Day:
    """Silver of D alone."""

    def dates(self, day: dt.date):
        return [day]


@dataclasses.dataclass(frozen=True)
class MonthToDate:
    """Silver of the first of D's month through D, deduplicated across days."""

    def dates(self, day: dt.date):
        return month_to_date(day)


@dataclasses.dataclass(frozen=True)
class Trailing:
    """Silver of the ``days`` dates ending with D (D-6..D for 7), deduplicated across days."""

    days: int

    def __post_init__(self):
        if self.days < 1:
            raise DeclarationError(f"Trailing({self.days}): a window holds at least one day")

    def dates(self, day: dt.date):
        return [day - dt.timedelta(days=back) for back in range(self.days - 1, -1, -1)]


DAY = Day()
MONTH_TO_DATE = MonthToDate()
Window = Union[Day, MonthToDate, Trailing]


@dataclasses.dataclass(frozen=True)
class Measure:
    """One aggregated gold column.

    Attributes:
        name: output column.
        function: ``count`` (rows), ``count_distinct`` or ``sum`` (0 over no rows).
        column: a silver column, or (for ``sum``) an expression.
        where: only rows where this holds are summed (``overdue_value``).
        type: the output type; counts are int64, sums keep their value's type.
    """

    name: str
    function: str
    column: Union[str, Expr, None] = None
    where: Optional[Expr] = None
    type: Optional[pa.DataType] = None

    def reads(self) -> FrozenSet[str]:
        """The silver columns its value and its filter read."""
        used = set()
        if isinstance(self.column, Expr):
            used |= read_columns(self.column)
        elif self.column:
            used.add(self.column)
        if self.where is not None:
            used |= read_columns(self.where)
        return frozenset(used)

    def problems(self) -> Iterable[str]:
        """What contradicts itself in the measure, as phrases."""
        if self.function not in ("count", "count_distinct", "sum"):
            yield f"measure {self.name}: unknown function {self.function!r}"
        elif self.function != "count" and self.column is None:
            yield f"measure {self.name}: {self.function} needs a column"
        elif self.function == "count_distinct" and not isinstance(self.column, str):
            yield f"measure {self.name}: count_distinct takes a column name"


@dataclasses.dataclass(frozen=True)
class Input:
    """A silver table a gold function reads, over a window (or one day of a gold table).

    Attributes:
        name: the function's parameter that receives it.
        dataset: the dataset's folder (or the Dataset); None: the declaring one.
        window: which dates; several days are deduplicated by that dataset's
            key, the greatest ``latest_by`` winning, a tie going to the later date.
        columns: the columns read (default: all).
        gold: a gold table of that dataset, read instead of its silver
            (``so_daily_sales``); its own day only.
    """

    name: str
    dataset: object = None
    window: Window = DAY
    columns: Optional[Tuple[str, ...]] = None
    gold: Optional[str] = None

    def __post_init__(self):
        if hasattr(self.dataset, "folder"):
            object.__setattr__(self, "dataset", self.dataset.folder)
        if self.gold is not None and not isinstance(self.window, Day):
            raise DeclarationError(f"input {self.name}: gold table {self.gold} is read for its "
                                   f"own day only (window DAY)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GoldTable:
    """A business table declared as grouping and measures over its dataset's silver.

    Attributes:
        name: the lake folder under ``gold/`` (``so_daily_sales``).
        task: the luigi task family (``GoldSO``).
        group_by: grouping keys, also the sort order.
        measures: the aggregated columns.
        window: which dates of silver.
        where: rows kept before grouping.
        pipeline: a CLI subcommand of its own that builds it, instead of
            the dataset's subcommand (``etl-targets all`` builds it too).
    """

    name: str
    task: str
    group_by: Tuple[str, ...]
    measures: Tuple[Measure, ...]
    window: Window = DAY
    where: Optional[Expr] = None
    pipeline: Optional[str] = None

    def own_columns(self) -> FrozenSet[str]:
        """The silver columns grouping, filter and measures read (readers prune the rest)."""
        used = set(self.group_by) | (read_columns(self.where) if self.where is not None else set())
        for measure in self.measures:
            used |= measure.reads()
        return frozenset(used)

    def problems(self) -> Iterable[str]:
        """What contradicts itself in the table, as phrases (columns are the dataset's to check)."""
        yield from declared_twice(f"gold table {self.name} column",
                                  list(self.group_by) + [m.name for m in self.measures])
        for measure in self.measures:
            yield from measure.problems()


@dataclasses.dataclass(frozen=True, kw_only=True)
class GoldFunction:
    """A business table computed by a plain typed pyarrow function.

    ``function(**{input.name: table for each input}, day=D) -> pa.Table``;
    ``day`` is passed only when the function has that parameter.

    Attributes:
        name, task, pipeline: as for :class:`GoldTable`.
        function: a pure function of its inputs.
        inputs: the silver tables it reads, possibly of other datasets.
        schema: the schema the result must have.
    """

    name: str
    task: str
    function: Callable[..., pa.Table]
    inputs: Tuple[Input, ...]
    schema: Optional[pa.Schema] = None
    pipeline: Optional[str] = None

    def __post_init__(self):
        parameters = set(inspect.signature(self.function).parameters)
        names = {i.name for i in self.inputs}
        if parameters - {"day"} != names:
            raise DeclarationError(
                f"gold table {self.name}: {self.function.__name__} takes "
                f"{sorted(parameters)}, its inputs are {sorted(names)} (and optionally day)")

    def own_columns(self) -> FrozenSet[str]:
        """The columns its inputs name of the declaring dataset's silver."""
        return frozenset(c for i in self.inputs if i.dataset is None and i.gold is None
                         for c in (i.columns or ()))

    def problems(self) -> Iterable[str]:
        """Nothing more: a function's inputs are checked when it is declared."""
        return ()
