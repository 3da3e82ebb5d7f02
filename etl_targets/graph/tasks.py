"""The task classes of the luigi graph: one per stage, specialised per dataset.

For every registered dataset ``X`` (code ``SO``...) :mod:`etl_targets.graph.registry`
derives from these:

* ``LandingX``: external, the ERP file (or the ``--input`` override);
* ``BronzeX``: byte-for-byte copy plus ``_manifest.json``;
* ``SilverX``: parse, validate, reject, dedup -> silver + rejects;
* one task per gold table, named by the declaration (``GoldSO``, ``GoldSOMTD``,
  ``GoldInvCover``...), requiring the silver of every date of each input's
  window, of its own dataset or another (or one day of another gold table).

A dataset that lands from an HTTP API (``Dataset.source``, the FX rates)
gets the same three stages in their HTTP form (:mod:`etl_targets.graph.http_tasks`).

All share ``date`` and carry the roots and the input override, passed down
with luigi's ``Task.clone`` so one build sees one configuration. The roots
are significant (part of the task id): a dev and a prod lake sharing one
``luigid`` are different work. The override is not: it changes where a
date's file is read, not what is built.
"""

import datetime as dt
import hashlib
import io
import itertools
import json
import logging
import time
from typing import Dict, Iterable, List, NamedTuple, Optional

import luigi
import pyarrow as pa

from etl_targets import config
from etl_targets.lake import context, fileinfo, layout, storage
from etl_targets.lake.context import Area
from etl_targets.datasets.base import Dataset
from etl_targets.datasets.gold_tables import Day, GoldTable, Input
from etl_targets.datasets.gold import combine, compute, input_columns
from etl_targets.datasets.gold_slices import aggregate_day
from etl_targets.datasets.silver import SilverStream
from etl_targets import formats
from etl_targets.formats import csv_batches, read_csv_header
from etl_targets.errors import ContractError
from etl_targets.lake.targets import LakeTarget, ParquetTarget

log = logging.getLogger("luigi-interface")


class LocationParameter(luigi.Parameter):
    """A URL parameter whose serialised form never carries a secret.

    luigi shows parameters in its log lines, in task ids and in what it sends
    to ``luigid`` (whose API anyone on the network can read) through
    ``serialize``; a ``user:secret@`` or a presigned URL's signature must not
    travel there. The task itself keeps the real value.
    """

    def serialize(self, x) -> str:
        return storage.redact(super().serialize(x))


