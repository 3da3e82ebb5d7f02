"""Snapshots: named, checksummed copies of the published gold tables, for golden copies.

``{lake}/_snapshots/<name>/gold/<table>/date=D/data.parquet`` mirrors
``{lake}/gold/...``, so ``pandas.read_parquet("{lake}/_snapshots/<name>/gold/<table>")``
reads a snapshot exactly as it reads gold (Hive partitions, a ``date``
column). The files are copies, never links: a later ``--refresh``,
``invalidate`` or rebuild of those dates replaces gold and leaves the
snapshot byte for byte as it was. ``gc`` never lists ``_snapshots/``.

``_snapshots/<name>/_manifest.json`` is written last and is the completion
signal: name, creation time, datasets and tables, and every file with its
relative path, bytes and sha256. A snapshot without it is incomplete (a
create that was stopped); :func:`verify` recomputes every checksum.

Which files are published gold comes from the registered gold task classes
(:func:`etl_targets.graph.registry.gold_tasks`) and their own output paths, over
one listing per table: a new gold table is snapshotted with no change here.
"""

import dataclasses
import datetime as dt
import hashlib
import json
import posixpath
import re
from typing import Dict, List, Mapping, Optional, Sequence

from etl_targets.errors import EtlError, StorageError, UsageError
from etl_targets.graph.registry import gold_tasks
from etl_targets.lake import fileinfo, storage
from etl_targets.lake.writer import atomic_writer, write_bytes
from etl_targets.lake.context import Area
from etl_targets.runs.records import who

#: the lake folder of every snapshot; the underscore keeps readers of gold/ away
SNAPSHOTS_FOLDER = "_snapshots"
#: written last in a snapshot's folder: its presence means "complete"
MANIFEST = "_manifest.json"
#: a snapshot name: one path segment, no hidden or special names
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DATE_FOLDER = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")
#: an arbitrary date, to ask a task class where its table's partitions live
_ANY_DATE = dt.date(2000, 1, 1)
_READ_CHUNK = 1 << 20


def check_name(name: str) -> str:
    """Returns ``name`` if it is a safe single path segment.

    Raises:
        UsageError: slashes, ``..``, a leading dot or dash, spaces, or over 100 characters.
    """
    if not _NAME.match(name) or ".." in name:
        raise UsageError(f"snapshot name {name!r}: use letters, digits, '.', '_' and '-' "
                         f"(starting with a letter or digit, no '..', at most 100 characters)")
    return name


def folder(lake: Area, name: str) -> str:
    """``{lake}/_snapshots/<name>``."""
    return lake.join(SNAPSHOTS_FOLDER, name)


def check_free(lake: Area, name: str) -> str:
    """The folder of a new snapshot ``name``, after checking that nothing is there.

    Raises:
        UsageError: a bad name, or a snapshot (even an incomplete one) of that name.
    """
    target = folder(lake, check_name(name))
    if storage.list_files(lake.fs, target) or storage.exists(lake.fs, target):
        raise UsageError(f"snapshot {name!r} exists already ({lake.location(target)}): "
                         f"choose another name")
    return target


@dataclasses.dataclass(frozen=True)
class Source:
    """One published gold file.

    Attributes:
        relative: its path below the lake root, and below the snapshot's folder.
        path: its bare path on the lake's filesystem.
        dataset: the dataset whose gold table it is.
    """

    relative: str
    path: str
    dataset: str


def published_gold(lake: Area, datasets: Sequence, roots: Mapping[str, str]) -> List[Source]:
    """Every published ``data.parquet`` of the datasets' gold tables, in path order.

    One listing per table (the prefix the task's own target is answered
    from); a partition counts when its task's output is in the listing, so
    temporary files, failure leftovers or stray files are never copied.

    Args:
        lake: the lake.
        datasets: dataset declarations.
        roots: ``lake_root`` and ``landing_root``, as every task takes them.
    """
    found: Dict[str, Source] = {}
    for dataset in datasets:
        for task_class in gold_tasks(dataset):
            probe = task_class(date=_ANY_DATE, **roots).output()
            # the table's folder: what its target is answered from, else two levels up
            prefix = probe.listing_prefix or posixpath.dirname(posixpath.dirname(probe.path))
            listed = storage.list_details(lake.fs, prefix)
            for day in _partition_dates(listed, prefix):
                path = task_class(date=day, **roots).output().path
                if path in listed:
                    found[path] = Source(_relative(lake, path), path, dataset.folder)
    return [found[path] for path in sorted(found)]


