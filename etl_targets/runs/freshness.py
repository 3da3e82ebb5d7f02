"""How fresh a dataset's published data is, judged from the lake itself.

Freshness is a property of the data, not of the last successful run: a
failed night followed by a successful rerun of an old date leaves the data
stale, and a lake built with the plain ``luigi`` command (which writes no
run records) is judged all the same. The newest *complete* business date is
the newest date for which every gold table of the dataset is published,
found from one listing per gold table.
"""

import dataclasses
import datetime as dt
import json
import re
from typing import List, Optional

from etl_targets.graph.registry import gold_tasks
from etl_targets.lake import context, storage
from etl_targets.runs.records import runs_folder

_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")


@dataclasses.dataclass
class Freshness:
    """What the lake says about one dataset.

    Attributes:
        dataset: the dataset's folder name.
        newest: newest business date whose gold tables are all published, or None.
        last_run: the newest run record of the dataset, or None (none recorded).
    """

    dataset: str
    newest: Optional[dt.date]
    last_run: Optional[dict]

    @property
    def last_run_failed(self) -> bool:
        return self.last_run is not None and self.last_run.get("status") != "success"


def judge(dataset, lake_root: str, landing_root: str) -> Freshness:
    """Reads the gold listings and the newest run record of ``dataset``."""
    build = context.BuildContext()
    with context.use(build):
        probes = [cls(date=dt.date(2000, 1, 1), lake_root=lake_root, landing_root=landing_root)
                  for cls in gold_tasks(dataset)]
        outputs = [probe.output() for probe in probes]
        build.prefetch((target.area, target.listing_prefix) for target in outputs)
        published = [_dates(build.listing(target.area, target.listing_prefix)) for target in outputs]
        lake = build.area(lake_root)
    complete = set.intersection(*published) if published else set()
    return Freshness(dataset.folder, max(complete) if complete else None,
                     _newest_run(lake, dataset.folder))


def _dates(listing) -> set:
    found = set()
    for key in listing:
        match = _PARTITION.search(key)
        if match and key.endswith("/data.parquet"):
            found.add(dt.date.fromisoformat(match.group(1)))
    return found


def _newest_run(lake, pipeline: str) -> Optional[dict]:
    """The newest run record: run ids start with the UTC start time, so names sort by time."""
    names: List[str] = [p for p in storage.list_files(lake.fs, lake.join(runs_folder(pipeline)))
                        if p.endswith(".json")]
    if not names:
        return None
    newest = max(names, key=lambda p: p.rsplit("/", 1)[-1])
    return json.loads(storage.read_bytes(lake.fs, newest))