class DatedTask(luigi.Task):
    """Shared parameters and the listing-based ``bulk_complete``."""

    dataset: Dataset = None  # set by make_tasks
    date = luigi.DateParameter(description="business date")
    lake_root = LocationParameter(default="",
                                  description="lake URL; empty: luigi.cfg / ETL_LAKE_ROOT")
    landing_root = LocationParameter(default="",
                                     description="landing URL; empty: luigi.cfg / ETL_LANDING_ROOT")
    source = LocationParameter(default="", significant=False,
                               description="override of this date's landing file (--input)")

    @classmethod
    def get_params(cls):
        """luigi's list of the class's parameters, worked out once per class.

        luigi walks ``dir(cls)`` on every call and calls it several times for
        each task it creates, clones or schedules: about a quarter of a long
        backfill's CPU (bench/long_backfill.py, cProfile). Our classes gain no
        parameter after :func:`~etl_targets.graph.registry.make_tasks` made
        them, so the answer is kept in the class's own ``__dict__`` (each
        subclass works out its own) and a fresh list is returned each time.
        """
        known = cls.__dict__.get("_parameters")
        if known is None:
            known = tuple(super().get_params())
            cls._parameters = known
        return list(known)

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        """luigi's parameter resolution, with empty roots taken from the configuration.

        luigi calls this before it looks up or creates an instance, so the
        roots are complete when the task exists: they are part of its id for
        every caller, the plain ``luigi`` command included (two lakes can
        share one ``luigid``), and nothing reads configuration later.
        """
        values = super().get_param_values(params, args, kwargs)
        if all(value for name, value in values if name in ROOTS):
            return values
        settings = config.load_settings()
        return [(name, (value or getattr(settings, name)) if name in ROOTS else value)
                for name, value in values]

    @property
    def lake(self) -> Area:
        """The lake, resolved once per build."""
        return context.current().area(self.lake_root)

    @property
    def landing(self) -> Area:
        """The landing area, resolved once per build."""
        return context.current().area(self.landing_root)

    def source_name(self) -> str:
        """The file's name in errors, rejects and the bronze manifest.

        The landing name of the date, or the ``--input`` file's own name: an
        operator who gave ``--input /tmp/fixed.csv`` looks for ``fixed.csv``.
        """
        if self.source:
            return storage.redact(self.source).rstrip("/").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        return self.dataset.landing_name(self.date)

    def lake_target(self, target_class, path: str, prefix: str):
        """A target in the lake whose existence one listing of ``prefix`` answers."""
        lake = self.lake
        return target_class(lake.join(path), lake, lake.join(prefix))

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        """The dates whose outputs exist, from one listing per output prefix.

        Used by luigi's range tools (``RangeDaily``). ``cls`` may be a
        ``functools.partial`` of the class, as the range tools pass it.
        """
        tasks = [cls(date=value) for value in parameter_tuples]
        with _listing_context():
            return [task.date for task in tasks if task.complete()]

    def report(self, message: str, percent: int) -> None:
        """Progress for the scheduler's web view and the log."""
        self.set_status_message(message)
        self.set_progress_percentage(percent)
        log.info("%s: %s", self.task_id, message)

    def progress(self, message: str, percent: int) -> None:
        """:meth:`report`, at most once per :data:`PROGRESS_SECONDS` (each one is a call to luigid)."""
        now = time.monotonic()
        if now - self.__dict__.get("_reported_at", float("-inf")) >= PROGRESS_SECONDS:
            self._reported_at = now
            self.report(message, percent)


#: how often a running task tells the scheduler how far it got
PROGRESS_SECONDS = 1.0


ROOTS = ("lake_root", "landing_root")


def _listing_context():
    """The build's context if it lists, else a fresh listing context for this call."""
    active = context.current()
    return context.use(active if active.uses_listings else context.BuildContext())


class LandingTask(DatedTask, luigi.ExternalTask):
    """The ERP's file for one date; only ever read."""

    def complete(self) -> bool:
        """Present or not; when not, the log names the expected file (luigi names only the task)."""
        present = super().complete()
        if not present:
            log.error("missing landing file: %s", self.output().location)
        return present

    def output(self) -> LakeTarget:
        if self.source:
            return LakeTarget(self.source)
        landing = self.landing
        return LakeTarget(landing.join(layout.landing_file(self.dataset, self.date)), landing,
                          landing.join(layout.landing_folder(self.dataset)))


