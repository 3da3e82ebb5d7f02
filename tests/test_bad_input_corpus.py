"""The bad-input corpus: every file-level and row-level case of the SO rules, and every
operational fault, through both commands the way cron runs them (issue 9, item 7).

Each case is built once for 2026-01-01 (the first of the month: its
month-to-date needs no earlier day) by ``python -m etl_targets so`` and by
``luigi --module etl_targets GoldSO --local-scheduler``, each in a workspace
of its own; the runs go in parallel in one module fixture and the tests
read what they left:

* the exit status: the CLI's exit-code table; luigi's ``[retcode]`` codes
  from the shipped luigi.cfg (30 a task failed, 35 a scheduling error);
* the CLI's one error line on stderr, naming the file and the problem, no
  traceback, and a run record saying the same;
* what is published for the date: nothing at silver or gold on a file-level
  error, the valid rows and the rejects on row-level ones;
* the landing area, byte for byte the same afterwards.

Faults that need a real non-root user run as ``nobody`` through
``setpriv``; the full disk is a 1 MiB ``tmpfs``; S3 is the moto server, a
dead port, or a proxy in front of moto that refuses the landing folder.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import datetime as dt
import hashlib
import http.client
import http.server
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pyarrow.parquet as pq
import pytest

from support.cli import etl_argv, luigi_argv
from support.env import cli_environment
from support.lakes import contract_paths
from support.landing import landing_name
from support.s3 import AWS_VARIABLES, aws_environment, s3_client_fs, unique_bucket
from support.servers import free_port
from support.workspace import Folders

DAY = dt.date(2026, 1, 1)
NAME = landing_name(DAY)
PATHS = contract_paths(DAY)
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
IS_ROOT = os.geteuid() == 0 and shutil.which("setpriv") is not None
#: luigi.cfg [retcode]
LUIGI_TASK_FAILED, LUIGI_SCHEDULING_ERROR = 30, 35
KEY, SECRET = "AKIACORPUSKEY0000001", "Corpus/Secret+Never-Shown-42"
URL_CREDENTIALS = f"{KEY}:{urllib.parse.quote(SECRET, safe='')}"

# --------------------------------------------------------------------------
# landing files
# --------------------------------------------------------------------------

HEADER = ["SO Number", "Line", "Order Date", "Customer ID", "Customer Name", "Region", "SKU",
          "Qty", "Unit Price", "Currency", "Status", "Last Modified"]
COLUMN = {name: index for index, name in enumerate(HEADER)}
#: header -> its column in silver and rejects (written out from the contract)
COLUMN_NAMES = {name: name.lower().replace(" ", "_") for name in HEADER}


def good_row(i: int) -> List[str]:
    return [f"SO-{i:06d}", "1", "01/01/2026", f"C{i:05d}", "Acme, Inc.", "West", f"SKU-{i % 5}",
            "2", "19.99", "USD", "SHIPPED", "2026-01-01 10:00:00"]


def with_value(column: str, value: str, i: int = 900000, **others: str) -> List[str]:
    row = good_row(i)
    for name, text in {column: value, **{k.replace("_", " "): v for k, v in others.items()}}.items():
        row[COLUMN[name]] = text
    return row


def csv_bytes(rows, header=HEADER) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    return text.getvalue().encode("utf-8")


GOOD = [good_row(i) for i in range(40)]


def good_file() -> bytes:
    return csv_bytes(GOOD)


#: rule -> (column, bad value, what reject_reason says): one bad row per rule (contract rule 1)
ROW_RULES = {
    "required-field-empty": ("SKU", "", "SKU: required"),
    "date-does-not-parse": ("Order Date", "02/30/2026", "Order Date: not a real"),
    "line-below-1": ("Line", "0", "Line: must be > 0"),
    "qty-not-positive": ("Qty", "0", "Qty: must be > 0"),
    "price-negative": ("Unit Price", "-1.00", "Unit Price: must be >= 0"),
    "price-three-decimals": ("Unit Price", "1.999", "Unit Price: more than 2 decimal places"),
    "price-does-not-parse": ("Unit Price", "12,34", "Unit Price:"),
    "region-not-canonical": ("Region", "Central", "Region: not one of"),
    "status-not-canonical": ("Status", "LOST", "Status: not one of"),
    "currency-not-3-letters": ("Currency", "US", "Currency: not 3 letters"),
    "timestamp-does-not-parse": ("Last Modified", "2026-01-01T10:00", "Last Modified: not a"),
    "line-amount-too-large": ("Unit Price", "9,000,000,000,000,000.00", "line_amount: too large"),
}
ROW_RULE_GOOD = 300  # 12 rejects of 312 rows: 3.8%, under the 5% gate


def row_rules_file() -> bytes:
    rows = [good_row(i) for i in range(ROW_RULE_GOOD)]
    rows += [with_value(column, value, 900000 + n)
             for n, (column, value, _) in enumerate(ROW_RULES.values())]
    return csv_bytes(rows)


def long_header_file(extra_names: List[str]) -> bytes:
    return csv_bytes([row + [""] * len(extra_names) for row in GOOD], HEADER + extra_names)


# --------------------------------------------------------------------------
# workspaces and what a run left
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Servers:
    moto: str
    moto_auth: str
    refusing_proxy: str
    http_dead: str


class Workspace(Folders):
    """The folders of one case; its lake and landing roots may be S3 instead."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.lake_url, self.landing_url = str(self.lake), str(self.landing)
        self.env: Dict[str, Optional[str]] = {}
        self.endpoint: Optional[str] = None  # where S3 roots are inspected
        self.args: List[str] = []            # extra CLI arguments
        self.luigi_args: List[str] = []      # extra luigi arguments
        self.cleanups: List[Callable[[], None]] = []

    def land(self, data: bytes) -> None:
        (self.landing / "so" / NAME).write_bytes(data)

    def use_s3(self, endpoint: str, **overrides: str) -> None:
        self.endpoint = endpoint
        self.env.update({name: None for name in AWS_VARIABLES})
        self.env.update(aws_environment(endpoint, AWS_MAX_ATTEMPTS="1", **overrides))

    def environment(self) -> Dict[str, str]:
        return cli_environment(self.lake_url, self.landing_url, self.logs, **self.env)

    # -- reading ------------------------------------------------------------

    def landing_snapshot(self) -> Dict[str, str]:
        if self.landing_url.startswith("s3://"):
            return _s3_snapshot(self.endpoint, self.landing_url)
        found = {}
        for path in sorted(self.landing.rglob("*")):
            rel = path.relative_to(self.landing).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found

    def lake_files(self) -> Dict[str, str]:
        """relative path -> sha256 of every file in the lake (``_ops`` too); locally with its
        inode and mtime, so that a rewrite of the same bytes shows."""
        if self.lake_url.startswith("s3://"):
            return _s3_snapshot(self.endpoint, self.lake_url)
        if not self.lake.is_dir():
            return {}
        return {p.relative_to(self.lake).as_posix():
                f"{hashlib.sha256(p.read_bytes()).hexdigest()} {p.stat().st_ino} "
                f"{p.stat().st_mtime_ns}" for p in sorted(self.lake.rglob("*")) if p.is_file()}

    def texts(self) -> Dict[str, str]:
        """Every file this run could have written into, as text (local and S3)."""
        found = {str(p): p.read_text(errors="replace")
                 for p in self.root.rglob("*") if p.is_file() and not p.is_symlink()}
        for url in {self.lake_url, self.landing_url}:
            if url.startswith("s3://"):
                fs = s3_client_fs(self.endpoint)
                bucket = url.split("@")[-1].split("/")[0]
                found.update({k: fs.cat_file(k).decode(errors="replace") for k in fs.find(bucket)})
        return found


