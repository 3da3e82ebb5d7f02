"""The declaration language, one word per test.

A toy dataset is declared here and fed tiny landing files through the real
``read_silver`` and gold functions: rules across columns, rules over groups
of rows, derived columns, decimals of any scale, windows, measures, gold
functions, and the registry's refusal of a name already taken. No luigi
build runs here (see ``test_datasets_graph.py``).
"""

from __future__ import annotations

import configparser
import datetime as dt
import io
import sys
import types
from decimal import Decimal

import pyarrow as pa
import pytest

import etl_targets
from etl_targets import (DAY, MONTH_TO_DATE, Column, Dataset, DeclarationError, Derived,
                         GoldFunction, GoldTable, GroupRule, Input, Integer, Measure, Money,
                         RowRule, Text, Trailing, business_date, col, greatest, lit, total)
from etl_targets.config import dataset_modules
from etl_targets.datasets import DATASETS, clashes, external, pipelines
from etl_targets.datasets.expressions import evaluate, type_of
from etl_targets.datasets.gold import aggregate, combine, compute
from etl_targets.datasets.silver import read_silver
from etl_targets.errors import EtlError

D = dt.date(2026, 3, 10)
COLUMNS = (
    Column("ID", "id", Text()),
    Column("Kind", "kind", Text()),
    Column("Qty", "qty", Integer(minimum=0)),
    Column("Limit", "limit", Integer(minimum=0)),
    Column("Cost", "cost", Money(precision=18, scale=4, minimum=0)),
    Column("Due", "due", Integer(), required=False),
)
HEADER = "ID,Kind,Qty,Limit,Cost,Due"


def toy(**changes) -> Dataset:
    declared = dict(code="TOYX", folder="toyx", file_prefix="zheTOYX", columns=COLUMNS,
                    dedup_keys=("id",))
    declared.update(changes)
    return Dataset(**declared)


def read(dataset: Dataset, *rows: str, header: str = HEADER):
    data = "\n".join((header,) + rows).encode() + b"\n"
    return read_silver(dataset, io.BytesIO(data), "zheTOYX-2026-3-10.csv")


def reasons(result):
    return result.rejects.column("reject_reason").to_pylist()


def table(dataset: Dataset, *rows: dict) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=dataset.silver_schema)


# --- rules across columns -------------------------------------------------------

NOT_OVER = RowRule("Qty", "must be <= Limit", col("qty") <= col("limit"))


def test_row_rule_rejects_a_row_that_breaks_it_as_header_colon_rule():
    result = read(toy(rules=(NOT_OVER,)), "a,k,3,5,1,", "b,k,6,5,1,")
    assert result.silver.column("id").to_pylist() == ["a"]
    assert reasons(result) == ["Qty: must be <= Limit"]
    assert result.rejects.column("row_number").to_pylist() == [2]


def test_row_rule_is_not_judged_where_a_column_it_reads_is_broken():
    result = read(toy(rules=(NOT_OVER,)), "b,k,x,5,1,")
    assert reasons(result) == ["Qty: not a whole number"]


def test_row_rule_holds_where_a_value_it_reads_is_null():
    rule = RowRule("Due", "must be <= Limit", col("due") <= col("limit"))
    result = read(toy(rules=(rule,)), "a,k,1,5,1,", "b,k,1,5,1,9")
    assert result.silver.column("id").to_pylist() == ["a"]
    assert reasons(result) == ["Due: must be <= Limit"]


def test_row_rules_come_after_the_column_rules_in_declared_order():
    second = RowRule("Limit", "must be > 1", col("limit") > 1)
    result = read(toy(rules=(NOT_OVER, second)), "b,k,6,1,-1,")
    assert reasons(result) == ["Cost: must be >= 0; Qty: must be <= Limit; Limit: must be > 1"]