def _partition_dates(listed: Mapping[str, dict], prefix: str) -> List[dt.date]:
    days = set()
    for path in listed:
        match = _DATE_FOLDER.search(path[len(prefix):])
        try:
            days.add(dt.date.fromisoformat(match.group(1)))
        except (AttributeError, ValueError):  # not a partition, or not a real date
            continue
    return sorted(days)


def _relative(lake: Area, path: str) -> str:
    root = lake.path.rstrip("/") + "/"
    if not path.startswith(root):
        raise EtlError(f"cannot snapshot {lake.location(path)}: it is not in the lake "
                       f"{lake.location(lake.path)}")
    return path[len(root):]


def create(lake: Area, name: str, sources: Sequence[Source], datasets: Sequence[str],
           now: Optional[dt.datetime] = None) -> dict:
    """Copies ``sources`` into the snapshot ``name``, then writes its manifest; returns it.

    S3 copies are server side (the bytes never pass through this machine;
    each copy is then read once for its checksum); a local copy streams
    through the one atomic writer, checksummed on the way. If a copy fails
    the files already copied are removed, best effort: whatever is left has
    no manifest, so it lists as incomplete and nothing trusts it.

    Raises:
        UsageError: a bad name, a name that is taken, or nothing to copy.
        StorageError: a copy or the manifest could not be written.
    """
    target = check_free(lake, name)
    if not sources:
        raise UsageError(f"nothing to snapshot: no published gold partition of "
                         f"{', '.join(datasets)} in {lake.location(lake.path)}")
    files = []
    try:
        for source in sources:
            digest, size = _copy(lake, source.path, storage.join(target, source.relative))
            files.append({"path": source.relative, "bytes": size, "sha256": digest})
    except BaseException:
        _remove_quietly(lake, target)
        raise
    now = now or dt.datetime.now(dt.timezone.utc)
    manifest = {
        "name": name,
        "created_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "datasets": list(datasets),
        "tables": sorted({source.relative.split("/")[1] for source in sources}),
        "source": lake.location(lake.path),
        "file_count": len(files),
        "total_bytes": sum(entry["bytes"] for entry in files),
        "files": files,
        **who(),
    }
    write_bytes(lake.fs, storage.join(target, MANIFEST),
                json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    return manifest


def _copy(lake: Area, source: str, destination: str):
    """One file; returns (sha256 hex, bytes) of what the snapshot now holds."""
    fs = lake.fs
    if storage.is_local(fs):
        with storage.open_input(fs, source) as reader, \
                atomic_writer(fs, destination) as writer:
            return storage.copy_stream(reader, writer)
    try:
        fs.copy(source, destination)  # s3fs: CopyObject (multipart copy above 5 GiB)
    except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
        raise StorageError(f"cannot copy {lake.location(source)} to {lake.location(destination)}"
                           f": {storage.redact(' '.join(str(exc).split()) or type(exc).__name__)}"
                           ) from exc
    return _checksum(lake, destination)


def _checksum(lake: Area, path: str):
    """(sha256 hex, bytes) of one file, streamed."""
    digest, size = hashlib.sha256(), 0
    with storage.open_input(lake.fs, path) as reader:
        try:
            for block in iter(lambda: reader.read(_READ_CHUNK), b""):
                digest.update(block)
                size += len(block)
        except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
            raise StorageError(f"cannot read {lake.location(path)}: {exc}") from exc
    return digest.hexdigest(), size


def _remove_quietly(lake: Area, target: str) -> None:
    try:
        storage.remove(lake.fs, target)
    except StorageError:
        pass  # the manifest is missing anyway: the snapshot lists as incomplete


@dataclasses.dataclass(frozen=True)
class Summary:
    """One snapshot as ``snapshot list`` shows it.

    Attributes:
        name: the snapshot's name.
        complete: its manifest is there.
        created_at: from the manifest (None when incomplete).
        datasets: from the manifest (empty when incomplete).
        files: data files (the manifest's count; the listing's when incomplete).
        total_bytes: their bytes, likewise.
    """

    name: str
    complete: bool
    created_at: Optional[str]
    datasets: List[str]
    files: int
    total_bytes: int


def list_snapshots(lake: Area) -> List[Summary]:
    """Every snapshot, by name: one listing, plus one read per complete snapshot's manifest."""
    root = lake.join(SNAPSHOTS_FOLDER).rstrip("/") + "/"
    by_name: Dict[str, Dict[str, dict]] = {}
    for path, info in storage.list_details(lake.fs, root.rstrip("/")).items():
        if path.startswith(root) and "/" in path[len(root):]:
            by_name.setdefault(path[len(root):].split("/", 1)[0], {})[path] = info
    found = []
    for name, listed in sorted(by_name.items()):
        manifest_path = storage.join(root, name, MANIFEST)
        if manifest_path in listed:
            manifest = json.loads(storage.read_bytes(lake.fs, manifest_path))
            found.append(Summary(name, True, manifest.get("created_at"),
                                 list(manifest.get("datasets", [])),
                                 manifest.get("file_count", len(manifest.get("files", []))),
                                 manifest.get("total_bytes", 0)))
        else:
            found.append(Summary(name, False, None, [], len(listed),
                                 sum(fileinfo.size(info) or 0 for info in listed.values())))
    return found


def verify(lake: Area, name: str) -> dict:
    """Recomputes every file's size and sha256 against the manifest; returns the manifest.

    A file the manifest does not name is an error too: a reader of the
    snapshot's folder would read it as part of the table.

    Raises:
        UsageError: there is no snapshot ``name``.
        EtlError: the snapshot is incomplete, or names the first file that is
            missing, differs, or is not in the manifest.
        StorageError: the storage could not be read.
    """
    check_name(name)
    target = folder(lake, name)
    listed = storage.list_details(lake.fs, target)
    if not listed:
        raise UsageError(f"no snapshot {name!r} in {lake.location(lake.join(SNAPSHOTS_FOLDER))}")
    manifest_path = storage.join(target, MANIFEST)
    if manifest_path not in listed:
        raise EtlError(f"snapshot {name!r} is incomplete: it has no {MANIFEST} (its create "
                       f"was stopped); remove {lake.location(target)} and create it again")
    manifest = json.loads(storage.read_bytes(lake.fs, manifest_path))
    expected = set()
    for entry in manifest["files"]:
        path = storage.join(target, entry["path"])
        expected.add(path)
        _check_file(lake, name, entry, path, listed.get(path))
    extra = sorted(set(listed) - expected - {manifest_path})
    if extra:
        raise EtlError(f"snapshot {name!r}: {extra[0][len(target) + 1:]} is not in its "
                       f"manifest ({len(extra)} such files)")
    return manifest


def _check_file(lake: Area, name: str, entry: dict, path: str, info: Optional[dict]) -> None:
    where = f"snapshot {name!r}: {entry['path']}"
    if info is None:
        raise EtlError(f"{where} is missing ({lake.location(path)})")
    listed_size = fileinfo.size(info)
    if listed_size is not None and listed_size != entry["bytes"]:
        raise EtlError(f"{where} has {listed_size} bytes, the manifest says {entry['bytes']}")
    digest, _ = _checksum(lake, path)
    if digest != entry["sha256"]:
        raise EtlError(f"{where} has sha256 {digest}, the manifest says {entry['sha256']}")

