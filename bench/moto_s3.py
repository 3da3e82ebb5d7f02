"""A moto S3 server in a subprocess, and S3 requests counted from its log.

The server's werkzeug log has one line per HTTP request; counting the lines
written between two marks gives the exact number of S3 requests a run made,
whatever client made them (s3fs, boto3 through luigi). The log is colourised,
so ANSI escapes are stripped before matching.
"""

import collections
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import Counter, List, Optional

REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP')
ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DATE = re.compile(r"date=\d{4}-\d{2}-\d{2}")
_ANY_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LANDING = re.compile(r"zheSO-\d{4}-\d{1,2}-\d{1,2}")
_NOISE = re.compile(r"&?(encoding-type=url|delimiter=|continuation-token=[^&]*)")

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """``python -m moto.server`` with its request log in ``log_path``.

    Use as a context manager: the server is stopped on exit, even on Ctrl-C.
    """

    def __init__(self, log_path: str, port: Optional[int] = None):
        self.log_path = log_path
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: Optional[subprocess.Popen] = None
        self._log = None

    def __enter__(self) -> "MotoServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        from measure import spawn  # its own process group, stopped with the bench

        self._process = spawn(
            [sys.executable, "-u", "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log, stderr=self._log, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited at start; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not listen on port {self.port}")

    def stop(self) -> None:
        from measure import stop

        if self._process is not None:
            stop(self._process)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def environ(self) -> dict:
        """The AWS variables that point boto3 and s3fs at this server."""
        return dict(CREDENTIALS, AWS_ENDPOINT_URL=self.endpoint)

    def mark(self) -> int:
        """The log position after every request answered so far.

        werkzeug logs a request after answering it, so the client may have
        its response a moment before the line is written: wait until the
        log stops growing.
        """
        size, stable_since = -1, time.monotonic()
        while True:
            current = os.path.getsize(self.log_path)
            if current != size:
                size, stable_since = current, time.monotonic()
            elif time.monotonic() - stable_since >= 0.3:
                return size
            time.sleep(0.05)

    def requests_since(self, mark: int) -> List[str]:
        """``METHOD /path`` of every request logged after ``mark``."""
        with open(self.log_path, "rb") as handle:
            handle.seek(mark)
            text = handle.read().decode("utf-8", "replace")
        found = []
        for line in text.splitlines():
            match = REQUEST.search(ANSI.sub("", line))
            if match:
                found.append(f"{match.group(1)} {urllib.parse.unquote(match.group(2))}")
        return found


def pattern(request: str, bucket: str = "", prefix: str = "") -> str:
    """One request with dates and the run's lake (``/bucket/prefix``) generalised."""
    text = _DATE.sub("date=*", request)
    text = _ANY_DATE.sub("*", text)
    text = _LANDING.sub("zheSO-*", text)
    text = _NOISE.sub("", text).replace("?&", "?")
    if bucket and prefix:
        text = text.replace(f"/{bucket}/{prefix}", "{lake}")
        text = text.replace(f"/{bucket}?", "{lake}?").replace(f"prefix={prefix}", "prefix={lake}")
    return text


def breakdown(requests: List[str], bucket: str = "", prefix: str = "") -> Counter:
    """Request counts per generalised pattern, most frequent first."""
    return collections.Counter(pattern(r, bucket, prefix) for r in requests)


class S3Bench:
    """moto, the 20 ms proxy in front of it, a boto3 client and the landing on S3.

    Backends: ``s3`` talks to moto directly, ``s3+20ms`` through the proxy;
    both count their requests in moto's log. A context manager: the proxy
    and the server are stopped on exit, whatever happens.
    """

    LANDING_BUCKET, LAKE_BUCKET = "bench-landing", "bench-lake"

    def __init__(self, log_path: str, delay_ms: float = 20):
        self.moto = MotoServer(log_path)
        self.delay_ms = delay_ms
        self.proxy = None
        self.client = None
        self.landings = {}

    def __enter__(self) -> "S3Bench":
        from latency_proxy import LatencyProxy

        try:
            self.moto.start()
            os.environ.update(self.moto.environ())  # before anything imports boto3 or s3fs
            self.proxy = LatencyProxy(self.moto.endpoint, self.delay_ms).__enter__()
            import boto3

            self.client = boto3.client("s3", endpoint_url=self.moto.endpoint)
            for bucket in (self.LANDING_BUCKET, self.LAKE_BUCKET):
                self.client.create_bucket(Bucket=bucket)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.moto.stop()

    def env(self, backend: str) -> dict:
        """The child's AWS variables for ``s3`` or ``s3+20ms``."""
        endpoint = self.proxy.endpoint if backend.startswith("s3+") else self.moto.endpoint
        return dict(self.moto.environ(), AWS_ENDPOINT_URL=endpoint)

    def landing(self, local_root: str, folders=("so",)) -> str:
        """Copies a local landing folder to S3 once (not counted); returns its URL."""
        if local_root not in self.landings:
            name = f"l{len(self.landings)}"
            for folder in folders:
                for file_name in sorted(os.listdir(os.path.join(local_root, folder))):
                    self.client.upload_file(os.path.join(local_root, folder, file_name),
                                            self.LANDING_BUCKET, f"{name}/{folder}/{file_name}")
            self.landings[local_root] = f"s3://{self.LANDING_BUCKET}/{name}"
        return self.landings[local_root]

    def lake(self, name: str) -> str:
        return f"s3://{self.LAKE_BUCKET}/{name}"

    def drop_lake(self, name: str) -> None:
        """moto lists a prefix by scanning every key of the bucket: lakes left behind
        would make each later run's listings slower than the last."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.LAKE_BUCKET, Prefix=f"{name}/"):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.LAKE_BUCKET, Delete={"Objects": keys})

    def counted(self, run):
        """Calls ``run()``; returns (its result, the S3 requests made meanwhile)."""
        mark = self.moto.mark()
        result = run()
        self.moto.mark()  # waits for the last requests to be logged
        return result, self.moto.requests_since(mark)
