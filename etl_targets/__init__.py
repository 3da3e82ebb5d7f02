"""etl_targets: daily ERP drops -> bronze/silver/gold as a graph of luigi targets.

``luigi --module etl_targets GoldSO --date 2026-01-27`` finds the tasks
here; luigi's range tools are imported so ``RangeDaily --of GoldSO`` works
on the same command line.

The declaration language is public, so a dataset can live in another
package::

    from etl_targets import Column, Dataset, GoldTable, Integer, Measure, Text, register

    TOY = Dataset(code="TOY", folder="toy", file_prefix="zheTOY", columns=(...),
                  dedup_keys=("id",), latest_by="modified",
                  gold=(GoldTable(name="toy_by_kind", task="GoldToy", ...),))
    register(TOY)   # creates LandingTOY, BronzeTOY, SilverTOY, GoldToy

``luigi --module acme_etl GoldToy --date D`` then works, and ``etl-targets``
finds the module through luigi.cfg ``[etl_targets] datasets = acme_etl`` or
an ``etl_targets.datasets`` entry point.
"""

import luigi.tools.range  # noqa: F401  (registers RangeDaily & co. for `luigi --module`)

from etl_targets.datasets.columns import (  # noqa: F401
    Choice, Date, Integer, Letters, Money, Text, Timestamp)
from etl_targets.datasets.base import (  # noqa: F401
    Column, Dataset, DeclarationError, Derived, GroupRule, HttpSource, RowRule)
from etl_targets.datasets.gold_tables import (  # noqa: F401
    DAY, MONTH_TO_DATE, GoldFunction, GoldTable, Input, Measure, Trailing)
from etl_targets.datasets.expressions import business_date, col, greatest, lit, total  # noqa: F401
from etl_targets.graph.registry import *  # noqa: F401,F403
from etl_targets.graph.registry import TASKS, load_datasets, register  # noqa: F401

__version__ = "0.1.0"

#: the declaration language, for datasets declared outside the package
API = ["DAY", "MONTH_TO_DATE", "Choice", "Column", "Dataset", "Date", "DeclarationError",
       "Derived", "GoldFunction", "GoldTable", "GroupRule", "HttpSource", "Input", "Integer",
       "Letters", "Measure", "Money", "RowRule", "Text", "Timestamp", "Trailing",
       "business_date", "col", "greatest", "lit", "load_datasets", "register", "total"]
__all__ = sorted(TASKS) + API
