"""A run SIGKILLed in the middle of a large upload leaves nothing the next run keeps.

SIGKILL runs no cleanup: a local write leaves its dot-named temporary file,
an S3 write its unfinished multipart upload. The next run of the same date
must publish the date correctly and leave no temporary file, no local
scratch copy (the runs' TMPDIR stays empty) and no unfinished upload.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from support.cli import etl_argv, explain
from support.env import cli_environment
from support.landing import copy_landing, landing_name
from support.paths import SAMPLE_LANDING

DAY = dt.date(2026, 1, 27)
#: big enough that bronze streams it in several parts (S3) and takes a while (local)
COPIES = {"local": 2500, "s3": 700}


def big_landing(root: Path, copies: int) -> Path:
    """The sample day's rows repeated ``copies`` times: a valid, large landing file.

    The earlier days of the month (month-to-date gold needs them) are the sample's own.
    """
    copy_landing(root / "landing", *(DAY.replace(day=d) for d in range(1, DAY.day)))
    source = (SAMPLE_LANDING / "so" / landing_name(DAY)).read_bytes()
    header, _, body = source.partition(b"\n")
    target = root / "landing" / "so" / landing_name(DAY)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        out.write(header + b"\n")
        for _ in range(copies):
            out.write(body if body.endswith(b"\n") else body + b"\n")
    return target


def kill_when(process: subprocess.Popen, condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before it could be killed")
        if condition():
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            return
        time.sleep(0.002)
    process.kill()
    pytest.fail("the upload never started")


def run_env(tmp_path: Path, lake: str) -> dict:
    scratch = tmp_path / "tmpdir"
    scratch.mkdir(exist_ok=True)
    return cli_environment(lake, tmp_path / "landing", tmp_path / "logs", TMPDIR=str(scratch))


def rerun(tmp_path: Path, env: dict) -> None:
    done = subprocess.run(etl_argv("so", "--date", DAY.isoformat()), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, explain(done)


def temporaries(root: Path):
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_killed_local_run_leaves_no_temporary_file_after_the_next_run(tmp_path):
    landing = big_landing(tmp_path, COPIES["local"])
    lake = tmp_path / "lake"
    env = run_env(tmp_path, str(lake))
    run = subprocess.Popen(etl_argv("so", "--date", DAY.isoformat()), cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partition = lake / "bronze" / "so" / f"date={DAY.isoformat()}"
    kill_when(run, lambda: partition.is_dir() and bool(temporaries(partition)))
    assert temporaries(partition), "the kill should have left the writer's temporary file"

    rerun(tmp_path, env)

    assert temporaries(lake) == []
    assert list((tmp_path / "tmpdir").iterdir()) == []
    copy = partition / landing_name(DAY)
    assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(landing.read_bytes()).digest()


@pytest.mark.s3
def test_killed_s3_run_leaves_no_unfinished_upload_after_the_next_run(tmp_path, s3_env,
                                                                       moto_server):
    big_landing(tmp_path, COPIES["s3"])
    env = run_env(tmp_path, f"s3://{s3_env}/lake")
    client = boto3.client("s3", endpoint_url=moto_server.endpoint)

    def uploads():
        return client.list_multipart_uploads(Bucket=s3_env).get("Uploads", [])

    run = subprocess.Popen(etl_argv("so", "--date", DAY.isoformat()), cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(run, lambda: bool(uploads()))
    assert uploads(), "the kill should have left an unfinished multipart upload"

    rerun(tmp_path, env)

    assert uploads() == []
    assert list((tmp_path / "tmpdir").iterdir()) == []
    key = f"lake/bronze/so/date={DAY.isoformat()}/{landing_name(DAY)}"
    landed = client.get_object(Bucket=s3_env, Key=key)["Body"].read()
    assert landed == (tmp_path / "landing" / "so" / landing_name(DAY)).read_bytes()