def test_exclusive_or_rule_rejects_both_and_neither():
    rule = RowRule("Qty/Limit", "exactly one must be non-zero", col("qty").ne(0) ^ col("limit").ne(0))
    result = read(toy(rules=(rule,)), "a,k,1,0,1,", "b,k,0,2,1,", "c,k,1,2,1,", "d,k,0,0,1,")
    assert result.silver.column("id").to_pylist() == ["a", "b"]
    assert result.rejects.column("id").to_pylist() == ["c", "d"]


# --- derived columns and expressions ----------------------------------------------


def test_derived_difference_product_and_greatest_are_exact():
    dataset = toy(derived=(Derived("left", col("limit") - col("qty")),
                           Derived("value", col("left") * col("cost")),
                           Derived("spare", greatest(col("qty") - col("limit"), 0))))
    result = read(dataset, "a,k,3,10,0.3333,", "b,k,12,10,2.5,")
    rows = result.silver.select(["left", "value", "spare"]).to_pylist()
    assert rows == [{"left": 7, "value": Decimal("2.3331"), "spare": 0},
                    {"left": -2, "value": Decimal("-5.0000"), "spare": 2}]
    assert result.silver.schema.field("value").type == pa.decimal128(18, 4)


def test_derived_value_too_large_for_its_type_rejects_the_row():
    dataset = toy(derived=(Derived("value", col("qty") * col("cost")),))
    result = read(dataset, "a,k,100000000000,1,10000000,", "b,k,1,1,1,")
    assert result.silver.column("id").to_pylist() == ["b"]
    assert reasons(result) == ["value: too large"]


def test_expression_types_are_exact_never_float():
    schema = toy().silver_schema
    assert type_of(col("qty") - col("limit"), schema) == pa.int64()
    assert type_of(col("qty") * col("cost"), schema) == pa.decimal128(18, 4)
    assert type_of(col("cost") - lit(Decimal("0.5")), schema) == pa.decimal128(18, 4)
    assert type_of(col("qty") <= col("limit"), schema) == pa.bool_()


def test_a_float_constant_is_refused():
    with pytest.raises(TypeError, match="exact"):
        col("cost") * 0.5


def test_combining_rules_with_and_is_refused():
    with pytest.raises(TypeError, match="&"):
        col("qty") > 0 and col("limit") > 0  # noqa: B015


def test_business_date_compares_with_the_day_built():
    dates = pa.table({"due": pa.array([D - dt.timedelta(days=1), D, None], pa.date32())})
    assert evaluate(col("due") < business_date(), dates, D).to_pylist() == [True, False, None]


# --- decimals of any scale, empty values ----------------------------------------


def test_scale_is_judged_by_value():
    result = read(toy(), 'a,k,1,1,12.5000,', 'b,k,1,1,1.23456,', 'c,k,1,1,"1,234.5",')
    assert result.silver.column("cost").to_pylist() == [Decimal("12.5"), Decimal("1234.5")]
    assert reasons(result) == ["Cost: more than 4 decimal places"]


def test_if_empty_gives_an_empty_field_its_value_and_checks_it():
    columns = COLUMNS[:4] + (Column("Cost", "cost", Money(scale=2, minimum=0), if_empty="0"),
                             COLUMNS[5])
    result = read(toy(columns=columns), "a,k,1,1,,", "b,k,1,1,  ,", "c,k,1,1,-1,")
    assert result.silver.column("cost").to_pylist() == [Decimal("0.00")] * 2
    assert result.rejects.column("cost").to_pylist() == ["-1"]


# --- rules over groups of rows -----------------------------------------------------

BALANCED = GroupRule("kind unbalanced", group_by=("kind", "due"),
                     holds=total("qty").eq(total("limit")), reject_by=("kind",))


