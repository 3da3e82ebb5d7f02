"""The results table (medians), the acceptance checks and the request breakdowns."""

import os
import platform
from typing import Dict, List, Optional, Tuple

from measure import Record, median

VARIANT = {"etl": "etl_targets", "stock": "stock luigi", "floor": "pyarrow floor"}
PHASE = {"cold": "cold build", "noop": "no-op rerun"}


def machine() -> str:
    total_kb = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                total_kb = int(line.split()[1])
    versions = []
    for module in ("luigi", "pyarrow", "pandas", "s3fs", "boto3", "moto"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except Exception:  # noqa: BLE001 - informational only
            pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores, {total_kb / 2**20:.1f} GiB RAM, "
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"load average now {load}\n"
            f"versions: {', '.join(versions)}")


def _medians(records: List[Record]) -> Dict[Tuple, Dict]:
    groups: Dict[Tuple, List[Record]] = {}
    for r in records:
        groups.setdefault((r.scenario if r.scenario == "c" else "ab", r.phase, r.backend,
                           r.engine), []).append(r)
    return {key: {"wall": median([r.wall for r in rs]),
                  "requests": median([r.requests for r in rs]),
                  "rss": median([r.rss_mb for r in rs]),
                  "ran": median([r.ran for r in rs]), "n": len(rs)}
            for key, rs in groups.items()}


def _fmt(value: Optional[float], digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if digits else f"{value:.0f}"


def _times(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.1f}x" if a / b >= 10 else f"{a / b:.2f}x"


def table(records: List[Record], sizes, csv_mb: Optional[float]) -> str:
    stats = _medians(records)
    header = ["scenario", "variant", "median wall s", "S3 requests", "peak RSS MB",
              "tasks run", "ratio"]
    rows = []
    phases = list(dict.fromkeys(r.phase for r in records if r.scenario != "c"))
    for backend in ("local", "s3"):
        for phase in phases:
            label = f"{PHASE.get(phase, phase.replace('catchup-', 'catch-up '))}, {backend}"
            etl, stock = (stats.get(("ab", phase, backend, e)) for e in ("etl", "stock"))
            for engine, s in (("etl", etl), ("stock", stock)):
                if s is None:
                    continue
                ratio = ""
                if engine == "etl" and stock is not None:
                    ratio = f"stock/etl: time {_times(stock['wall'], s['wall'])}"
                    if backend == "s3":
                        ratio += f", requests {_times(stock['requests'], s['requests'])}"
                rows.append([f"(a/b) {label}", VARIANT[engine], _fmt(s["wall"]),
                             _fmt(s["requests"], 0), _fmt(s["rss"], 0), _fmt(s["ran"], 0), ratio])
    floor = stats.get(("c", "silver+gold", "local", "floor"))
    for engine in ("etl", "floor", "stock"):
        s = stats.get(("c", "silver+gold", "local", engine))
        if s is None:
            continue
        ratio = ""
        if floor is not None and engine != "floor":
            ratio = (f"/floor: time {_times(s['wall'], floor['wall'])}, "
                     f"RSS {_times(s['rss'], floor['rss'])}")
        rows.append([f"(c) silver+gold {sizes.big_rows:,} rows", VARIANT[engine],
                     _fmt(s["wall"]), "-", _fmt(s["rss"], 0), _fmt(s["ran"], 0), ratio])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    note = (f"{sizes.days} days x {sizes.rows} rows ({sizes.start}..{sizes.end}), "
            f"GoldSO + GoldSOMTD of every date, workers=1; medians of "
            f"{max((s['n'] for s in stats.values()), default=0)} runs")
    if csv_mb:
        note += f"; the (c) landing file is {csv_mb:.0f} MB"
    return note + "\n\n" + "\n".join(lines)


def acceptance(records: List[Record], sizes) -> str:
    stats = _medians(records)

    def get(phase, backend, engine, field):
        s = stats.get(("c" if phase == "silver+gold" else "ab", phase, backend, engine))
        return None if s is None else s[field]

    checks = []

    def check(text, value, ok):
        verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
        checks.append(f"- [{verdict}] {text}: {value}")

    def both(*values):
        return None if any(v is None for v in values) else True

    noop_req, noop_t = get("noop", "s3", "etl", "requests"), get("noop", "s3", "etl", "wall")
    stock_noop_t = get("noop", "s3", "stock", "wall")
    check("no-op rerun on S3 makes <= 20 requests", _fmt(noop_req, 0),
          both(noop_req) and noop_req <= 20)
    check("no-op rerun on S3 >= 5x faster than stock", _times(stock_noop_t, noop_t),
          both(stock_noop_t, noop_t) and stock_noop_t >= 5 * noop_t)
    cold_req, stock_cold_req = get("cold", "s3", "etl", "requests"), get("cold", "s3", "stock", "requests")
    cold_t, stock_cold_t = get("cold", "s3", "etl", "wall"), get("cold", "s3", "stock", "wall")
    check("cold build on S3 <= 1/3 of stock's requests",
          f"{_fmt(cold_req, 0)} vs {_fmt(stock_cold_req, 0)} ({_times(cold_req, stock_cold_req)})",
          both(cold_req, stock_cold_req) and cold_req * 3 <= stock_cold_req)
    check("cold build on S3 >= 3x faster than stock", _times(stock_cold_t, cold_t),
          both(stock_cold_t, cold_t) and stock_cold_t >= 3 * cold_t)
    for day in (sizes.end, sizes.mid_date):
        phase = f"catchup-{day:%m-%d}"
        req, stock_req = get(phase, "s3", "etl", "requests"), get(phase, "s3", "stock", "requests")
        check(f"catch-up of {day} on S3 makes <= 150 requests",
              f"{_fmt(req, 0)} (stock: {_fmt(stock_req, 0)})", both(req) and req <= 150)
    t, ft = get("silver+gold", "local", "etl", "wall"), get("silver+gold", "local", "floor", "wall")
    r, fr = get("silver+gold", "local", "etl", "rss"), get("silver+gold", "local", "floor", "rss")
    check(f"{sizes.big_rows:,}-row silver+gold <= 1.5x the floor's wall time", _times(t, ft),
          both(t, ft) and t <= 1.5 * ft)
    check(f"{sizes.big_rows:,}-row silver+gold peak RSS <= the floor's",
          f"{_fmt(r, 0)} MB vs {_fmt(fr, 0)} MB ({_times(r, fr)})", both(r, fr) and r <= fr)
    return "\n".join(checks)


def request_patterns(patterns: Dict, top: int = 8) -> str:
    """The most frequent S3 requests of each run (first repetition)."""
    out = []
    for (engine, phase), counts in sorted(patterns.items()):
        total = sum(counts.values())
        out.append(f"{VARIANT[engine]}, {phase}: {total} requests")
        for text, count in counts.most_common(top):
            out.append(f"    {count:6d}  {text}")
        rest = total - sum(c for _, c in counts.most_common(top))
        if rest:
            out.append(f"    {rest:6d}  (other)")
    return "\n".join(out)
