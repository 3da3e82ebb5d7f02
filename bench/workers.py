"""Scenario ``workers``: a cold year on S3 with 20 ms per request, ``--workers 1`` vs ``4``.

``etl-targets so --start .. --end .. --workers N`` on an empty lake behind
bench/latency_proxy.py, each in a fresh process, requests counted from
moto's log. When the ``year`` scenario ran in the same bench its cold
``s3+20ms`` runs are the ``--workers 1`` figures (the same command), so they
are not measured twice.
"""

from typing import Dict, List

from measure import Record, Sizes, child, log
from year import cli_env

BACKEND = "s3+20ms"


def run(sizes: Sizes, landing: str, repeat: int, records: List[Record], patterns: Dict,
        s3) -> None:
    reuse = [r for r in records if r.key() == ("year", BACKEND, "cold", "etl")]
    counts = (4,) if reuse else (1, 4)
    for r in reuse:
        records.append(Record("workers", BACKEND, "cold", "workers 1", r.wall, r.requests,
                              r.rss_mb, r.dates))
    landing_url = s3.landing(landing)
    for rep in range(1, repeat + 1):
        for workers in counts:
            name = f"workers{workers}-r{rep}"
            env = cli_env(s3.lake(name), landing_url, BACKEND, s3)
            argv = ["so", "--start", sizes.start.isoformat(), "--end", sizes.end.isoformat(),
                    "--workers", str(workers)]
            result, made = s3.counted(lambda: child({"engine": "cli", "argv": argv},
                                                    f"workers-{name}", env))
            records.append(Record("workers", BACKEND, "cold", f"workers {workers}", result["wall"],
                                  len(made), result["maxrss_mb"], sizes.year_days))
            if ("workers", workers) not in patterns:
                patterns[("workers", workers)] = (made, name)
            log(f"  [workers] rep {rep} --workers {workers} {result['wall']:8.2f} s, "
                f"{len(made)} requests")
            s3.drop_lake(name)
