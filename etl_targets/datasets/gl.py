"""GL, general ledger: the contract's section 4 (journal lines posted on D)."""

from etl_targets.datasets.base import Column, Dataset, GroupRule, RowRule
from etl_targets.datasets.columns import Date, Money, Text
from etl_targets.datasets.expressions import col, total
from etl_targets.datasets.gold_tables import MONTH_TO_DATE, GoldTable, Measure
from etl_targets.datasets.shared_columns import CURRENCY, LAST_MODIFIED, LINE

AMOUNT = Money(precision=18, scale=2, minimum=0)

GL = Dataset(
    code="GL",
    folder="gl",
    file_prefix="zheGL",
    columns=(
        Column("Journal ID", "journal_id", Text()),
        LINE,
        Column("Posting Date", "posting_date", Date()),
        Column("Account", "account", Text()),
        Column("Account Name", "account_name", Text(), required=False),
        Column("Debit", "debit", AMOUNT, if_empty="0"),
        Column("Credit", "credit", AMOUNT, if_empty="0"),
        CURRENCY,
        Column("Description", "description", Text(), required=False),
        LAST_MODIFIED,
    ),
    rules=(RowRule("Debit/Credit", "exactly one of Debit and Credit must be non-zero",
                   col("debit").ne(0) ^ col("credit").ne(0)),),
    dedup_keys=("journal_id", "line"),
    latest_by="last_modified",
    group_rules=(GroupRule("journal unbalanced", group_by=("journal_id", "currency"),
                           holds=total("debit").eq(total("credit")),
                           reject_by=("journal_id",)),),
    gold=(
        GoldTable(name="gl_trial_balance", task="GoldGL", window=MONTH_TO_DATE,
                  group_by=("account", "currency"),
                  measures=(
                      Measure("debit", "sum", "debit"),
                      Measure("credit", "sum", "credit"),
                      Measure("net", "sum", col("debit") - col("credit")),
                  )),
    ),
)