def _s3_snapshot(endpoint: str, url: str) -> Dict[str, str]:
    fs = s3_client_fs(endpoint)
    prefix = url.split("://", 1)[1].split("@")[-1].rstrip("/")
    return {k[len(prefix) + 1:]: hashlib.sha256(fs.cat_file(k)).hexdigest()
            for k in (fs.find(prefix) if fs.exists(prefix) else [])}


@dataclasses.dataclass
class Result:
    command: str
    code: int
    stdout: str
    stderr: str
    landing_before: Dict[str, str]
    landing_after: Dict[str, str]
    lake_before: Dict[str, str]
    lake_after: Dict[str, str]
    records: List[dict]
    texts: Dict[str, str]
    rejects: List[dict]
    silver_rows: Optional[int]
    names: str = ""

    def error_lines(self) -> List[str]:
        return [x for x in self.stderr.splitlines() if x.startswith("error:")]

    def __str__(self) -> str:
        return (f"{self.command}: exit {self.code}\n--- stdout\n{self.stdout[-3000:]}"
                f"\n--- stderr\n{self.stderr[-3000:]}")


# --------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------

NOTHING, ALL, REJECTS_ONLY, SILVER_ONLY, UNCHANGED = "nothing", "all", "rejects", "silver", \
    "unchanged"


