"""Small exact expressions over a table's columns: the words rules and measures are made of.

An expression is a frozen tree built with ordinary operators::

    col("qty_received") <= col("qty_ordered")           # a row rule
    col("qty_ordered") - col("qty_received")            # a derived column
    greatest(col("on_hand") - col("allocated"), 0)      # a measure's value
    col("expected_date") < business_date()              # a measure's filter
    total("debit").eq(total("credit"))                  # a rule over groups of rows

``==`` and ``!=`` keep their Python meaning (declarations compare as data);
equality inside an expression is spelled ``.eq()`` / ``.ne()``. Arithmetic is
exact: whole numbers stay int64, anything touching a decimal is decimal with
pyarrow's overflow-checked kernels, never a float. A comparison with a null
(an empty optional field) is null: a rule then holds and a filter drops the
row, as in SQL. :func:`evaluate` runs a tree over a pyarrow table in whole
columns; :func:`type_of` tells the type it yields without data.
"""

import dataclasses
import datetime as dt
import decimal
from typing import Callable, FrozenSet, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc

#: the precision every declared decimal has (``decimal128(18, scale)``)
PRECISION = 18


class Expr:
    """Base of every node: the operators that build trees."""

    def __add__(self, other): return Arith("+", self, wrap(other))
    def __radd__(self, other): return Arith("+", wrap(other), self)
    def __sub__(self, other): return Arith("-", self, wrap(other))
    def __rsub__(self, other): return Arith("-", wrap(other), self)
    def __mul__(self, other): return Arith("*", self, wrap(other))
    def __rmul__(self, other): return Arith("*", wrap(other), self)
    def __lt__(self, other): return Compare("<", self, wrap(other))
    def __le__(self, other): return Compare("<=", self, wrap(other))
    def __gt__(self, other): return Compare(">", self, wrap(other))
    def __ge__(self, other): return Compare(">=", self, wrap(other))
    def __and__(self, other): return Logic("and", self, wrap(other))
    def __or__(self, other): return Logic("or", self, wrap(other))
    def __xor__(self, other): return Logic("xor", self, wrap(other))
    def __invert__(self): return Not(self)

    def eq(self, other) -> "Expr":
        """``self == other`` inside an expression."""
        return Compare("==", self, wrap(other))

    def ne(self, other) -> "Expr":
        """``self != other`` inside an expression."""
        return Compare("!=", self, wrap(other))

    def isin(self, *values) -> "Expr":
        """True where the value is one of ``values``."""
        return IsIn(self, tuple(values))

    def __bool__(self):
        raise TypeError("an expression has no truth value: combine rules with &, | and ^, "
                        "not with and/or")


@dataclasses.dataclass(frozen=True)
class Col(Expr):
    """A column's value, row by row."""

    name: str


@dataclasses.dataclass(frozen=True)
class Lit(Expr):
    """A constant, the same on every row."""

    value: object


@dataclasses.dataclass(frozen=True)
class BusinessDate(Expr):
    """The date the table is built for (D)."""


@dataclasses.dataclass(frozen=True)
class Total(Expr):
    """The sum of a column over a group of rows (in a group rule)."""

    column: str


@dataclasses.dataclass(frozen=True)
class Binary(Expr):
    """An operator between two operands; its kind (a subclass) says how it is typed and run."""

    op: str
    left: Expr
    right: Expr


class Arith(Binary):
    """``+``, ``-`` or ``*``, exact (overflow-checked, never through a float)."""


class Compare(Binary):
    """``<``, ``<=``, ``>``, ``>=``, ``==`` or ``!=``; null where an operand is null."""


class Logic(Binary):
    """``and``, ``or`` or ``xor`` of two conditions (Kleene logic: null is unknown)."""


@dataclasses.dataclass(frozen=True)
class Greatest(Expr):
    """The largest of its arguments, row by row."""

    args: Tuple[Expr, ...]


@dataclasses.dataclass(frozen=True)
class Not(Expr):
    """The negation of a condition."""

    arg: Expr


@dataclasses.dataclass(frozen=True)
class IsIn(Expr):
    """True where the value is one of ``values``."""

    arg: Expr
    values: Tuple[object, ...]


def col(name: str) -> Col:
    """The column ``name`` (a silver column, or an earlier derived one)."""
    return Col(name)


def lit(value) -> Lit:
    """A constant: an int, a ``decimal.Decimal``, a string, a date or a bool."""
    if isinstance(value, float):
        raise TypeError(f"{value!r}: floats are not exact; use decimal.Decimal({str(value)!r})")
    return Lit(value)


def wrap(value) -> Expr:
    return value if isinstance(value, Expr) else lit(value)


def greatest(*args) -> Greatest:
    """The largest of the arguments, row by row (``greatest(x, 0)`` is max(x, 0))."""
    return Greatest(tuple(wrap(a) for a in args))


def total(column: str) -> Total:
    """``sum(column)`` over a group, for :class:`~etl_targets.datasets.base.GroupRule`."""
    return Total(column)


def business_date() -> BusinessDate:
    """The business date D the table is built for."""
    return BusinessDate()


def _children(expr: Expr) -> Tuple[Expr, ...]:
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Greatest):
        return expr.args
    if isinstance(expr, (Not, IsIn)):
        return (expr.arg,)
    return ()


