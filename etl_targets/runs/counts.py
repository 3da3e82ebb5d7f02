"""Row counts of what a build published, read back from the outputs.

Counts come from the published files (bronze manifest, Parquet footers), not
from the task processes, so they are right whatever ran where: in this
process, in worker subprocesses, or (with ``luigid``) partly elsewhere. Only
tasks that ran in this build are read, so a no-op rerun reads nothing.
"""

import dataclasses
import json
from typing import Dict, Iterable, List, Optional

from etl_targets.graph.tasks import BronzeTask, GoldTask, SilverTask

STAGE_ORDER = {BronzeTask: 0, SilverTask: 1, GoldTask: 2}


@dataclasses.dataclass
class StageCount:
    """One published output of one task.

    Attributes:
        step: ``bronze``, ``silver`` or ``gold:<table>``.
        date: the business date (ISO).
        rows: rows landed (bronze), kept (silver) or aggregated (gold).
        rejects: rejected rows (silver only).
        duplicates: valid rows dropped as duplicates (silver only).
        location: where the output is (or would be, in a dry run).
        sha256: of the landing file (bronze only).
        source: the landing file read (bronze only).
        duration_ms: how long the task ran, when it ran in this process.
        dataset: the dataset's folder name.
    """

    step: str
    date: str
    rows: Optional[int]
    location: str
    rejects: Optional[int] = None
    duplicates: Optional[int] = None
    sha256: Optional[str] = None
    source: Optional[str] = None
    duration_ms: Optional[int] = None
    dataset: Optional[str] = None


def published_counts(tasks: Iterable, durations: Optional[Dict[str, float]] = None
                     ) -> List[StageCount]:
    """Counts for every bronze/silver/gold task in ``tasks``, in stage then date order."""
    durations = durations or {}
    counts = []
    for task in sorted((t for t in tasks if _stage(t) is not None),
                       key=lambda t: (_stage(t), getattr(t, "table", None) and t.table.name or "",
                                      t.date)):
        count = _count(task)
        count.dataset = task.dataset.folder
        if task.task_id in durations:
            count.duration_ms = int(durations[task.task_id] * 1000)
        counts.append(count)
    return counts


def _stage(task) -> Optional[int]:
    for kind, order in STAGE_ORDER.items():
        if isinstance(task, kind):
            return order
    return None


def _count(task) -> StageCount:
    day = task.date.isoformat()
    if isinstance(task, BronzeTask):
        outputs = task.output()
        manifest = json.loads(outputs["manifest"].read_bytes())
        return StageCount("bronze", day, manifest["rows"], outputs["file"].location,
                          sha256=manifest["sha256"], source=manifest["source_path"])
    if isinstance(task, SilverTask):
        outputs = task.output()
        rows = outputs["silver"].num_rows()
        if "rejects" not in outputs:  # a dataset landing from an HTTP API has none
            return StageCount("silver", day, rows, outputs["silver"].location)
        rejects = outputs["rejects"].num_rows()
        landed = json.loads(task.input()["manifest"].read_bytes()).get("rows")
        duplicates = None if landed is None else landed - rejects - rows
        return StageCount("silver", day, rows, outputs["silver"].location, rejects=rejects,
                          duplicates=duplicates)
    output = task.output()
    return StageCount(f"gold:{task.table.name}", day, output.num_rows(), output.location)


def totals(counts: Iterable[StageCount]) -> Dict[str, int]:
    """Rows per step summed over dates (rejects under ``rejected``)."""
    result: Dict[str, int] = {}
    for count in counts:
        result[count.step] = result.get(count.step, 0) + (count.rows or 0)
        if count.rejects is not None:
            result["rejected"] = result.get("rejected", 0) + count.rejects
    return result