@dataclasses.dataclass
class Case:
    """One bad input or fault, and what both commands must do with it.

    Attributes:
        prepare: makes the landing file and the fault in a workspace (and ``Servers``).
        cli: the CLI's exit status.
        luigi: the luigi command's, or None when it has no equivalent.
        says: parts of the CLI's error line besides ``names``.
        names: what the error line must name (the file, usually), formatted with the workspace.
        publishes: what the lake holds for the date afterwards.
        more_lines: the CLI may print further error lines (the run record or the failure
            log could not be written either: the lake or the log folder is the fault).
        secret: every output is searched for the URL's credentials.
    """

    id: str
    prepare: Callable[[Workspace, Servers], None]
    cli: int
    luigi: Optional[int]
    says: Tuple[str, ...] = ()
    names: str = NAME
    publishes: str = NOTHING
    as_nobody: bool = False
    needs_root: bool = False
    more_lines: bool = False
    secret: bool = False


def landed(data: Callable[[], bytes]) -> Callable[[Workspace, Servers], None]:
    return lambda ws, servers: ws.land(data())


def file_error(id_, data, *says) -> Case:
    return Case(id_, landed(data), 5, LUIGI_TASK_FAILED, says)


FILE_LEVEL = [
    file_error("empty-file", lambda: b"", "no header row"),
    file_error("blank-lines-only", lambda: b"\n  \r\n\n", "no header row"),
    file_error("missing-required-column",
               lambda: csv_bytes([r[:7] + r[8:] for r in GOOD], HEADER[:7] + HEADER[8:]),
               "lacks required column", "Qty"),
    file_error("duplicate-column", lambda: csv_bytes([r + ["3"] for r in GOOD], HEADER + [" qty"]),
               "twice", "qty"),
    file_error("invalid-utf8-in-header",
               lambda: csv_bytes([r + [""] for r in GOOD], HEADER + ["Note"])
               .replace(b"Note", b"N\xf6te", 1), "not valid UTF-8"),
    file_error("invalid-utf8-in-a-row", lambda: good_file().replace(b"Acme, Inc.", b"Acme\xe9", 1),
               "not valid UTF-8"),
    file_error("invalid-utf8-in-a-dropped-column",
               lambda: csv_bytes([r + ["ok"] for r in GOOD], HEADER + ["Remark"])
               .replace(b",ok\n", b",\xff\xfe\n", 1), "not valid UTF-8"),
    file_error("wrong-field-count", lambda: csv_bytes(GOOD + [good_row(99) + ["EXTRA"]]),
               "not well-formed CSV", "Expected 12 columns, got 13"),
    file_error("broken-quoting", lambda: good_file() + b'SO-999999,1,01/01/2026,"C1,Acme\n',
               "not well-formed CSV"),
    # pyarrow would read these two as "Acme, Inc.x" and SKU-1"b: a guess, so a file error
    file_error("text-after-a-closing-quote",
               lambda: good_file().replace(b'"Acme, Inc.",', b'"Acme, Inc."x,', 1),
               "not well-formed CSV", "broken quoting at byte"),
    file_error("quote-inside-an-unquoted-field",
               lambda: good_file().replace(b",SKU-1,", b',SKU-1"b,', 1),
               "not well-formed CSV", "broken quoting at byte"),
    Case("reject-ratio-gate", landed(lambda: csv_bytes(
        GOOD + [with_value("Qty", "0", 900000 + n) for n in range(3)])), 5, LUIGI_TASK_FAILED,
         ("rows rejected", "max_reject_ratio"), publishes=REJECTS_ONLY),
]

ROW_LEVEL = [Case("one-bad-row-per-rule", landed(row_rules_file), 0, 0, publishes=ALL)]


