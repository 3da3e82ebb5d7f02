"""How a dataset declaration becomes luigi task classes, and the registry of them.

The classes are made by :func:`make_tasks` from the declaration, so adding a
dataset never means writing task classes. :func:`register` is how a
declaration joins the graph, inside the package or outside it (luigi finds a
task family among every Task subclass created, so ``luigi --module acme_etl
GoldToy`` works once ``acme_etl`` has registered its dataset);
:func:`load_datasets` imports the modules luigi.cfg and the
``etl_targets.datasets`` entry points name. :data:`TASKS` holds every class
made, by name; the classes are also attributes of this module (importable
and picklable by name).
"""

from typing import Dict, List, Type

import luigi.task_register

from etl_targets import config
from etl_targets.datasets import DATASETS, external
from etl_targets.datasets import register as register_declaration
from etl_targets.datasets import task_names
from etl_targets.datasets.base import Dataset, DeclarationError
from etl_targets.datasets.gold import inputs
from etl_targets.graph import events  # noqa: F401 - importing it registers the event handlers
from etl_targets.graph import http_tasks
from etl_targets.graph.tasks import (BronzeTask, DatedTask, GoldTask, LandingTask, SilverTask,
                                     Source)


def make_tasks(dataset: Dataset) -> Dict[str, Type[DatedTask]]:
    """Creates the task classes of one dataset (whose foreign inputs are registered).

    Returns:
        class name -> class, e.g. ``{"LandingSO": ..., "GoldSOMTD": ...}``.
    """
    code = dataset.code
    doc = f"{{}} of the {code} dataset (generated from its declaration)."

    def define(name, base, **attributes):
        attributes.update(dataset=dataset, __module__=__name__, __qualname__=name,
                          __doc__=doc.format(base.__doc__.split(".")[0]))
        return type(name, (base,), attributes)

    if dataset.source is not None:
        landing, bronze, silver = (http_tasks.HttpLandingTask, http_tasks.HttpBronzeTask,
                                   http_tasks.PagesSilverTask)
    else:
        landing, bronze, silver = LandingTask, BronzeTask, SilverTask
    classes = {f"Landing{code}": define(f"Landing{code}", landing)}
    classes[f"Bronze{code}"] = define(f"Bronze{code}", bronze,
                                      requires=lambda self, c=classes[f"Landing{code}"]: self.clone(c))
    classes[f"Silver{code}"] = define(f"Silver{code}", silver,
                                      bronze_task=classes[f"Bronze{code}"])
    for table in dataset.gold:
        sources = []
        for source in inputs(dataset, table):
            own = source.dataset == dataset.folder
            of = dataset if own else DATASETS[source.dataset]
            known = classes if own else TASKS
            read = known[of.gold_table(source.gold).task if source.gold is not None
                         else f"Silver{of.code}"]
            sources.append(Source(source, of, read, own))
        classes[table.task] = define(table.task, GoldTask, table=table, sources=tuple(sources))
    return classes


def gold_tasks(dataset) -> List[Type[GoldTask]]:
    """The gold task classes of a dataset (or a CLI pipeline), in declaration order."""
    return [TASKS[table.task] for table in dataset.gold]


def register(dataset: Dataset) -> Dict[str, Type[DatedTask]]:
    """Adds a declaration to the registry and creates its luigi task classes.

    Registering the same declaration again changes nothing (a module may be
    imported by ``luigi --module`` and named in luigi.cfg too).

    Returns:
        the dataset's task classes by name (``{"LandingTOY": ..., "GoldToy": ...}``).

    Raises:
        DeclarationError: a name (folder, code, task, gold table) is taken,
            naming both declarations; or an input names an unknown dataset.
    """
    if DATASETS.get(dataset.folder) == dataset and all(
            name in TASKS for name in task_names(dataset)):
        return {name: TASKS[name] for name in task_names(dataset)}
    taken = set(luigi.task_register.Register.task_names()) - set(TASKS)
    clash = sorted(set(task_names(dataset)) & taken)
    if clash:
        raise DeclarationError(f"cannot register dataset {dataset.folder!r}: luigi already "
                               f"has a task named {', '.join(clash)} (not an etl_targets task)")
    register_declaration(dataset)  # refuses every other clash, before any class exists
    classes = make_tasks(dataset)
    TASKS.update(classes)
    globals().update(classes)  # module-level names: importable, picklable by name
    return classes


def load_datasets(entry_points=None) -> Dict[str, Dataset]:
    """Registers the datasets declared outside the package; returns the registry.

    Sources: the ``etl_targets.datasets`` entry points and luigi.cfg
    ``[etl_targets] datasets``, each naming a module (which registers its
    datasets when imported) or ``module:callable`` returning datasets.

    Args:
        entry_points: the entry points to use (tests); default: the installed ones.

    Raises:
        DeclarationError: a module cannot be imported, or a dataset clashes.
    """
    for dataset in external.discover(config.dataset_modules(), entry_points):
        register(dataset)
    return DATASETS


TASKS: Dict[str, Type[DatedTask]] = {}
for _dataset in DATASETS.values():
    _classes = make_tasks(_dataset)
    TASKS.update(_classes)
    globals().update(_classes)
__all__ = sorted(TASKS) + ["TASKS", "gold_tasks", "load_datasets", "make_tasks", "register"]
