"""Many workers, one scheduler: three backfills share one luigid and one S3 lake.

Issue 4, item 4. One real ``luigid`` and one moto S3 server; three
``python -m etl_targets so --start D1 --end D2 --scheduler-host ...``
processes started together over the same 12 generated dates. Luigi's
scheduler must hand every task to exactly one of them. The proof comes
from three independent witnesses:

* the S3 server's request log: every output object is PUT exactly once;
* the three run records under ``s3://bucket/lake/_ops/runs/so/``: what each
  process says it built -- no (stage, date) twice, all of them once;
* ``luigid``'s API: three workers registered, every task DONE, none failed,
  and no task was ever seen running on two workers.

Finally the lake they built together is identical to a one-worker build of
the same dates into another prefix (Parquet compared as decoded tables,
bronze files byte for byte).
"""

import datetime as dt
import json
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest

from etl_targets.datasets.samples import so as sample

from support.cli import etl_argv, explain
from support.env import cli_environment
from support.lakes import contract_paths

pytestmark = [pytest.mark.luigid, pytest.mark.s3]

START = dt.date(2026, 1, 1)
DAYS = [START + dt.timedelta(days=k) for k in range(12)]
END = DAYS[-1]
WORKERS = 3
FAMILIES = ("BronzeSO", "SilverSO", "GoldSO", "GoldSOMTD")
STEPS = ("bronze", "silver", "gold:so_daily_sales", "gold:so_mtd_by_region")


def etl_environment(bucket, prefix, logs: Path):
    return cli_environment(f"s3://{bucket}/{prefix}", f"s3://{bucket}/landing", logs)


def backfill_command(*extra):
    return etl_argv("so", "--start", START.isoformat(), "--end", END.isoformat(), *extra)


class RunningWatcher(threading.Thread):
    """Polls luigid for RUNNING tasks: task id -> every worker seen running it."""

    def __init__(self, luigid):
        super().__init__(daemon=True)
        self.luigid = luigid
        self.seen = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                running = self.luigid.api("task_list", status="RUNNING", upstream_status="")
            except Exception:  # noqa: BLE001 - a missed poll only weakens this witness
                running = {}
            for task_id, task in running.items():
                if isinstance(task, dict) and task.get("worker_running"):
                    self.seen.setdefault(task_id, set()).add(task["worker_running"])
            self.stop.wait(0.2)


def data_keys_put(requests, bucket, prefix):
    """Counter of output keys (below ``prefix``, outside ``_ops``) PUT in ``requests``."""
    counts = Counter()
    for method, path in requests:
        if method != "PUT":
            continue
        key = urllib.parse.unquote(urllib.parse.urlsplit(path).path).lstrip("/")
        if not key.startswith(f"{bucket}/{prefix}/") or f"/{prefix}/_ops/" in "/" + key:
            continue
        counts[key[len(bucket) + 1:]] += 1
    return counts


def expected_keys(prefix):
    return {f"{prefix}/{path}" for day in DAYS for path in contract_paths(day).values()}


@pytest.fixture(scope="module")
def _cache():
    return {}


@pytest.fixture
def distributed(request, _cache):
    """The 3-worker build and the 1-worker reference, run once for the module.

    Returns a dict: processes and their (stdout, stderr), the S3 requests of
    the shared build, the run records, what luigid reported, and the files of
    both lakes (key below the lake prefix -> bytes; ``_ops`` left out).

    The servers are requested only by the first test that needs the build
    (``request.getfixturevalue``), so the module starts one luigid, not one
    per test.
    """
    if not _cache:
        _cache.update(_run_builds(request.getfixturevalue("s3_env"),
                                  request.getfixturevalue("s3fs_client"),
                                  request.getfixturevalue("s3_requests"),
                                  request.getfixturevalue("luigid"),
                                  request.getfixturevalue("tmp_path")))
    return _cache