# -- operational faults ------------------------------------------------------

def chown_nobody(*paths: Path) -> None:
    for path in paths:
        subprocess.run(["chown", "-R", "65534:65534", str(path)], check=True)


def unreadable_silver_folder(ws: Workspace, servers: Servers) -> None:
    """A built date whose silver folder a real user may not read, and its gold gone."""
    ws.land(good_file())
    built = subprocess.run(etl_argv("so", "--date", DAY.isoformat()), cwd=ws.cwd,
                           env=ws.environment(), capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    (ws.lake / PATHS["daily"]).unlink()  # a rebuild would now be attempted
    chown_nobody(ws.root)
    folder = (ws.lake / PATHS["silver"]).parent
    folder.chmod(0)
    ws.cleanups.append(lambda: folder.chmod(0o755))


def unreadable_landing_folder(ws: Workspace, servers: Servers) -> None:
    ws.land(good_file())
    chown_nobody(ws.root)
    (ws.landing / "so").chmod(0)
    ws.cleanups.append(lambda: (ws.landing / "so").chmod(0o755))


def lake_not_writable(ws: Workspace, servers: Servers) -> None:
    ws.land(good_file())
    chown_nobody(ws.root)
    ws.lake.mkdir()
    os.chown(ws.lake, 0, 0)  # root's, mode 755: nobody may not write there


def log_folder_not_writable(ws: Workspace, servers: Servers) -> None:
    ws.land(good_file())
    chown_nobody(ws.root)
    ws.logs.mkdir()
    os.chown(ws.logs, 0, 0)


def full_disk(ws: Workspace, servers: Servers) -> None:
    """A 1 MiB lake and a 2 MiB landing file: bronze cannot be written."""
    ws.land(csv_bytes([good_row(i) for i in range(30000)]))
    ws.lake.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(ws.lake)], check=True)
    ws.cleanups.append(lambda: subprocess.run(["umount", str(ws.lake)], check=True))


def s3_landing_unreachable(ws: Workspace, servers: Servers) -> None:
    ws.use_s3(servers.moto)  # for inspection only: the run is pointed at a dead port
    ws.env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    ws.landing_url = f"s3://{unique_bucket('drop')}/landing"


def s3_landing_refusing(ws: Workspace, servers: Servers) -> None:
    """The landing root can be seen, its ``so/`` folder may not be listed or read (403)."""
    bucket = unique_bucket("drop")
    fs = s3_client_fs(servers.moto)
    fs.mkdir(bucket)
    fs.pipe_file(f"{bucket}/landing/so/{NAME}", good_file())
    ws.use_s3(servers.moto)
    ws.env["AWS_ENDPOINT_URL"] = servers.refusing_proxy
    ws.landing_url = f"s3://{bucket}/landing"


def http_input_unreachable(ws: Workspace, servers: Servers) -> None:
    url = f"{servers.http_dead}/exports/{NAME}"
    ws.args, ws.luigi_args = ["--input", url], ["--source", url]


