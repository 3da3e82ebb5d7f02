"""Lands one ~500 MB SO file through the streaming atomic writer; reports time and peak RSS.

Run by hand, not in CI::

    python bench/land_big.py            # 500 MB, local lake and a moto S3 bucket
    python bench/land_big.py --mb 100   # smaller

Each landing runs in a fresh interpreter that does only this:
``storage.copy_stream(storage.open_input(...), atomic_writer(...))``,
so its high-water RSS (``VmHWM``) is the peak of the copy plus the imports
(reported separately). Not ``ru_maxrss``: Linux carries the parent's peak
over ``exec`` into it. The target is a peak below 200 MB whatever the file
size: the writer holds a few blocks (``writer.WRITE_BLOCK_SIZE``), never
the file.
"""

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from typing import Dict

BENCH = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(BENCH, "_work", "land_big")
NAME = "zheSO-2026-3-16.csv"
TARGET_MB = 200


def write_source(path: str, megabytes: int) -> str:
    """A CSV of ``megabytes`` MB under the SO contract's headers; returns its sha256."""
    from etl_targets.datasets.so import SO

    header = ",".join(column.header for column in SO.columns) + "\r\n"
    digest = hashlib.sha256()
    with open(path, "wb") as sink:
        written = 0
        for block in _blocks(header):
            digest.update(block)
            sink.write(block)
            written += len(block)
            if written >= megabytes * 10**6:
                break
    return digest.hexdigest()


def _blocks(header: str):
    yield header.encode("utf-8")
    order = 0
    while True:
        rows = []
        for _ in range(10_000):
            order += 1
            rows.append(f"SO-2603{order:08d},1,03/16/2026,C{order % 1000:05d},Acme Industries,"
                        f"West,SKU-{order % 20000:05d},{order % 50 + 1},606.91,USD,SHIPPED,"
                        f"2026-03-16 16:47:10\r\n")
        yield "".join(rows).encode("utf-8")


def land(source: str, destination: str) -> Dict:
    """In the child: the copy itself, timed after the imports."""
    from etl_targets.lake import storage
    from etl_targets.lake.writer import atomic_writer

    baseline_mb = peak_rss_mb()
    local, source_path = storage.filesystem(source)
    fs, path = storage.filesystem(destination)
    start = time.perf_counter()
    with (storage.open_input(local, source_path) as reader,
          atomic_writer(fs, path) as writer):
        digest, size = storage.copy_stream(reader, writer)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "sha256": digest, "bytes": size, "imports_mb": baseline_mb,
            "peak_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MiB."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(source: str, destination: str, env: Dict[str, str]) -> Dict:
    result = subprocess.run([sys.executable, __file__, "--child", source, destination],
                            env={**os.environ, **env}, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"landing into {destination} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_local(source: str) -> Dict:
    lake = os.path.join(WORK, "lake")
    shutil.rmtree(lake, ignore_errors=True)
    destination = os.path.join(lake, "bronze", "so", "date=2026-03-16", NAME)
    outcome = run_child(source, destination, {})
    leftovers = [n for n in os.listdir(os.path.dirname(destination)) if n != NAME]
    outcome["check"] = "ok" if not leftovers else f"leftovers: {leftovers}"
    shutil.rmtree(lake, ignore_errors=True)
    return outcome


def bench_s3(source: str) -> Dict:
    sys.path.insert(0, BENCH)
    from moto_s3 import MotoServer

    with MotoServer(os.path.join(WORK, "moto.log")) as server:
        os.environ.update(server.environ())
        import s3fs

        client = s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=server.endpoint)
        client.mkdir("bench-lake")
        key = f"bench-lake/bronze/so/date=2026-03-16/{NAME}"
        outcome = run_child(source, f"s3://{key}", server.environ())
        unfinished = client.call_s3("list_multipart_uploads", Bucket="bench-lake").get("Uploads")
        size = client.info(key)["size"]
        outcome["check"] = "ok" if not unfinished and size == outcome["bytes"] else (
            f"size {size}, unfinished uploads {unfinished}")
    return outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500, help="source size in MB (10^6 bytes)")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "DESTINATION"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(land(*args.child)))
        return 0
    os.makedirs(WORK, exist_ok=True)
    source = os.path.join(WORK, NAME)
    started = time.perf_counter()
    expected = write_source(source, args.mb)
    print(f"source: {os.path.getsize(source) / 10**6:.0f} MB "
          f"({time.perf_counter() - started:.1f} s to generate)")
    rows = [("local", bench_local(source)), ("s3 (moto)", bench_s3(source))]
    print(f"\n{'backend':10} {'seconds':>8} {'peak RSS MB':>12} {'imports MB':>11}  check")
    failed = False
    for backend, outcome in rows:
        check = outcome["check"] if outcome["sha256"] == expected else "sha256 differs"
        failed |= check != "ok" or outcome["peak_mb"] >= TARGET_MB
        print(f"{backend:10} {outcome['seconds']:8.1f} {outcome['peak_mb']:12.0f} "
              f"{outcome['imports_mb']:11.0f}  {check}")
    os.remove(source)
    print(f"\npeak RSS < {TARGET_MB} MB and every check ok: {'no' if failed else 'yes'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
