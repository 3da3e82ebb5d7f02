"""What ``etl-targets gc`` removes: expired date partitions, old trash, abandoned writes.

Retention is per stage (``retention_bronze``, ``_silver``, ``_gold`` and
``_trash`` in luigi.cfg, read by :func:`etl_targets.config.retention`):

* a date partition ``{stage}/{table}/date=D/`` expires when its business date
  ``D`` is older than its stage's limit, counted back from today in the
  business time zone (``2y`` on 2026-12-01 keeps 2024-12-01 and later);
* a trash folder ``_trash/<run_id>/`` expires when the run that filled it is
  older than ``retention_trash``, read from the run id's UTC timestamp
  (``20261101T020000123Z-1a2b3c4d``); a folder not named like a run id is kept;
* abandoned writes (a killed writer's ``.<name>.<pid>-<host>-<hex>.tmp``
  locally, an unfinished multipart upload on S3) go by the owner rules of
  :mod:`etl_targets.lake.leftovers`, never by the partition's age.

Everything comes from one listing per prefix (``bronze/``, ``silver/``,
``gold/``, ``_trash/``), so a year of partitions on S3 is a handful of
requests. Only those prefixes are ever listed: the landing area,
``_snapshots/`` and ``_ops/`` are out of reach by construction, and a
landing root placed inside the lake is refused as well.
"""

import dataclasses
import datetime as dt
import posixpath
import re
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from etl_targets.errors import ConfigError, StorageError
from etl_targets.graph.downstream import STAGES, TRASH_FOLDER
from etl_targets.lake import fileinfo, leftovers, storage, writer
from etl_targets.lake.context import Area
from etl_targets.lake.layout import BRONZE_MANIFEST, PARQUET_FILE

_AGE = re.compile(r"^(\d+)([dwy])$")
_PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
#: ``20261101T020000123Z-...``: the run id's UTC start (see ``records.new_run_id``)
_RUN_ID = re.compile(r"^(\d{8}T\d{6})(\d{3})Z-")
#: files that make a partition count as complete: removed before the rest
_SIGNALS = (BRONZE_MANIFEST, PARQUET_FILE)
#: the most keys one S3 ``DeleteObjects`` takes
BULK_DELETE = 1000

Moment = Union[dt.date, dt.datetime]


@dataclasses.dataclass(frozen=True)
class Age:
    """A retention limit: ``count`` days, weeks or calendar years."""

    count: int
    unit: str

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def before(self, moment: Moment) -> Moment:
        """The oldest date (or time) kept at ``moment``: anything older expires."""
        if self.unit != "y":
            return moment - dt.timedelta(days=self.count * (7 if self.unit == "w" else 1))
        try:
            return moment.replace(year=moment.year - self.count)
        except ValueError:  # February 29th, in a year that has none
            return moment.replace(year=moment.year - self.count, day=28)


def parse_age(text: str) -> Age:
    """``30d``, ``12w``, ``7y`` -> :class:`Age`.

    Raises:
        ValueError: not such a duration, or zero (which would expire today's data).
    """
    match = _AGE.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"not a retention like 30d, 12w or 7y (at least 1): {text!r}")
    return Age(int(match.group(1)), match.group(2))


def rules(configured: Mapping[str, Optional[str]]) -> Dict[str, Optional[Age]]:
    """Parses :func:`etl_targets.config.retention`'s texts; None stays "forever".

    Raises:
        ConfigError: a value is not a duration, naming its key.
    """
    parsed = {}
    for stage, text in configured.items():
        try:
            parsed[stage] = None if text is None else parse_age(text)
        except ValueError as exc:
            raise ConfigError(f"retention_{stage} in luigi.cfg: {exc}") from None
    return parsed


@dataclasses.dataclass(frozen=True)
class Removal:
    """One folder ``gc`` removes.

    Attributes:
        folder: its path below the lake root (``bronze/so/date=2019-11-30``).
        files: the bare paths of its listed files.
        size: their bytes.
        why: the rule that expired it (``older than 7y``).
    """

    folder: str
    files: Tuple[str, ...]
    size: int
    why: str

    @property
    def kind(self) -> str:
        return "trash" if self.folder.startswith(TRASH_FOLDER + "/") else "partition"


@dataclasses.dataclass
class Plan:
    """What one ``gc`` would do, from the listings alone.

    Attributes:
        removals: expired partitions, then expired trash folders.
        kept: ``{"partition": n, "trash": n}`` folders that stay.
        skipped: folders left alone, each with the reason (printed).
        temporaries: local folder -> the temporary files seen there (the owner
            rules decide, when swept, which are abandoned).
        upload_prefixes: S3 prefixes whose unfinished uploads are swept.
    """

    removals: List[Removal] = dataclasses.field(default_factory=list)
    kept: Dict[str, int] = dataclasses.field(default_factory=lambda: {"partition": 0, "trash": 0})
    skipped: List[str] = dataclasses.field(default_factory=list)
    temporaries: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
    upload_prefixes: List[str] = dataclasses.field(default_factory=list)