def test_group_rule_rejects_every_row_of_a_failing_scope_with_raw_text_and_row_number():
    result = read(toy(group_rules=(BALANCED,)),
                  "a,k1,2,0,1,1", "b,k1,0,2,1,1", "c,k2,1,0,1,1", "d,k2, 3 ,0,1,2", "e,k2,0,1,1,1")
    assert result.silver.column("id").to_pylist() == ["a", "b"]
    assert result.rejects.select(["id", "qty", "row_number", "reject_reason"]).to_pylist() == [
        {"id": "c", "qty": "1", "row_number": 3, "reject_reason": "kind unbalanced"},
        {"id": "d", "qty": " 3 ", "row_number": 4, "reject_reason": "kind unbalanced"},
        {"id": "e", "qty": "0", "row_number": 5, "reject_reason": "kind unbalanced"}]


def test_group_rule_is_judged_after_deduplication():
    result = read(toy(group_rules=(BALANCED,)), "a,k,5,0,1,", "b,k,0,2,1,", "a,k,2,0,1,")
    assert result.silver.column("qty").to_pylist() == [2, 0]
    assert result.rejects.num_rows == 0


def test_group_rule_rejects_come_in_row_order_among_the_others():
    result = read(toy(group_rules=(BALANCED,)), "a,k,1,0,1,", "b,k,x,0,1,")
    assert result.rejects.column("row_number").to_pylist() == [1, 2]


# --- windows -----------------------------------------------------------------------


def test_windows_name_their_dates():
    assert DAY.dates(D) == [D]
    assert MONTH_TO_DATE.dates(D)[0] == dt.date(2026, 3, 1) and MONTH_TO_DATE.dates(D)[-1] == D
    assert Trailing(7).dates(D) == [dt.date(2026, 3, n) for n in range(4, 11)]


def test_a_window_of_no_days_is_refused():
    with pytest.raises(DeclarationError):
        Trailing(0)


def test_several_days_are_combined_latest_first_then_the_later_date():
    dataset = toy(latest_by="limit")
    first = table(dataset, {"id": "a", "kind": "k", "qty": 1, "limit": 5, "cost": Decimal(1)},
                  {"id": "b", "kind": "k", "qty": 1, "limit": 5, "cost": Decimal(1)})
    later = table(dataset, {"id": "a", "kind": "k", "qty": 2, "limit": 4, "cost": Decimal(1)},
                  {"id": "b", "kind": "k", "qty": 3, "limit": 5, "cost": Decimal(1)})
    combined = combine(dataset, [(D, first), (D + dt.timedelta(days=1), later)],
                       ["id", "qty", "limit"])
    assert combined.select(["id", "qty"]).to_pylist() == [{"id": "a", "qty": 1},
                                                          {"id": "b", "qty": 3}]


# --- gold tables -------------------------------------------------------------------

SUMMARY = GoldTable(name="toyx_summary", task="GoldToyX", group_by=("kind",), measures=(
    Measure("rows", "count"),
    Measure("ids", "count_distinct", "id"),
    Measure("qty", "sum", "qty"),
    Measure("big_qty", "sum", "qty", where=col("qty") > 5),
    Measure("spare", "sum", greatest(col("limit") - col("qty"), 0)),
    Measure("due_soon", "sum", "cost", where=col("due") < 3),
))


def test_measures_count_distinct_sum_filtered_sum_and_sum_of_an_expression():
    dataset = toy(gold=(SUMMARY,))
    rows = [{"id": i, "kind": k, "qty": q, "limit": 5, "cost": Decimal("1.5"), "due": due}
            for i, k, q, due in [("a", "x", 1, 1), ("a", "x", 7, None), ("b", "x", 2, 5),
                                 ("c", "y", 3, None)]]
    assert aggregate(dataset, SUMMARY, table(dataset, *rows)).to_pylist() == [
        {"kind": "x", "rows": 3, "ids": 2, "qty": 10, "big_qty": 7, "spare": 7,
         "due_soon": Decimal("1.5000")},
        {"kind": "y", "rows": 1, "ids": 1, "qty": 3, "big_qty": 0, "spare": 2,
         "due_soon": Decimal("0.0000")}]