def walk(expr: Expr):
    """Every node of the tree, the root first."""
    yield expr
    for child in _children(expr):
        yield from walk(child)


def columns(expr: Expr) -> FrozenSet[str]:
    """The columns an expression reads (a total's column included)."""
    return frozenset(n.name if isinstance(n, Col) else n.column
                     for n in walk(expr) if isinstance(n, (Col, Total)))


def uses_date(expr: Optional[Expr]) -> bool:
    return expr is not None and any(isinstance(n, BusinessDate) for n in walk(expr))


# --- types -------------------------------------------------------------------


def type_of(expr: Expr, schema: pa.Schema) -> pa.DataType:
    """The type an expression yields over ``schema``; decimals are ``decimal128(18, s)``.

    Raises:
        KeyError: the expression reads a column ``schema`` lacks.
    """
    if isinstance(expr, Col):
        return schema.field(expr.name).type
    if isinstance(expr, Total):
        return _numeric(schema.field(expr.column).type)
    if isinstance(expr, Lit):
        return _literal_type(expr.value)
    if isinstance(expr, BusinessDate):
        return pa.date32()
    if isinstance(expr, (Compare, Logic, Not, IsIn)):
        return pa.bool_()
    kinds = [type_of(child, schema) for child in _children(expr)]
    if not all(pa.types.is_integer(k) or pa.types.is_decimal(k) for k in kinds):
        raise TypeError(f"arithmetic on non-numbers: {expr}")
    if all(pa.types.is_integer(k) for k in kinds):
        return pa.int64()
    scales = [k.scale if pa.types.is_decimal(k) else 0 for k in kinds]
    scale = sum(scales) if isinstance(expr, Arith) and expr.op == "*" else max(scales)
    return pa.decimal128(PRECISION, scale)


def _numeric(kind: pa.DataType) -> pa.DataType:
    return pa.int64() if pa.types.is_integer(kind) else pa.decimal128(PRECISION, kind.scale)


def _literal_type(value) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, decimal.Decimal):
        return pa.decimal128(PRECISION, max(0, -value.as_tuple().exponent))
    if isinstance(value, dt.date):
        return pa.date32()
    return pa.string()


# --- evaluation ----------------------------------------------------------------

_ARITH = {"+": pc.add_checked, "-": pc.subtract_checked, "*": pc.multiply_checked}
_COMPARE = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal,
            "==": pc.equal, "!=": pc.not_equal}
_LOGIC = {"and": pc.and_kleene, "or": pc.or_kleene, "xor": pc.xor}


def evaluate(expr: Expr, table: pa.Table, day: Optional[dt.date] = None,
             total_column: Callable[[str], str] = None) -> pa.Array:
    """The expression over every row of ``table``, as one array (a scalar broadcasts).

    Args:
        expr: the tree.
        table: holds every column the expression reads.
        day: the business date, for :func:`business_date`.
        total_column: where a group's :class:`Total` of a column is held
            (the group rule's aggregated table).
    """
    value = _evaluate(expr, table, day, total_column)
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, table.num_rows)
    return value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value


def _evaluate(expr, table, day, total_column):
    if isinstance(expr, Col):
        return table.column(expr.name)
    if isinstance(expr, Total):
        if total_column is None:
            raise TypeError(f"total({expr.column!r}) is only meaningful in a group rule")
        return table.column(total_column(expr.column))
    if isinstance(expr, Lit):
        return pa.scalar(expr.value, _literal_type(expr.value))
    if isinstance(expr, BusinessDate):
        if day is None:
            raise TypeError("business_date() needs the date the table is built for")
        return pa.scalar(day, pa.date32())
    args = [_evaluate(child, table, day, total_column) for child in _children(expr)]
    if isinstance(expr, Arith):
        return _ARITH[expr.op](*_exact(args))
    if isinstance(expr, Greatest):
        return pc.max_element_wise(*_common(args), skip_nulls=False)
    if isinstance(expr, Compare):
        return _COMPARE[expr.op](*_common(args))
    if isinstance(expr, Logic):
        return _LOGIC[expr.op](*args)
    if isinstance(expr, Not):
        return pc.invert(args[0])
    if isinstance(expr, IsIn):
        return pc.is_in(args[0], value_set=pa.array(expr.values, args[0].type))
    raise TypeError(f"not an expression: {expr!r}")


def _exact(args):
    """Integers as int64; an integer beside a decimal as ``decimal128(19, 0)``."""
    if any(pa.types.is_decimal(a.type) for a in args):
        return [pc.cast(a, pa.decimal128(19, 0)) if pa.types.is_integer(a.type) else a
                for a in args]
    return [pc.cast(a, pa.int64()) if a.type != pa.int64() else a for a in args]


def _common(args):
    """Operands of one type: decimals at the largest scale, without losing a digit."""
    kinds = [a.type for a in args]
    if not any(pa.types.is_decimal(k) for k in kinds):
        if all(pa.types.is_integer(k) for k in kinds):
            return [pc.cast(a, pa.int64()) for a in args]
        return args
    scale = max(k.scale for k in kinds if pa.types.is_decimal(k))
    digits = max((k.precision - k.scale) if pa.types.is_decimal(k) else 19 for k in kinds)
    common = pa.decimal128(min(38, digits + scale), scale)
    return [pc.cast(a, common) for a in args]