def plan(lake: Area, limits: Mapping[str, Optional[Age]], today: dt.date, now: dt.datetime,
         landing: Optional[Area] = None) -> Plan:
    """Lists the stage prefixes and the trash once each and decides what expires.

    Args:
        lake: the lake.
        limits: :func:`rules` of ``bronze``, ``silver``, ``gold``, ``trash``
            (a missing stage is kept forever).
        today: the business date (``business_today`` in the business time zone).
        now: the current UTC time, for trash folders.
        landing: the landing area; if it lies inside the lake, nothing in it is touched.

    Raises:
        ConfigError: the landing root is the lake root.
        StorageError: a listing failed (never read as "nothing there").
    """
    found = Plan()
    guarded = _landing_inside(lake, landing)
    for stage in STAGES:
        listing = storage.list_details(lake.fs, lake.join(stage))
        limit = limits.get(stage)
        for folder, files in _groups(lake, listing, depth=3, plan=found).items():
            day = _partition_date(folder)
            if day is not None:  # anything else is not ours to expire
                expired = limit is not None and day < limit.before(today)
                _decide(found, folder, files, expired, limit, guarded)
    limit = limits.get("trash")
    trash = storage.list_details(lake.fs, lake.join(TRASH_FOLDER))
    for folder, files in _groups(lake, trash, depth=2).items():
        started = _run_started(folder.split("/")[1])
        if started is None:
            found.skipped.append(f"{folder}: not named like a run id; remove it by hand if unwanted")
        else:
            expired = limit is not None and started < limit.before(now)
            _decide(found, folder, files, expired, limit, guarded)
    if _is_s3(lake.fs):
        found.upload_prefixes = [lake.join(stage) + "/" for stage in STAGES]
    gone = {lake.join(removal.folder) for removal in found.removals}
    found.temporaries = {folder: names for folder, names in found.temporaries.items()
                         if not any(folder == g or folder.startswith(g + "/") for g in gone)}
    return found


def _decide(found: Plan, folder: str, files: Mapping[str, dict], expired: bool,
            limit: Optional[Age], guarded: Optional[str]) -> None:
    if guarded is not None and _overlaps(folder, guarded):
        found.skipped.append(f"{folder}: inside the landing root, never touched")
    elif expired:
        size = sum(fileinfo.size(info) or 0 for info in files.values())
        found.removals.append(Removal(folder, tuple(sorted(files)), size, f"older than {limit}"))
    else:
        found.kept["trash" if folder.startswith(TRASH_FOLDER + "/") else "partition"] += 1


def _groups(lake: Area, listing: Mapping[str, dict], depth: int,
            plan: Optional[Plan] = None) -> Dict[str, Dict[str, dict]]:
    """Files grouped by their first ``depth`` path segments below the lake root.

    With ``plan``, temporary files (``.…tmp``) are also noted by folder.
    """
    root = lake.path.rstrip("/") + "/"
    groups: Dict[str, Dict[str, dict]] = {}
    for path, info in listing.items():
        if not path.startswith(root):
            continue
        parts = path[len(root):].split("/")
        if len(parts) > depth:
            groups.setdefault("/".join(parts[:depth]), {})[path] = info
        name = parts[-1]
        if plan is not None and name.startswith(".") and name.endswith(".tmp"):
            plan.temporaries.setdefault(posixpath.dirname(path), []).append(path)
    return dict(sorted(groups.items()))