def test_a_sum_of_whole_numbers_never_wraps_around():
    dataset = toy(gold=(SUMMARY,))
    big = [{"id": i, "kind": "x", "qty": 2 ** 62, "limit": 0, "cost": Decimal(0)} for i in "ab"]
    with pytest.raises((pa.ArrowInvalid, EtlError)):
        aggregate(dataset, SUMMARY, table(dataset, *big))


def by_kind(rows: pa.Table, day) -> pa.Table:
    return pa.table({"kind": rows.column("kind"), "day": pa.array([day] * rows.num_rows,
                                                                  pa.date32())})


def test_a_gold_function_gets_its_inputs_by_name_and_the_day():
    function = GoldFunction(name="toyx_days", task="GoldToyXDays", function=by_kind,
                            inputs=(Input("rows"),))
    dataset = toy(gold=(function,))
    found = compute(dataset, function, {"rows": table(dataset, {"id": "a", "kind": "k", "qty": 1,
                                                                "limit": 1, "cost": Decimal(1)})}, D)
    assert found.to_pylist() == [{"kind": "k", "day": D}]


def test_a_gold_function_returning_another_schema_fails():
    function = GoldFunction(name="toyx_days", task="GoldToyXDays", function=by_kind,
                            inputs=(Input("rows"),), schema=pa.schema([("kind", pa.string())]))
    dataset = toy(gold=(function,))
    with pytest.raises(TypeError, match="declared schema"):
        compute(dataset, function, {"rows": dataset.silver_schema.empty_table()}, D)


def test_a_gold_function_must_take_exactly_its_inputs():
    with pytest.raises(DeclarationError, match="inputs"):
        GoldFunction(name="t", task="GoldT", function=by_kind, inputs=(Input("other"),))


# --- a declaration checks itself ---------------------------------------------------


@pytest.mark.parametrize("changes,phrase", [
    ({"derived": (Derived("x", col("nope") * 2),)}, "unknown column(s) nope"),
    ({"rules": (RowRule("Qty", "r", col("qty") < col("ghost")),)}, "unknown column(s) ghost"),
    ({"dedup_keys": ("ghost",)}, "dedup key reads unknown"),
    ({"gold": (SUMMARY, SUMMARY)}, "declared twice"),
    ({"derived": (Derived("v", col("qty") * col("cost"), pa.decimal128(18, 2)),)},
     "cannot hold"),
    ({"group_rules": (GroupRule("r", ("kind",), total("qty").eq(0), reject_by=("id",)),)},
     "reject_by must be some of group_by"),
])
def test_an_inconsistent_declaration_is_refused(changes, phrase):
    with pytest.raises(DeclarationError, match="toyx") as caught:
        toy(**changes)
    assert phrase in str(caught.value)


def _with_column(column: Column) -> dict:
    return {"columns": COLUMNS[:2] + (column,) + COLUMNS[3:]}


