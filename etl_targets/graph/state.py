"""Is a date built, and is what was built still right? The rules behind ``etl-targets status``.

luigi's rerun model only asks "do the outputs exist". That misses the two
ways a built date goes wrong without losing a file: the ERP re-sends a
corrected landing file, or a stage is rebuilt while the stages built from
it keep their old outputs. This module answers, per dataset, date and stage
(bronze, silver, each gold table), with one :class:`StageState`:

* ``done``: the outputs exist and nothing they were built from changed since;
* ``missing``: an output is absent, and what it needs has arrived (a build makes it);
* ``no_landing``: nothing arrived yet for a date it needs, and nothing was built;
* ``landing_changed``: bronze's bytes differ from the landing file's now;
* ``upstream_newer``: an input was written after this output, or is itself
  out of date (the root cause is carried along: "landing file of D changed");
* ``failed``: the task's failure marker is newer than its output, or has no output.

Everything is answered from one listing per prefix (landing folder, each
stage, the failure markers), fetched concurrently, so a year on S3 is a
handful of requests. Content is read only to confirm a suspicion: a landing
file whose size differs from its bronze copy, or that was modified after it
(unless S3's equal ETags clear it), is read with its bronze manifest and the
sha256 compared, so a file that was merely touched stays ``done``; a failure
marker is read for its error. Inputs come from each task's ``requires()``,
so a future cross-dataset task is judged without a change here.
"""

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import luigi
from luigi.task import flatten

from etl_targets.datasets.base import Dataset
from etl_targets.dates import describe_dates
from etl_targets.graph.registry import TASKS, gold_tasks
from etl_targets.graph.tasks import BronzeTask, GoldTask
from etl_targets.lake import context, fileinfo, layout
from etl_targets.lake.targets import LakeTarget

DONE = "done"
MISSING = "missing"
NO_LANDING = "no_landing"
LANDING_CHANGED = "landing_changed"
UPSTREAM_NEWER = "upstream_newer"
FAILED = "failed"

#: every state, worst first: a date shows the worst of its stages
SEVERITY = (FAILED, LANDING_CHANGED, UPSTREAM_NEWER, MISSING, NO_LANDING, DONE)
#: built, but from something that has changed since
OUT_OF_DATE = (LANDING_CHANGED, UPSTREAM_NEWER)

#: landing files up to this size are read in one request to be checksummed
WHOLE_READ_BYTES = 32 << 20
HASH_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class StageState:
    """One stage of one date, as ``status`` reports it.

    Attributes:
        date: the business date.
        stage: ``bronze``, ``silver``, ``gold:<table>`` (``landing`` for an
            external input, which is never reported on its own).
        state: one of :data:`SEVERITY`.
        reason: one line for people.
        details: plain values (text, numbers, lists) behind the reason: which
            file, which checksums, which input is newer and by how much, the error.
    """

    date: dt.date
    stage: str
    state: str
    reason: str
    details: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state == DONE

    def as_dict(self) -> Dict[str, Any]:
        """The JSON form: ``date`` (ISO), ``stage``, ``state``, ``reason``, ``details``."""
        return {"date": self.date.isoformat(), "stage": self.stage, "state": self.state,
                "reason": self.reason, "details": self.details}


def stage_tasks(dataset: Dataset, day: dt.date, roots: Dict[str, str]) -> List[luigi.Task]:
    """The tasks ``status`` reports for one date: bronze, silver, then each gold table."""
    classes = [TASKS[f"Bronze{dataset.code}"], TASKS[f"Silver{dataset.code}"]]
    return [cls(date=day, **roots) for cls in classes + gold_tasks(dataset)]


def stage_name(task: luigi.Task) -> str:
    """``bronze``, ``silver``, ``gold:<table>``: the names the build's console uses too."""
    if isinstance(task, GoldTask):
        return f"gold:{task.table.name}"
    if isinstance(task, luigi.ExternalTask):
        return "landing"
    return "bronze" if isinstance(task, BronzeTask) else "silver"


