"""Tasks of datasets that land from an HTTP API (``Dataset.source``) instead of a file.

The same stages as a file drop (landing, bronze, silver), with the pages of
one date as the landing: the landing is there once the API serves page 1,
bronze keeps every page byte for byte, silver reads the pages.
"""

import datetime as dt
import hashlib
import json
import logging
from typing import Dict

import luigi
import luigi.task_register

from etl_targets import config
from etl_targets.lake import context, http_source, layout
from etl_targets.datasets.base import Dataset
from etl_targets.errors import EtlError, UsageError
from etl_targets.lake.targets import ParquetTarget
from etl_targets.graph.tasks import BronzeTask, LandingTask, SilverTask

log = logging.getLogger("luigi-interface")

def source_client(dataset: Dataset) -> http_source.PagedClient:
    """The build's client of the dataset's HTTP source: its breaker lasts as long as the build."""
    source = dataset.source
    settings = config.http_source(source.url_key, source.token_variable, source.section)
    return http_source.client(context.current(), settings, source.path, dataset.folder,
                              source.next_page)


class PagesTarget(luigi.Target):
    """One date of an HTTP source: there once the API serves its page 1 (a 404: not yet).

    An API that cannot be asked (retries spent, its circuit open, no token)
    has not said "not found", so the date is not a missing input; raised
    here, luigi would only report "failed scheduling". The date goes on to
    bronze instead, which needs the pages and fails with that very error
    (failure marker, exit 5) without asking the API again. Never listed
    (``listing_prefix`` None): ``status`` does not call the API.
    """

    listing_prefix = None

    def __init__(self, dataset: Dataset, day: dt.date):
        self.dataset, self.day = dataset, day

    @property
    def client(self) -> http_source.PagedClient:
        return source_client(self.dataset)

    @property
    def location(self) -> str:
        return self.client.date_url(self.day)

    def exists(self) -> bool:
        try:
            return self.client.published(self.day)
        except EtlError:  # raised again, by bronze's run
            return True


class HttpLandingTask(LandingTask):
    """One date of an HTTP API's pages; only ever read."""

    def complete(self) -> bool:
        present = self.output().exists()
        if not present:
            log.error("not published yet (HTTP 404): %s", self.output().location)
        return present

    def output(self) -> PagesTarget:
        if self.source:
            raise UsageError(f"{self.dataset.folder} lands from its HTTP API; "
                             f"no --input file can stand in for it")
        return PagesTarget(self.dataset, self.date)


class HttpBronzeTask(BronzeTask):
    """Lands every page of the date as it arrived, plus a manifest written last.

    The pages are fetched first, all of them: a failure lands nothing. A page
    silver will refuse still lands (bronze is the evidence), as a landing
    file does.
    """

    def run(self) -> None:
        landing, outputs = self.input(), self.output()
        pages = landing.client.pages(self.date)  # or the error the existence check met
        data = http_source.join_pages(pages)
        outputs["file"].write_bytes(data)
        rows = http_source.count_records(pages, self.dataset.source.records)
        manifest = {
            "dataset": self.dataset.folder,
            "date": self.date.isoformat(),
            "source_name": self.dataset.landing_name(self.date),
            "source_path": landing.location,
            "url": landing.location,
            "pages": http_source.describe(pages),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "rows": rows,
            "fetched_at": pages[-1].fetched_at,
            "ingested_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        outputs["manifest"].write_bytes(json.dumps(manifest, indent=2).encode() + b"\n")
        self.report(f"landed {len(pages)} page(s), {rows} rows", 100)


class PagesSilverTask(SilverTask):
    """Typed, validated rows from the landed pages; a page breaking the contract fails the date."""

    def output(self) -> Dict[str, ParquetTarget]:
        folder = self.dataset.folder
        return {"silver": self.lake_target(ParquetTarget, layout.parquet_file("silver", folder,
                                                                              self.date),
                                           layout.stage_folder("silver", folder))}

    def run(self) -> None:
        landed = self.input()
        described = json.loads(landed["manifest"].read_bytes())["pages"]
        bodies = http_source.split_pages(landed["file"].read_bytes(),
                                         [page["bytes"] for page in described],
                                         landed["file"].location)
        pages = [(page["page"], page["url"], body) for page, body in zip(described, bodies)]
        silver = self.dataset.source.read(pages, self.date)
        self.output()["silver"].write(silver)
        self.report(f"{len(pages)} page(s) read, {silver.num_rows} rows in silver", 100)


