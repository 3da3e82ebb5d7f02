"""A reverse proxy that adds a fixed latency to every S3 request (run by hand, by the bench).

Real S3 answers in 20-50 ms; the moto server on loopback in a few. Put this
proxy between the client and moto (point ``AWS_ENDPOINT_URL`` at it) and
every request first waits ``--delay-ms``, then is forwarded to moto, and the
answer is streamed back. Requests are served concurrently (one thread per
connection, at most ``--max-connections`` at once), so a client with four
workers sees four requests in flight, as it would against S3.

Usage (the bench starts and stops it through :class:`LatencyProxy`):
    python bench/latency_proxy.py --upstream http://127.0.0.1:PORT --port PORT2 [--delay-ms 20]
"""

import argparse
import http.client
import http.server
import os
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from typing import Optional

#: headers that describe one hop, not the request (RFC 9110 section 7.6.1)
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
       "upgrade", "expect"}
CHUNK = 1 << 16


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3 and s3fs expect
    server: "_Server"

    def log_message(self, *args) -> None:  # moto logs every request already
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        body = self._body()
        time.sleep(self.server.delay)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        upstream = self.server.connection()
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
        except (OSError, http.client.HTTPException):
            upstream.close()  # a stale keep-alive connection: one retry on a fresh one
            upstream = self.server.connection(fresh=True)
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
        self.send_response_only(answer.status, answer.reason)
        length = answer.getheader("Content-Length")
        chunked = length is None and self.command != "HEAD" and answer.status not in (204, 304)
        for key, value in answer.getheaders():
            if key.lower() not in HOP:
                self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command != "HEAD":
            while True:
                block = answer.read(CHUNK)
                if not block:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        answer.read()
        self.wfile.flush()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, upstream: str, delay: float, max_connections: int):
        super().__init__(address, _Handler)
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.delay = delay
        self._slots = threading.BoundedSemaphore(max_connections)
        self._local = threading.local()

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        """This thread's keep-alive connection to moto."""
        if fresh or getattr(self._local, "conn", None) is None:
            self._local.conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        return self._local.conn

    def process_request(self, request, client_address):
        self._slots.acquire()  # bounded: a runaway client waits instead of piling threads
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve(upstream: str, port: int, delay_ms: float, max_connections: int = 64) -> None:
    server = _Server(("127.0.0.1", port), upstream, delay_ms / 1000, max_connections)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


class LatencyProxy:
    """The proxy in a subprocess; a context manager that always stops it."""

    def __init__(self, upstream: str, delay_ms: float = 20, port: Optional[int] = None):
        self.upstream, self.delay_ms = upstream, delay_ms
        self.port = port or _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process = None

    def __enter__(self) -> "LatencyProxy":
        from measure import spawn  # its own process group, stopped with the bench

        self._process = spawn(
            [sys.executable, os.path.abspath(__file__), "--upstream", self.upstream,
             "--port", str(self.port), "--delay-ms", str(self.delay_ms)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("latency proxy exited at start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"latency proxy did not listen on port {self.port}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        from measure import stop

        if self._process is not None:
            stop(self._process)
        self._process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="moto's URL, http://host:port")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--max-connections", type=int, default=64)
    args = parser.parse_args(argv)
    serve(args.upstream, args.port, args.delay_ms, args.max_connections)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