def evaluate(dataset: Dataset, dates: Sequence[dt.date], lake_root: str,
             landing_root: str) -> List[StageState]:
    """Every stage of every date, in date then stage order.

    Runs in a fresh listing build context, so nothing is trusted from an
    earlier call.

    Raises:
        StorageError: a listing or a read failed (never taken for "absent").
    """
    roots = {"lake_root": lake_root, "landing_root": landing_root}
    with context.use(context.BuildContext()) as build:
        tasks = [task for day in dates for task in stage_tasks(dataset, day, roots)]
        rules = Rules(build)
        rules.prefetch(tasks)
        return [rules.state(task) for task in tasks]


def worst(states: Iterable[StageState]) -> str:
    """The worst state among ``states`` (``done`` when there are none)."""
    return min((s.state for s in states), key=SEVERITY.index, default=DONE)


def human_duration(seconds: float) -> str:
    """``0.4s``, ``42s``, ``3m12s``, ``2h05m``, ``4d03h``: how much newer, for people."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    for size, unit, small, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m"),
                                          (60, "m", 1, "s")):
        if whole >= size:
            return f"{whole // size}{unit}{(whole % size) // small:02d}{small_unit}"
    return f"{whole}s"


class Rules:
    """The rules over one build context's listings, memoised by task id.

    Args:
        build: a listing :class:`~etl_targets.lake.context.BuildContext`,
            current while the rules run (task outputs resolve their areas there).
    """

    def __init__(self, build: context.BuildContext):
        self._build = build
        self._states: Dict[str, StageState] = {}
        self._inputs: Dict[str, List[luigi.Task]] = {}
        self._targets: Dict[str, List[LakeTarget]] = {}
        self._listed: Dict[str, List[Tuple[LakeTarget, Optional[dict]]]] = {}

    # -- listings ------------------------------------------------------------

    def prefetch(self, tasks: Iterable[luigi.Task]) -> None:
        """Lists, at once, every prefix the tasks and everything they require live under."""
        prefixes = {}
        for task in self._reachable(tasks):
            markers = [] if isinstance(task, luigi.ExternalTask) else [_failure_marker(task)]
            for target in self._outputs(task) + markers:
                if target.listing_prefix is not None:
                    prefixes[target.area.key(target.listing_prefix)] = (target.area,
                                                                        target.listing_prefix)
        self._build.prefetch(prefixes.values())

    def _reachable(self, tasks: Iterable[luigi.Task]) -> List[luigi.Task]:
        found, stack = {}, list(tasks)
        while stack:
            task = stack.pop()
            if task.task_id not in found:
                found[task.task_id] = task
                stack.extend(self._requires(task))
        return list(found.values())

    def _requires(self, task: luigi.Task) -> List[luigi.Task]:
        if task.task_id not in self._inputs:
            self._inputs[task.task_id] = flatten(task.requires())
        return self._inputs[task.task_id]

    def _outputs(self, task: luigi.Task) -> List[LakeTarget]:
        """The task's output targets, in the order it writes them (made once per task)."""
        if task.task_id not in self._targets:
            self._targets[task.task_id] = flatten(task.output())
        return self._targets[task.task_id]

    def _files(self, task: luigi.Task) -> List[Tuple[LakeTarget, Optional[dict]]]:
        """Each output with its listed info (None: not listed), looked up once per task."""
        if task.task_id not in self._listed:
            self._listed[task.task_id] = [(t, self._info(t)) for t in self._outputs(task)]
        return self._listed[task.task_id]

    def _info(self, target: LakeTarget) -> Optional[dict]:
        """The listed info of ``target``, or None when the listing does not have it."""
        if target.listing_prefix is None:
            return None
        listing = self._build.listing(target.area, target.listing_prefix)
        return listing.get(target.area.key(target.path))

    # -- the rules -----------------------------------------------------------

    def state(self, task: luigi.Task) -> StageState:
        """The state of one task's outputs (memoised: month-to-date shares its silver)."""
        found = self._states.get(task.task_id)
        if found is None:
            found = self._states[task.task_id] = self._evaluate(task)
        return found

    def _evaluate(self, task: luigi.Task) -> StageState:
        if isinstance(task, luigi.ExternalTask):
            return self._arrived(task)
        files = self._files(task)
        failure = self._failure(task, files)
        if failure is not None:
            return failure
        if any(info is None for _, info in files):
            return self._absent(task, files)
        if isinstance(task, BronzeTask):
            return self._landing_rule(task)
        return self._upstream_rule(task, files)

    def _arrived(self, task: luigi.Task) -> StageState:
        target = task.output()
        if self._info(target) is None:
            return _state(task, NO_LANDING, f"no landing file: {target.location}",
                          landing_files=[target.location])
        return _state(task, DONE, "arrived", landing_file=target.location)

    def _failure(self, task, files) -> Optional[StageState]:
        """Failed: a marker newer than the oldest output, or a marker and no output."""
        marker = _failure_marker(task)
        found = self._info(marker)
        if found is None:
            return None
        marked, built = fileinfo.modified_time(found), _oldest(files)
        if built is not None and (marked is None or marked <= built):
            return None  # history: a later build succeeded
        record = self._read_json(marker)
        error = record.get("error") or "(no error recorded)"
        failed_at = record.get("failed_at") or fileinfo.isoformat(marked)
        return _state(task, FAILED, f"failed at {failed_at}: {error}", error=error,
                      failed_at=failed_at, marker=marker.location,
                      output_missing=built is None)

    def _absent(self, task, files) -> StageState:
        absent = [target.location for target, info in files if info is None]
        inputs = [self.state(t) for t in self._requires(task)]
        waiting = [s for s in inputs if s.state == NO_LANDING]
        if waiting:
            expected = sorted({f for s in waiting for f in s.details.get("landing_files", [])})
            days = describe_dates([s.date for s in waiting])
            return _state(task, NO_LANDING, f"nothing arrived yet: no landing file for {days}",
                          landing_files=expected)
        unbuilt = [_label(s) for s in inputs if s.state in (MISSING, FAILED)]
        reason = "not built" + (f" (needs {_some(unbuilt)} first)" if unbuilt else "")
        return _state(task, MISSING, reason, absent=absent, needs=unbuilt)

    def _upstream_rule(self, task, files) -> StageState:
        """Out of date when an input is, or when an input was written after this output."""
        inputs = [t for t in self._requires(task) if not isinstance(t, luigi.ExternalTask)]
        stale = [s for s in map(self.state, inputs) if s.state in OUT_OF_DATE]
        causes = sorted({c for s in stale for c in s.details.get("root_cause", [])})
        stale = [_label(s) for s in stale]
        reasons = [f"{_some(stale)} is out of date"] if stale else []
        details = {"stale_inputs": stale} if stale else {}
        built, newest = _oldest(files), self._newest_output(inputs)
        if newest is not None and built is not None and newest[0] > built:
            written, target, source = newest
            label = _label(self.state(source))
            reasons.append(f"{label} was written {human_duration(written - built)} after this "
                           f"output")
            causes.append(f"{label} was rewritten")
            details.update(newer_input=target.location, input_modified=fileinfo.isoformat(written),
                           output_modified=fileinfo.isoformat(built),
                           newer_by_seconds=round(written - built, 3))
        if not reasons:
            return _state(task, DONE, "built after every input")
        return _state(task, UPSTREAM_NEWER, f"{'; '.join(reasons)}; root cause: {_some(causes)}",
                      root_cause=causes, **details)

    def _newest_output(self, tasks: Sequence[luigi.Task]):
        """``(mtime, target, task)`` of the most recently written output of ``tasks``, or None."""
        newest = None
        for task in tasks:
            for target, info in self._files(task):
                written = None if info is None else fileinfo.modified_time(info)
                if written is not None and (newest is None or written > newest[0]):
                    newest = (written, target, task)
        return newest

    def _landing_rule(self, task: BronzeTask) -> StageState:
        """Bronze: done unless the landing file's bytes now differ from the ones landed."""
        landing, outputs = task.input(), task.output()
        found, copy = self._info(landing), self._info(outputs["file"])
        details = {"landing_file": landing.location, "bronze_file": outputs["file"].location}
        if found is None:
            return _state(task, DONE, "landed; the landing file is no longer there", **details)
        details.update(_described("landing", found), **_described("bronze", copy))
        suspicion = suspect(found, copy)
        if suspicion is None:
            return _state(task, DONE, "landed; the landing file is unchanged", **details)
        manifest = self._read_json(outputs["manifest"])
        details.update(suspicion=suspicion, landing_sha256=self._sha256(landing, found),
                       bronze_sha256=manifest.get("sha256"), landed_at=manifest.get("ingested_at"),
                       source_modified=manifest.get("source_modified"))
        if details["landing_sha256"] == details["bronze_sha256"]:
            return _state(task, DONE, f"landed; the landing file was touched ({suspicion}) but "
                                      f"its bytes are the ones landed (sha256 checked)", **details)
        return _state(task, LANDING_CHANGED,
                      f"the landing file changed since it was landed at {details['landed_at']}: "
                      f"{suspicion}, sha256 {_short(details['landing_sha256'])} "
                      f"(bronze has {_short(details['bronze_sha256'])})",
                      root_cause=[f"landing file of {task.date.isoformat()} changed"], **details)

    # -- reading (only for dates under suspicion) ----------------------------

    def _read_json(self, target: LakeTarget) -> dict:
        """A small JSON record; an unreadable one reads as empty (its absence is reported)."""
        try:
            found = json.loads(self._build.read(target.area, target.path))
        except (FileNotFoundError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _sha256(self, target: LakeTarget, info: dict) -> str:
        """The file's checksum: one read when small, streamed in bounded memory otherwise."""
        size = fileinfo.size(info)
        if size is not None and size <= WHOLE_READ_BYTES:
            return hashlib.sha256(self._build.read(target.area, target.path)).hexdigest()
        digest = hashlib.sha256()
        with self._build.open_input(target.area, target.path) as handle:
            for block in iter(lambda: handle.read(HASH_CHUNK), b""):
                digest.update(block)
        return digest.hexdigest()


def suspect(landing: dict, copy: Optional[dict]) -> Optional[str]:
    """Why the listings suggest the landing file may differ from its bronze copy, or None.

    Different sizes always suspect; equal sizes and ETags (S3) mean equal
    bytes. Otherwise a landing file modified after its copy is suspected. The
    two times may come from different stores' clocks, so a suspicion is
    confirmed by content, never by time alone.
    """
    if copy is None:
        return "the bronze copy is not listed"
    sizes = fileinfo.size(landing), fileinfo.size(copy)
    if None not in sizes and sizes[0] != sizes[1]:
        return f"size {sizes[1]} -> {sizes[0]} bytes"
    tags = fileinfo.etag(landing), fileinfo.etag(copy)
    if None not in tags and tags[0] == tags[1]:
        return None
    times = fileinfo.modified_time(landing), fileinfo.modified_time(copy)
    if None in times:
        return "no modification times to compare"
    if times[0] > times[1]:
        return f"modified {human_duration(times[0] - times[1])} after the bronze copy"
    return None


def _failure_marker(task: luigi.Task) -> LakeTarget:
    lake = task.lake
    return LakeTarget(lake.join(layout.failure_marker(task.dataset, task.date, task.task_family)),
                      lake, lake.join(layout.failures_folder(task.dataset)))


def _oldest(files: Sequence[Tuple[LakeTarget, Optional[dict]]]) -> Optional[float]:
    """When the output was built: its oldest file (None if one is absent or has no time).

    The oldest, not the newest: a rebuild that rewrote the first file and then
    failed left an output as old as its completion signal.
    """
    times = [fileinfo.modified_time(info) if info is not None else None for _, info in files]
    return None if not times or None in times else min(times)


def _described(name: str, info: Optional[dict]) -> Dict[str, Any]:
    if info is None:
        return {}
    found = {f"{name}_bytes": fileinfo.size(info), f"{name}_etag": fileinfo.etag(info),
             f"{name}_modified": fileinfo.isoformat(fileinfo.modified_time(info))}
    return {key: value for key, value in found.items() if value is not None}


def _state(task: luigi.Task, state: str, reason: str, **details) -> StageState:
    return StageState(task.date, stage_name(task), state, reason, details)


def _label(state: StageState) -> str:
    return f"{state.stage} of {state.date.isoformat()}"


def _some(items: Sequence[str], shown: int = 3) -> str:
    """``a, b, c (and 4 more)``."""
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" (and {more} more)" if more > 0 else "")


def _short(sha256: Optional[str]) -> str:
    return f"{sha256[:12]}..." if sha256 else "none recorded"