@pytest.mark.parametrize("changes,phrase", [
    (_with_column(Column("Qty", "qty", int)), "column 'qty': the type must be a column type"),
    (_with_column(Column("Qty", "qty", pa.int64())), "the type must be a column type"),
    (_with_column(Column("Qty", "qty", Integer)), "the type must be a column type"),
    (_with_column(Column("Qty", "qty", Integer(bits=16))), "Integer bits must be 32 or 64"),
    (_with_column(Column("Qty", "qty", Money(scale=-1))), "Money scale must be"),
    (_with_column(Column("Qty", "qty", Money(precision=4, scale=6))), "Money scale must be"),
    (_with_column(Column("Qty", "qty", Money(precision=50))), "Money precision must be"),
    (_with_column(Column("Qty", "qty", etl_targets.Choice(()))), "Choice values must be"),
    (_with_column(Column("Qty", "qty", etl_targets.Choice("AB"))), "Choice values must be"),
    (_with_column(Column("Qty", "qty", etl_targets.Choice(("Open", "OPEN")))),
     "one value once case-folded"),
    (_with_column(Column("Qty", "qty", etl_targets.Letters(0))), "Letters length must be"),
    (_with_column(Column(" ", "qty", Integer())), "the header must be a non-empty string"),
    ({"folder": "../../escape"}, "folder '../../escape' is not a plain name"),
    ({"folder": ""}, "folder '' is not a plain name"),
    ({"code": "X X"}, "code 'X X' is not a plain name"),
    ({"file_prefix": "a/b"}, "file_prefix 'a/b' is not a plain name"),
    ({"gold": (GoldTable(name="../gold", task="GoldToyX", group_by=("kind",),
                         measures=(Measure("n", "count"),)),)}, "gold table name '../gold'"),
    ({"gold": (GoldTable(name="toyx_t", task="Gold Toy", group_by=("kind",),
                         measures=(Measure("n", "count"),)),)}, "task of gold table 'toyx_t'"),
])
def test_a_column_type_or_name_that_cannot_work_is_refused_when_declared(changes, phrase):
    with pytest.raises(DeclarationError, match=r"^dataset '") as caught:
        toy(**changes)
    assert phrase in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("table,phrase", [
    (GoldTable(name="toyx_t", task="GoldToyX", group_by=("kind",),
               measures=(Measure("s", "sum", "id"),)), "measure s (sum)"),
    (GoldTable(name="toyx_t", task="GoldToyX", group_by=("kind",),
               measures=(Measure("n", "count"),), where=col("id") > 3), "its filter (where)"),
])
def test_a_table_silver_types_cannot_compute_is_refused_when_registered(table, phrase):
    before = dict(DATASETS)
    with pytest.raises(DeclarationError) as caught:
        etl_targets.register(toy(gold=(table,)))
    message = str(caught.value)
    assert f"gold table toyx_t: {phrase} cannot be computed from the silver types" in message
    assert "\n" not in message and DATASETS == before


def test_a_gold_function_returning_another_schema_says_both_on_one_line():
    function = GoldFunction(name="toyx_f", task="GoldToyXF", function=lambda rows: rows,
                            inputs=(Input("rows", columns=("id", "qty")),),
                            schema=pa.schema([("id", pa.string()), ("total", pa.int64())]))
    with pytest.raises(TypeError) as caught:
        compute(toy(), function, {"rows": table(toy(), {"id": "a", "qty": 1}).select(["id", "qty"])}, D)
    assert str(caught.value) == ("<lambda> returned (id: string, qty: int64), not the declared "
                                 "schema of toyx_f (id: string, total: int64)")


# --- the registry -------------------------------------------------------------------


@pytest.mark.parametrize("changes,taken,holder", [
    ({"folder": "so"}, "subcommand 'so'", "dataset 'so'"),
    ({"code": "SO"}, "code 'SO'", "dataset 'so'"),
    ({"gold": (GoldTable(name="toyx_t", task="GoldSO", group_by=("kind",),
                         measures=(Measure("n", "count"),)),)},
     "task 'GoldSO'", "gold table so_daily_sales of dataset 'so'"),
    ({"gold": (GoldTable(name="po_open_by_vendor", task="GoldToyX", group_by=("kind",),
                         measures=(Measure("n", "count"),)),)},
     "gold folder 'po_open_by_vendor'", "gold table po_open_by_vendor of dataset 'po'"),
    ({"folder": "so_rejects"}, "lake folder 'so_rejects'", "dataset 'so'"),
    ({"folder": "all"}, "subcommand 'all'", "etl-targets all"),
    ({"folder": "status"}, "subcommand 'status'", "etl-targets status"),
    ({"folder": "gc"}, "subcommand 'gc'", "etl-targets gc"),
    ({"folder": "cover"}, "subcommand 'cover'", "inv_days_of_cover"),
])
def test_a_name_already_taken_is_a_clash_naming_both(changes, taken, holder):
    dataset = toy(**changes)
    problems = clashes(dataset, DATASETS.values())
    assert any(taken in p and holder in p and f"dataset {dataset.folder!r}" in p
               for p in problems), problems