class BronzeTask(DatedTask):
    """Lands the file raw: the same bytes, plus a manifest written last."""

    def output(self) -> Dict[str, LakeTarget]:
        prefix = layout.stage_folder("bronze", self.dataset.folder)
        return {
            "file": self.lake_target(LakeTarget, layout.bronze_file(self.dataset, self.date),
                                     prefix),
            "manifest": self.lake_target(LakeTarget,
                                         layout.bronze_manifest(self.dataset, self.date), prefix),
        }

    def run(self) -> None:
        source, outputs = self.input(), self.output()
        name = self.source_name()
        storage.check_inside(source.area.fs, source.path, source.area.path)  # no link out of landing
        found = context.current().info(source.area, source.path, source.listing_prefix)
        sha256, size, rows = self._land(source, outputs["file"], name, fileinfo.size(found))
        manifest = {
            "dataset": self.dataset.folder,
            "date": self.date.isoformat(),
            "source_name": name,
            "source_path": source.location,
            "source_modified": fileinfo.isoformat(fileinfo.modified_time(found)),
            "source_etag": fileinfo.etag(found),
            "sha256": sha256,
            "bytes": size,
            "rows": rows,
            "ingested_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        outputs["manifest"].write_bytes(json.dumps(manifest, indent=2).encode() + b"\n")
        self.report(f"landed {rows} rows, {size} bytes", 100)


    def _land(self, source: LakeTarget, copy: LakeTarget, name: str, size: Optional[int]):
        """Copies the landing file into bronze; returns (sha256, bytes, records).

        A file known to be small is read in one request and counted in
        memory. Any other streams through in bounded memory (a 500 MB drop
        never sits in memory whole) and is counted from the bronze copy.
        """
        if size is not None and size <= SMALL_FILE_BYTES:
            data = source.read_bytes()
            copy.write_bytes(data)
            return hashlib.sha256(data).hexdigest(), len(data), count_records(io.BytesIO(data), name)
        with source.open_binary() as reader, copy.writer() as sink:
            sha256, copied = storage.copy_stream(_Reporting(reader, self, size), sink)
        self.report(f"copied {copied} bytes; counting records", 50)
        with copy.open_binary() as landed:
            return sha256, copied, count_records(landed, name)


class _Reporting:
    """A reader that tells the task how many bytes went through (bronze's progress)."""

    def __init__(self, reader, task: "DatedTask", size: Optional[int]):
        self._reader, self._task, self._size, self._read = reader, task, size, 0

    def read(self, count: int = -1) -> bytes:
        block = self._reader.read(count)
        self._read += len(block)
        share = min(99, int(100 * self._read / self._size)) if self._size else 0
        self._task.progress(f"{self._read} bytes copied ({share}%)", share)
        return block


#: landing files up to this size are read whole (one request) rather than streamed
SMALL_FILE_BYTES = 32 << 20


def count_records(handle, source: str):
    """Data records in a landing file, or None when it cannot be parsed.

    Bronze lands whatever arrived; judging the file is silver's job, so a
    malformed file still lands, with ``rows: null`` in its manifest. The
    file is streamed, so a file of any size is counted in bounded memory.
    """
    try:
        width = len(read_csv_header(handle, source))
        return sum(b.num_rows for b in csv_batches(handle, width, [0], source, check_utf8=False))
    except ContractError:
        return None


class SilverTask(DatedTask):
    """Typed, validated, deduplicated rows, and the rejects beside them.

    A day whose rejected share exceeds ``max_reject_ratio`` fails here: its
    rejects are written for inspection, its silver is not, so nothing
    downstream is published. Set per dataset in luigi.cfg
    (``[SilverSO] max_reject_ratio = 0.1``), luigi's own task configuration.
    """

    max_reject_ratio = luigi.FloatParameter(
        default=0.05, significant=False,
        description="largest share of a day's rows that may be rejected (0..1)")

    def requires(self):
        return self.clone(self.bronze_task)

    def output(self) -> Dict[str, ParquetTarget]:
        return {name: self.lake_target(ParquetTarget, layout.parquet_file("silver", folder, self.date),
                                       layout.stage_folder("silver", folder))
                for name, folder in (("rejects", self.dataset.rejects_folder),
                                     ("silver", self.dataset.folder))}

    def run(self) -> None:
        name = self.source_name()
        landed = self.input()["file"]
        size = context.current().known_size(landed.area, landed.path, landed.listing_prefix)
        outputs = self.output()
        with landed.open_binary() as handle:
            size = size or getattr(handle, "size", None)  # bronze of this build: in no listing
            def parsed(rows: int) -> None:
                share = min(99, int(100 * handle.tell() / size)) if size else 0
                self.progress(f"{rows} rows parsed ({share}%)", share)
            with SilverStream(self.dataset, handle, name, progress=parsed) as stream:
                self._publish(outputs["rejects"], self.dataset.rejects_schema, stream.rejects())
                self._check_reject_ratio(name, stream.rejected_rows, stream.landed_rows,
                                         outputs["rejects"].location)
                # last: the completion signal
                kept = self._publish(outputs["silver"], self.dataset.silver_schema, stream.silver())
        self.report(f"{stream.landed_rows} rows read, {stream.rejected_rows} rejected, "
                    f"{kept} in silver", 100)

    @staticmethod
    def _publish(target: ParquetTarget, schema: pa.Schema, tables: Iterable[pa.Table]) -> int:
        """Writes a stream of tables as ``target``'s Parquet file; returns its rows.

        Up to one row group (:data:`formats.ROW_GROUP_ROWS` rows) the file is
        written as one table, which this build then keeps for its readers (the
        gold of a small day decodes nothing); a longer stream goes through the
        atomic writer a row group at a time. Both give the same bytes for the
        same rows.
        """
        tables, held, rows = iter(tables), [], 0
        for table in tables:
            held.append(table)
            rows += table.num_rows
            if rows > formats.ROW_GROUP_ROWS:
                break
        else:
            whole = pa.concat_tables([schema.empty_table(), *held]).combine_chunks()
            target.write(whole)
            return whole.num_rows
        with target.writer() as sink:
            return formats.write_parquet(sink, schema, itertools.chain(held, tables))

    def _check_reject_ratio(self, name: str, rejected: int, landed: int, rejects: str) -> None:
        ratio = rejected / landed if landed else 0.0
        if ratio > self.max_reject_ratio:
            raise ContractError(name, f"{ratio:.1%} of rows rejected ({rejected} of {landed}), "
                                      f"above max_reject_ratio {self.max_reject_ratio:g}; "
                                      f"rejects: {rejects}")


class Source(NamedTuple):
    """One input of a gold task: which silver (or gold table), of which dataset, which window."""

    input: Input
    dataset: Dataset
    silver_task: type  # the dataset's silver task, or the task of its gold table ``input.gold``
    own: bool  # the gold table's own dataset: ``--input`` reaches it

    def read(self, found, columns):
        """The input's columns from the output of one of its tasks."""
        return (found if self.input.gold is not None else found["silver"]).read(columns)


class GoldTask(DatedTask):
    """One gold table for one date, a pure function of the silver of its inputs' windows."""

    table = None  # set by make_tasks
    sources: tuple = ()  # Source per input, set by make_tasks

    def requires(self) -> Dict[str, List[SilverTask]]:
        """Per input, the silver task of every date of its window (``--input`` reaches only D's own).

        Worked out once per task: luigi asks for it each time it schedules,
        checks, runs and reports the task, and a month-to-date table's is up
        to 31 clones of a task (about a tenth of a backfill's CPU). The task's
        parameters never change, so neither does the answer.
        """
        required = self.__dict__.get("_required")
        if required is None:
            required = self._required = {source.input.name: [
                self.clone(source.silver_task, date=day,
                           source=self.source if source.own and day == self.date else "")
                for day in source.input.window.dates(self.date)] for source in self.sources}
        return required

    def output(self) -> ParquetTarget:
        return self.lake_target(ParquetTarget, layout.parquet_file("gold", self.table.name, self.date),
                                layout.stage_folder("gold", self.table.name))

    def run(self) -> None:
        if isinstance(self.table, GoldTable) and isinstance(self.table.window, Day):
            result = self._one_day()
        else:
            result = compute(self.dataset, self.table, self._inputs(), self.date)
        self.output().write(result)
        self.report(f"{result.num_rows} rows in {self.table.name}", 100)

    def _inputs(self) -> Dict[str, object]:
        """Per input, its table: one day's, or its window's combined across the days."""
        found = self.input()
        total, done = sum(len(days) for days in found.values()), 0
        tables = {}
        for source in self.sources:
            columns = input_columns(source.dataset, source.input)
            days = []
            for day, inputs in zip(source.input.window.dates(self.date), found[source.input.name]):
                days.append((day, source.read(inputs, columns)))
                done += 1
                self.progress(f"read {done} of {total} days of silver", int(90 * done / total))
            one_day = isinstance(source.input.window, Day)
            tables[source.input.name] = (days[0][1] if one_day
                                         else combine(source.dataset, days, columns))
        return tables

    def _one_day(self):
        """A declared table of one day's silver, aggregated a slice at a time (bounded memory)."""
        source = self.sources[0]  # a declared table reads its own silver only
        data = self.input()[source.input.name][0]["silver"].read_bytes()
        columns = input_columns(source.dataset, source.input)
        schema = pa.schema([source.dataset.silver_schema.field(c) for c in columns])
        self.progress("read 1 of 1 days of silver", 90)
        repeated = [c for c in columns if c not in source.dataset.dedup_keys]  # keys: near unique
        return aggregate_day(self.dataset, self.table, lambda: formats.parquet_batches(
            data, columns, repeated=repeated), schema, self.date)