def credentials_in_urls(ws: Workspace, servers: Servers) -> None:
    """Lake and landing on S3 with the key pair in the URLs, and none in the environment."""
    bucket = unique_bucket()
    fs = s3_client_fs(servers.moto)
    fs.mkdir(bucket)
    fs.pipe_file(f"{bucket}/landing/so/{NAME}", good_file())
    ws.use_s3(servers.moto, AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    ws.env.update(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    ws.lake_url = f"s3://{URL_CREDENTIALS}@{bucket}/lake"
    ws.landing_url = f"s3://{URL_CREDENTIALS}@{bucket}/landing"


def credentials_in_url_refused(ws: Workspace, servers: Servers) -> None:
    """An ``--input`` whose key pair the (credential-checking) server rejects."""
    ws.land(good_file())
    ws.use_s3(servers.moto_auth, AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    ws.env.update(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    url = f"s3://{URL_CREDENTIALS}@{unique_bucket('drop')}/exports/{NAME}"
    ws.args, ws.luigi_args = ["--input", url], ["--source", url]


def link_outside_landing(ws: Workspace, servers: Servers) -> None:
    elsewhere = ws.root / "elsewhere" / "secret.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(good_file())
    (ws.landing / "so" / NAME).symlink_to(elsewhere)


def link_within_landing(ws: Workspace, servers: Servers) -> None:
    kept = ws.landing / "archive" / "export.csv"
    kept.parent.mkdir()
    kept.write_bytes(good_file())
    (ws.landing / "so" / NAME).symlink_to(kept)


HUGE = "9,000,000,000,000,000.00"  # one line amount (qty 1) fits decimal(18, 2); two do not

OPERATIONAL = [
    Case("silver-folder-unreadable", unreadable_silver_folder, 5, LUIGI_SCHEDULING_ERROR,
         ("Permission denied",), names="{lake}/silver/so/date=2026-01-01", publishes=UNCHANGED,
         as_nobody=True, needs_root=True),
    Case("landing-folder-unreadable", unreadable_landing_folder, 5, LUIGI_SCHEDULING_ERROR,
         ("Permission denied",), names="{landing}/so/" + NAME, as_nobody=True, needs_root=True),
    Case("lake-not-writable", lake_not_writable, 5, LUIGI_TASK_FAILED, ("Permission denied",),
         names="{lake}/bronze/so/date=2026-01-01/" + NAME, as_nobody=True, needs_root=True,
         more_lines=True),
    Case("log-folder-not-writable", log_folder_not_writable, 3, None, ("Permission denied",),
         names="{logs}/so/so-2026-01-01.log", as_nobody=True, needs_root=True, more_lines=True),
    Case("disk-full", full_disk, 5, LUIGI_TASK_FAILED, ("No space left on device",),
         names="{lake}/bronze/so/date=2026-01-01/" + NAME, needs_root=True),
    Case("s3-landing-unreachable", s3_landing_unreachable, 5, LUIGI_SCHEDULING_ERROR,
         ("Could not connect",), names="{landing_url}"),
    Case("s3-landing-refusing", s3_landing_refusing, 5, LUIGI_SCHEDULING_ERROR,
         ("Access Denied",), names="{landing_url}/so/" + NAME),
    Case("http-input-unreachable", http_input_unreachable, 5, LUIGI_SCHEDULING_ERROR,
         ("Cannot connect",), names="/exports/" + NAME),
    Case("credentials-in-urls", credentials_in_urls, 0, 0, publishes=ALL, secret=True),
    Case("credentials-in-url-refused", credentials_in_url_refused, 5, LUIGI_SCHEDULING_ERROR,
         names="/exports/" + NAME, secret=True),
    Case("landing-link-outside-landing", link_outside_landing, 5, LUIGI_TASK_FAILED,
         ("symbolic link", "outside"), names="{landing}/so/" + NAME),
    Case("landing-link-within-landing", link_within_landing, 0, 0, publishes=ALL),
    Case("gold-sum-overflows", landed(lambda: csv_bytes(
        GOOD + [with_value("Unit Price", HUGE, 900000 + n, Qty="1", SKU="SKU-0")
                for n in range(2)])),
         5, LUIGI_TASK_FAILED, ("for 2026-01-01: revenue of group (region=West",
                                "too large for decimal128(18, 2)"), names="gold so_",
         publishes=SILVER_ONLY),
    Case("header-line-of-2-MB", landed(lambda: long_header_file(
        [f"Extra {i} " + "x" * 200_000 for i in range(11)])), 0, 0, publishes=ALL),
    Case("header-field-of-200-KB", landed(lambda: long_header_file(["Note " + "y" * 200_000])),
         0, 0, publishes=ALL),
]

CASES = {case.id: case for case in FILE_LEVEL + ROW_LEVEL + OPERATIONAL}
FAILING = [c.id for c in CASES.values() if c.cli != 0]


# --------------------------------------------------------------------------
# servers: a proxy in front of moto that refuses the landing folder
# --------------------------------------------------------------------------

ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                 b'<Message>Access Denied</Message></Error>')


class _RefusingProxy(http.server.BaseHTTPRequestHandler):
    """Relays to moto, but answers 403 for any key or listing below ``landing/so``."""

    def do_GET(self):
        self._relay()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _relay(self):
        url = urllib.parse.urlsplit(self.path)
        prefix = urllib.parse.parse_qs(url.query).get("prefix", [""])[0]
        if "/landing/so" in url.path or prefix.startswith("landing/so"):
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(ACCESS_DENIED)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(ACCESS_DENIED)
            return
        length = int(self.headers.get("Content-Length") or 0)
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        upstream.request(self.command, self.path, body=self.rfile.read(length) if length else None,
                         headers=dict(self.headers.items()))
        answer = upstream.getresponse()
        payload = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", answer.getheader("Content-Length") or str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        upstream.close()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers(moto_server, moto_server_with_auth):
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusingProxy)
    parsed = urllib.parse.urlsplit(moto_server.endpoint)
    proxy.upstream = (parsed.hostname, parsed.port)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield Servers(moto_server.endpoint, moto_server_with_auth.endpoint,
                  f"http://127.0.0.1:{proxy.server_address[1]}", f"http://127.0.0.1:{free_port()}")
    proxy.shutdown()


# --------------------------------------------------------------------------
# running every case through both commands
# --------------------------------------------------------------------------

def run_case(case: Case, command: str, root: Path, servers: Servers) -> Result:
    ws = Workspace(root / case.id / command)
    try:
        case.prepare(ws, servers)
        landing_before, lake_before = ws.landing_snapshot(), ws.lake_files()
        if command == "cli":
            argv = etl_argv("so", "--date", DAY.isoformat(), *ws.args)
        else:
            argv = luigi_argv("GoldSO", "--date", DAY.isoformat(), "--local-scheduler",
                              *ws.luigi_args)
        done = subprocess.run((NOBODY if case.as_nobody else []) + argv, cwd=ws.cwd,
                              env=ws.environment(), capture_output=True, text=True, timeout=180)
        texts = ws.texts() if case.secret else {}
        runs = ws.lake / "_ops" / "runs" / "so"
        records = [json.loads(p.read_text()) for p in sorted(runs.iterdir())] \
            if runs.is_dir() else [json.loads(t) for k, t in texts.items() if "/_ops/runs/so/" in k]
        rejects, silver = ws.lake / PATHS["rejects"], ws.lake / PATHS["silver"]
        return Result(
            command, done.returncode, done.stdout, done.stderr, landing_before,
            ws.landing_snapshot(), lake_before, ws.lake_files(), records, texts,
            pq.read_table(rejects).to_pylist() if rejects.is_file() else [],
            pq.read_metadata(silver).num_rows if silver.is_file() else None,
            case.names.format(lake=ws.lake, landing=ws.landing, logs=ws.logs,
                              landing_url=ws.landing_url))
    finally:
        for cleanup in reversed(ws.cleanups):
            cleanup()


@pytest.fixture(scope="module")
def corpus(servers) -> Dict[Tuple[str, str], Result]:
    """Every (case, command) run once, in parallel; skipped ones absent."""
    root = Path(tempfile.mkdtemp(prefix="etl-corpus-"))
    root.chmod(0o755)  # a user nobody must reach its workspace
    jobs = [(case, command) for case in CASES.values() for command in ("cli", "luigi")
            if (command == "cli" or case.luigi is not None) and (IS_ROOT or not case.needs_root)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {(case.id, command): pool.submit(run_case, case, command, root, servers)
                   for case, command in jobs}
        results = {key: future.result() for key, future in futures.items()}
    yield results
    subprocess.run(["chmod", "-R", "u+rwX", str(root)], check=False)
    shutil.rmtree(root, ignore_errors=True)


def result_of(corpus, case_id: str, command: str) -> Result:
    case = CASES[case_id]
    if case.needs_root and not IS_ROOT:
        pytest.skip("needs root (a real non-root user, a tmpfs)")
    if command == "luigi" and case.luigi is None:
        pytest.skip("the luigi command has no equivalent")
    return corpus[(case_id, command)]


BOTH = ("cli", "luigi")


# --------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case_id", CASES)
def test_cli_exit_status_follows_the_exit_code_table(corpus, case_id):
    result = result_of(corpus, case_id, "cli")
    assert result.code == CASES[case_id].cli, str(result)


@pytest.mark.parametrize("case_id", CASES)
def test_luigi_command_exit_status_follows_luigi_cfg_retcode(corpus, case_id):
    result = result_of(corpus, case_id, "luigi")
    assert result.code == CASES[case_id].luigi, str(result)


@pytest.mark.parametrize("case_id", FAILING)
def test_cli_error_is_one_line_naming_the_file_and_the_problem(corpus, case_id):
    case, result = CASES[case_id], result_of(corpus, case_id, "cli")
    lines = result.error_lines()
    assert lines and (len(lines) == 1 or case.more_lines), str(result)
    assert result.names in lines[0], f"{result.names!r} not named\n{result}"
    for part in case.says:
        assert part in lines[0], f"{part!r} not said\n{result}"
    assert "Traceback" not in result.stdout + result.stderr, str(result)


@pytest.mark.parametrize("case_id", [c for c in CASES if c != "lake-not-writable"])
def test_cli_run_leaves_a_run_record_with_its_status_and_error(corpus, case_id):
    result = result_of(corpus, case_id, "cli")
    record = result.records[-1]  # run ids start with the time: the newest is this run's
    assert len(result.records) == (2 if CASES[case_id].prepare is unreadable_silver_folder else 1)
    assert record["exit_code"] == result.code, record
    if result.code:
        assert record["status"] == "failure"
        assert "error: " + record["error"] == result.error_lines()[0], record
    else:
        assert record["status"] == "success"


def _published(files: Dict[str, str]) -> Dict[str, bool]:
    return {step: PATHS[step] in files for step in ("silver", "rejects", "daily", "mtd")}


@pytest.mark.parametrize("command", BOTH)
@pytest.mark.parametrize("case_id", CASES)
def test_what_is_published_for_the_date(corpus, case_id, command):
    case, result = CASES[case_id], result_of(corpus, case_id, command)
    published = _published(result.lake_after)
    if case.publishes == UNCHANGED:
        changed = {k for k in set(result.lake_before) | set(result.lake_after)
                   if not k.startswith("_ops/")
                   and result.lake_before.get(k) != result.lake_after.get(k)}
        assert changed == set(), str(result)
        return
    expected = {
        NOTHING: dict(silver=False, rejects=False, daily=False, mtd=False),
        REJECTS_ONLY: dict(silver=False, rejects=True, daily=False, mtd=False),
        SILVER_ONLY: dict(silver=True, rejects=True, daily=False, mtd=False),
        ALL: dict(silver=True, rejects=True, daily=True, mtd=command == "cli"),
    }[case.publishes]
    assert published == expected, f"{sorted(result.lake_after)}\n{result}"
    hidden = [k for k in result.lake_after if Path(k).name.startswith(".")]
    assert hidden == [], "a half-written file was left behind"


@pytest.mark.parametrize("command", BOTH)
@pytest.mark.parametrize("case_id", CASES)
def test_the_landing_area_is_byte_identical_afterwards(corpus, case_id, command):
    result = result_of(corpus, case_id, command)
    assert result.landing_after == result.landing_before


@pytest.mark.parametrize("command", BOTH)
@pytest.mark.parametrize("case_id", [c.id for c in CASES.values() if c.secret])
def test_url_credentials_appear_in_no_output_log_record_or_lake_object(corpus, case_id, command):
    result = result_of(corpus, case_id, command)
    texts = {"stdout": result.stdout, "stderr": result.stderr, **result.texts}
    if command == "cli":  # its log file and run record were searched too
        assert any("/logs/so/" in k for k in texts) and any("/_ops/runs/so/" in k for k in texts)
    for secret in (SECRET, urllib.parse.quote(SECRET, safe=""), KEY):
        assert [k for k, text in texts.items() if secret in text] == [], str(result)


@pytest.mark.parametrize("command", BOTH)
@pytest.mark.parametrize("rule", ROW_RULES)
def test_each_row_rule_rejects_exactly_its_row_and_publishes_the_rest(corpus, rule, command):
    result = result_of(corpus, "one-bad-row-per-rule", command)
    column, value, reason = ROW_RULES[rule]
    row_number = ROW_RULE_GOOD + 1 + list(ROW_RULES).index(rule)
    (rejected,) = [r for r in result.rejects if r["row_number"] == row_number]
    assert reason in rejected["reject_reason"], rejected
    assert rejected[COLUMN_NAMES[column]] == value  # kept as the original text
    assert (len(result.rejects), result.silver_rows) == (len(ROW_RULES), ROW_RULE_GOOD)