def test_register_refuses_a_clash_and_leaves_the_registry_as_it_was():
    before, tasks = dict(DATASETS), dict(etl_targets.TASKS)
    clashing = toy(gold=(GoldTable(name="toyx_t", task="GoldSO", group_by=("kind",),
                                   measures=(Measure("n", "count"),)),))
    with pytest.raises(DeclarationError, match="GoldSO.*so_daily_sales"):
        etl_targets.register(clashing)
    assert DATASETS == before and etl_targets.TASKS == tasks


def test_registering_the_same_declaration_again_changes_nothing():
    classes = etl_targets.register(DATASETS["so"])
    assert classes["GoldSO"] is etl_targets.GoldSO


def test_an_input_of_an_unregistered_dataset_is_refused():
    function = GoldFunction(name="toyx_days", task="GoldToyXDays", function=by_kind,
                            inputs=(Input("rows", "nowhere"),))
    [problem] = clashes(toy(gold=(function,)), DATASETS.values())
    assert "'nowhere'" in problem and "not registered" in problem


def test_each_dataset_each_named_pipeline_and_all_are_subcommands():
    found = {c.name: [t.task for t in c.target.gold] for c in pipelines(DATASETS)}
    assert found["inv"] == ["GoldINV"]  # days of cover has its own: inv never waits for SO
    assert found["cover"] == ["GoldInvCover"]
    assert sorted(found["all"]) == sorted(t.task for d in DATASETS.values() for t in d.gold)


def test_a_dataset_subcommand_builds_the_dataset_itself():
    targets = {c.name: c.target for c in pipelines(DATASETS)}
    assert targets["so"] is DATASETS["so"]
    assert isinstance(targets["inv"], Dataset) and targets["inv"].folder == "inv"


# --- datasets declared elsewhere -----------------------------------------------------


def test_luigi_cfg_names_dataset_modules_separated_by_commas_or_lines():
    config = configparser.ConfigParser()
    config.read_string("[etl_targets]\ndatasets = acme_etl, other:datasets\n  third\n")
    assert dataset_modules(config) == ["acme_etl", "other:datasets", "third"]


def test_a_callable_entry_gives_its_datasets(monkeypatch):
    module = types.ModuleType("toyx_declarations")
    module.datasets = lambda: [toy()]
    monkeypatch.setitem(sys.modules, "toyx_declarations", module)
    assert external.load("toyx_declarations:datasets", "test") == [toy()]
    assert external.load("toyx_declarations", "test") == []


def test_an_entry_that_cannot_be_imported_is_a_declaration_error_naming_it():
    with pytest.raises(DeclarationError, match="luigi.cfg.*no_such_module_xyz"):
        external.discover(["no_such_module_xyz"], entry_points=[])


def test_every_command_of_the_cli_is_a_name_no_dataset_may_take():
    from etl_targets.cli import build_parser
    from etl_targets.datasets import ALL, COMMANDS

    parser = build_parser(DATASETS)
    [commands] = [a for a in parser._subparsers._group_actions]
    builds = {command.name for command in pipelines(DATASETS)}
    assert set(commands.choices) - builds == set(COMMANDS)
    assert ALL in builds


def test_a_clash_names_the_module_of_each_declaration():
    assert toy().declared_in == __name__  # found: the module that called Dataset(...)
    problems = clashes(toy(folder="so", declared_in="acme_etl"), DATASETS.values())
    assert any("dataset 'so' (declared in acme_etl)" in p
               and "dataset 'so' (declared in etl_targets.datasets.so)" in p for p in problems)