def _partition_date(folder: str) -> Optional[dt.date]:
    match = _PARTITION.match(folder.rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _run_started(run_id: str) -> Optional[dt.datetime]:
    match = _RUN_ID.match(run_id)
    if not match:
        return None
    try:
        started = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return started.replace(microsecond=int(match.group(2)) * 1000, tzinfo=dt.timezone.utc)


def _landing_inside(lake: Area, landing: Optional[Area]) -> Optional[str]:
    """The landing root's path below the lake root, when it is inside the lake (else None).

    Raises:
        ConfigError: the landing root is the lake root itself.
    """
    if landing is None:
        return None
    lake_key = lake.key(lake.path).rstrip("/")
    landing_key = landing.key(landing.path).rstrip("/")
    if landing_key == lake_key:
        raise ConfigError(f"the landing root is the lake root ({lake.location(lake.path)}): "
                          f"gc removes nothing from a landing area; give the lake its own root")
    if not landing_key.startswith(lake_key + "/"):
        return None
    return landing_key[len(lake_key) + 1:]


def _overlaps(folder: str, guarded: str) -> bool:
    """Whether one of the two folders (lake-relative) contains the other."""
    return any(a == b or a.startswith(b + "/") for a, b in ((folder, guarded), (guarded, folder)))


def _is_s3(fs) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return "s3" in protocols


def remove(lake: Area, removals: Iterable[Removal]) -> List[Removal]:
    """Removes the folders of ``removals``; returns them once all are gone.

    Completion signals first (every bronze ``_manifest.json`` and every
    ``data.parquet``), then the rest, each pass one bulk delete per thousand
    files on S3: a gc stopped part-way never leaves a partition that looks
    complete without its files. Locally the emptied folders go too.

    Raises:
        StorageError: a removal failed (run gc again to finish).
    """
    removals = list(removals)
    files = [path for removal in removals for path in removal.files]
    signals = [path for path in files if posixpath.basename(path) in _SIGNALS]
    _remove_paths(lake, signals)
    _remove_paths(lake, [path for path in files if posixpath.basename(path) not in _SIGNALS])
    if storage.is_local(lake.fs):
        for removal in removals:
            storage.remove(lake.fs, lake.join(removal.folder))
    return removals


def _remove_paths(lake: Area, paths: List[str]) -> None:
    """Removes files; on S3 one ``DeleteObjects`` per thousand, its per-key errors raised.

    s3fs's own bulk delete ignores the errors a ``DeleteObjects`` answer lists
    (an access denied on one key would pass for success), hence the direct call.
    """
    for start in range(0, len(paths), BULK_DELETE):
        chunk = paths[start:start + BULK_DELETE]
        try:
            if _is_s3(lake.fs):
                _delete_objects(lake.fs, chunk)
            else:
                lake.fs.rm(chunk)
        except FileNotFoundError:
            pass  # removed meanwhile (another gc): gone is what was wanted
        except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
            raise StorageError(f"cannot remove {lake.location(chunk[0])} "
                               f"(and {len(chunk) - 1} more): {_reason(exc)}") from exc


def _delete_objects(fs, paths: List[str]) -> None:
    bucket = fs.split_path(paths[0])[0]
    objects = [{"Key": fs.split_path(path)[1]} for path in paths]
    answer = fs.call_s3("delete_objects", Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    errors = answer.get("Errors") or []
    if errors:
        first = errors[0]
        raise OSError(f"{len(errors)} not removed, first s3://{bucket}/{first.get('Key')}: "
                      f"{first.get('Code')} {first.get('Message', '')}".strip())


def _reason(exc: BaseException) -> str:
    return storage.redact(" ".join(str(exc).split()) or type(exc).__name__)[:300]


def sweep(lake: Area, found: Plan, dry_run: bool = False) -> List[str]:
    """Clears abandoned writes; returns what was (or, dry, would be) removed.

    Locally each folder whose listing showed temporary files is swept by
    :func:`etl_targets.lake.writer.remove_abandoned_writes` (the owner rules:
    a writer that is gone, or a file of another host untouched for
    ``UNOWNED_TEMP_AGE``); a dry run names every temporary file seen, since
    only the sweep itself applies the rules. On S3 an unfinished upload below
    a stage prefix is aborted once the server initiated it more than
    ``UNOWNED_TEMP_AGE`` ago, so a live writer's upload is never cut.

    Raises:
        StorageError: a folder could not be swept or the uploads not listed.
    """
    if storage.is_local(lake.fs):
        if dry_run:
            return [path for names in found.temporaries.values() for path in sorted(names)]
        return [path for folder in sorted(found.temporaries)
                for path in writer.remove_abandoned_writes(lake.fs, folder)]
    swept: List[str] = []
    for prefix in found.upload_prefixes:
        swept += _sweep_uploads(lake, prefix, dry_run)
    return swept


def _sweep_uploads(lake: Area, prefix: str, dry_run: bool) -> List[str]:
    bucket, key, _ = lake.fs.split_path(prefix)
    seen: List[str] = []

    def abandoned(upload: dict, age: float) -> bool:
        if age < leftovers.UNOWNED_TEMP_AGE:
            return False
        seen.append(f"s3://{bucket}/{upload['Key']} (upload {upload['UploadId'][:12]}…)")
        return not dry_run

    try:
        leftovers.abort_uploads(lake.fs, bucket, key.rstrip("/") + "/", abandoned)
    except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
        raise StorageError(f"cannot clear unfinished uploads below "
                           f"{lake.location(prefix)}: {_reason(exc)}") from exc
    return seen
