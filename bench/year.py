"""Scenarios (a) and (b): a year of GoldSO + GoldSOMTD, local and on moto S3.

For each repetition and each engine (``etl`` = etl_targets through
``runner.build``, ``stock`` = bench/stock_graph.py through ``luigi.build``),
on a fresh local lake and a fresh S3 lake (landing also on S3):

1. cold build of every date;
2. no-op rerun;
3. catch-up of the last date (the nightly cron case after a year of history:
   that date's bronze, silver and gold are removed, then the year is rerun);
4. catch-up of a mid-month date, the same way ("whatever day of the month").

Each run is a fresh process; S3 requests are counted from the moto log.
An S3 lake is deleted once its four runs are measured (outside the counted
requests), so every repetition starts against a bucket of the same size.
"""

import os
import shutil
from typing import Dict, List

from measure import (WORK, Record, Sizes, child, log, remove_date_local, remove_date_s3,
                     remove_prefix_s3)
from moto_s3 import MotoServer, breakdown

LANDING_BUCKET, LAKE_BUCKET = "bench-landing", "bench-lake"
ENGINES = {"a": "etl", "b": "stock"}


def phases(sizes: Sizes):
    return [("cold", None), ("noop", None),
            (f"catchup-{sizes.end:%m-%d}", sizes.end),
            (f"catchup-{sizes.mid_date:%m-%d}", sizes.mid_date)]


def upload_landing(client, landing: str) -> str:
    """Copies the local landing folder to S3 (not counted); returns its URL."""
    client.create_bucket(Bucket=LANDING_BUCKET)
    client.create_bucket(Bucket=LAKE_BUCKET)
    folder = os.path.join(landing, "so")
    for name in sorted(os.listdir(folder)):
        client.upload_file(os.path.join(folder, name), LANDING_BUCKET, f"year/so/{name}")
    return f"s3://{LANDING_BUCKET}/year"


def run(scenarios: List[str], sizes: Sizes, landing: str, repeat: int,
        records: List[Record], patterns: Dict) -> None:
    """Runs (a) and/or (b), appending to ``records`` and ``patterns`` as it goes.

    ``patterns`` maps (engine, phase) to S3 request counts per pattern.
    """
    engines = [ENGINES[s] for s in ("a", "b") if s in scenarios]
    with MotoServer(os.path.join(WORK, "moto.log")) as moto:
        os.environ.update(moto.environ())  # before anything imports boto3 or s3fs
        import boto3

        client = boto3.client("s3")
        s3_landing = upload_landing(client, landing)
        log(f"moto S3 at {moto.endpoint}; landing uploaded to {s3_landing}")
        for rep in range(1, repeat + 1):
            for engine in engines:
                for backend in ("local", "s3"):
                    _one_lake(engine, backend, rep, sizes, landing, s3_landing,
                              moto, client, patterns, records)


def _one_lake(engine, backend, rep, sizes, landing, s3_landing, moto, client, patterns, records):
    scenario = "a" if engine == "etl" else "b"
    name = f"{engine}-r{rep}"
    if backend == "local":
        lake = os.path.join(WORK, "lakes", name)
        shutil.rmtree(lake, ignore_errors=True)
        landing_url = landing
    else:
        lake, landing_url = f"s3://{LAKE_BUCKET}/{name}", s3_landing
    spec = {"engine": engine, "lake": lake, "landing": landing_url,
            "start": sizes.start.isoformat(), "end": sizes.end.isoformat(),
            "tables": ["daily", "mtd"]}
    for phase, day in phases(sizes):
        if day is not None:
            if backend == "local":
                remove_date_local(lake, day)
            else:
                remove_date_s3(client, LAKE_BUCKET, name, day)
        mark = moto.mark()
        result = child(spec, f"{scenario}-{backend}-{phase}-r{rep}")
        requests = None
        if backend == "s3":
            moto.mark()  # wait for the last requests to be logged
            made = moto.requests_since(mark)
            requests = len(made)
            if (engine, phase) not in patterns:  # the first repetition's, per run
                patterns[(engine, phase)] = breakdown(made, LAKE_BUCKET, name)
        record = Record(scenario, phase, backend, engine, result["wall"], requests,
                        result["maxrss_mb"], result["ran"])
        records.append(record)
        req = "" if requests is None else f", {requests} S3 requests"
        log(f"  [{scenario}] rep {rep} {engine:5} {backend:5} {phase:14} "
            f"{record.wall:8.2f} s{req}, {record.ran} tasks run")
    if backend == "s3":
        # moto lists a prefix by scanning every key of the bucket: a lake left
        # behind would make each later run's listings slower than the last.
        remove_prefix_s3(client, LAKE_BUCKET, name)