def _run_builds(bucket, fs, s3_requests, luigid, tmp_path):
    local = tmp_path / "generated"
    sample.generate(START, len(DAYS), 60, local, seed=44, mess=sample.Messiness(invalid=0.0))
    fs.put(str(local / "so") + "/", f"{bucket}/landing/so/", recursive=True)

    host, port = luigid
    watcher = RunningWatcher(luigid)
    watcher.start()
    s3_requests.mark()
    started = time.monotonic()
    processes = []
    for index in range(WORKERS):
        env = etl_environment(bucket, "lake", tmp_path / f"logs-{index}")
        processes.append(subprocess.Popen(
            backfill_command("--scheduler-host", host, "--scheduler-port", str(port)),
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=150))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        watcher.stop.set()
        watcher.join(timeout=5)
    elapsed = time.monotonic() - started
    requests = s3_requests()
    api = {status: luigid.api("task_list", status=status, upstream_status="", limit=False)
           for status in ("DONE", "FAILED", "PENDING", "RUNNING", "DISABLED")}
    workers = luigid.api("worker_list")

    reference = subprocess.run(backfill_command(),
                               env=etl_environment(bucket, "reference", tmp_path / "logs-ref"),
                               cwd=tmp_path, capture_output=True, text=True, timeout=150)

    def files(prefix):
        found = sorted(k for k in fs.find(f"{bucket}/{prefix}") if f"/{prefix}/_ops/" not in k)
        return {k[len(f"{bucket}/{prefix}/"):]: fs.cat_file(k) for k in found}

    records = [json.loads(fs.cat_file(p))
               for p in sorted(fs.find(f"{bucket}/lake/_ops/runs/so")) if p.endswith(".json")]
    return dict(bucket=bucket, processes=processes, outputs=outputs, requests=requests,
                records=records, reference=reference, elapsed=elapsed, watcher=watcher.seen,
                api=api, workers=workers, shared=files("lake"), single=files("reference"))


def test_all_three_workers_exit_zero(distributed):
    for process, (out, err) in zip(distributed["processes"], distributed["outputs"]):
        assert process.returncode == 0, explain(process, out, err)
    assert distributed["elapsed"] < 120


def test_every_output_object_was_put_exactly_once(distributed):
    puts = data_keys_put(distributed["requests"], distributed["bucket"], "lake")
    assert set(puts) == expected_keys("lake")
    twice = {key: n for key, n in puts.items() if n != 1}
    assert twice == {}


def test_run_records_show_every_task_ran_once_across_the_three_processes(distributed):
    records = distributed["records"]
    assert len(records) == WORKERS
    assert {r["status"] for r in records} == {"success"}
    claimed = [(stage["step"], stage["date"]) for r in records for stage in r["stages"]]
    duplicates = [item for item, n in Counter(claimed).items() if n > 1]
    assert duplicates == []
    assert set(claimed) == {(step, day.isoformat()) for step in STEPS for day in DAYS}
    assert sum(r["tasks_run"] for r in records) == len(FAMILIES) * len(DAYS)


def test_the_work_was_shared(distributed):
    """With 48 tasks and three workers starting together, more than one does some of it."""
    busy = [r for r in distributed["records"] if r["tasks_run"] > 0]
    assert len(busy) >= 2, [r["tasks_run"] for r in distributed["records"]]


def test_luigid_saw_three_workers_and_every_task_done_once(distributed):
    api = distributed["api"]
    done = {(task["name"], task["params"]["date"]) for task in api["DONE"].values()}
    expected = {(family, day.isoformat()) for family in FAMILIES + ("LandingSO",) for day in DAYS}
    assert expected <= done
    assert api["FAILED"] == {} and api["PENDING"] == {} and api["RUNNING"] == {}
    assert api["DISABLED"] == {}
    pids = {worker.get("pid") for worker in distributed["workers"]}
    assert len(pids) >= WORKERS, distributed["workers"]
    # Sampled while the build ran: no task was ever RUNNING on two workers.
    assert {task: w for task, w in distributed["watcher"].items() if len(w) > 1} == {}
    assert distributed["watcher"], "the watcher never saw a task running"


def test_outputs_are_identical_to_a_one_worker_build(distributed):
    reference = distributed["reference"]
    assert reference.returncode == 0, reference.stdout + reference.stderr
    shared, single = distributed["shared"], distributed["single"]
    assert sorted(shared) == sorted(single)
    assert {f"lake/{key}" for key in shared} == expected_keys("lake")
    for key in sorted(shared):
        a, b = shared[key], single[key]
        if key.endswith("_manifest.json"):  # byte-identical but for the ingestion time
            left, right = json.loads(a), json.loads(b)
            left.pop("ingested_at"), right.pop("ingested_at")
            assert left == right, key
        else:
            assert a == b, key

