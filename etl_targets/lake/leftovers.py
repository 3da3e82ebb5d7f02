"""What killed writers leave behind, told by its owner: the rules of the sweep.

A SIGKILLed writer runs no cleanup: a local write leaves its dot-named
temporary file, an S3 write its unfinished multipart upload. Concurrent
writers may share a folder, so a leftover is recognised by its owner (the
process and host named in a temporary file's name) rather than by age.
:func:`etl_targets.lake.writer.remove_abandoned_writes` applies these rules.
"""

import contextlib
import email.utils
import os
import re
import secrets
import socket
import time
from typing import List, Optional

#: Age after which a temporary file whose writer cannot be checked (written
#: on another host, or named by an older version) counts as abandoned.
UNOWNED_TEMP_AGE = 24 * 3600.0

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63]
#: ``.<name>.<pid>-<host>-<hex>.tmp``; the older ``.<name>.<32 hex>.tmp`` has no owner.
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-(?P<host>[A-Za-z0-9-]*)-[0-9a-f]{8}"
                        r"|[0-9a-f]{32})\.tmp$")
#: A live process may have started up to this long after its file's mtime
#: (``btime`` in /proc/stat is whole seconds; clocks get adjusted).
_CLOCK_SLACK = 2.0


def temporary_name(name: str) -> str:
    """``.<name>.<pid>-<host>-<hex>.tmp``: hidden from Parquet readers, owned by this process."""
    return f".{name}.{os.getpid()}-{_HOST}-{secrets.token_hex(4)}.tmp"


def remove_local_temporaries(folder: str) -> List[str]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    removed = []
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        with contextlib.suppress(FileNotFoundError):  # renamed by its writer, or swept by another
            if match and _abandoned(match, entry.stat(follow_symlinks=False).st_mtime):
                os.remove(entry.path)
                removed.append(entry.path)
    return removed


def _abandoned(name: "re.Match", last_written: float) -> bool:
    if name["pid"] is None or name["host"] != _HOST:
        return time.time() - last_written > UNOWNED_TEMP_AGE
    started = _process_start(int(name["pid"]))
    return started is None or started > last_written + _CLOCK_SLACK


def _process_start(pid: int) -> Optional[float]:
    """When the live process ``pid`` started (epoch seconds); None if none runs."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return None
    except PermissionError:
        pass  # alive, another user's
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()  # after "pid (comm)"
        with open("/proc/stat", "rb") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith(b"btime"))
    except (OSError, StopIteration):
        return float("-inf")  # no /proc: alive, start unknown, so never taken for abandoned
    if fields[0] in (b"Z", b"X"):
        return None  # killed, not yet reaped
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def abort_uploads(fs, bucket: str, prefix: str, wanted) -> List[str]:
    """Aborts the unfinished multipart uploads under ``prefix`` that ``wanted(upload, age)`` picks."""
    aborted, marker = [], {}
    while True:
        # s3fs's list_multipart_uploads() lists the whole bucket; call_s3 passes a Prefix.
        page = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix, **marker)
        now = _server_time(page)
        for upload in page.get("Uploads", []):
            if wanted(upload, now - upload["Initiated"].timestamp()):
                with contextlib.suppress(FileNotFoundError):  # aborted meanwhile by another sweep
                    fs.abort_mpu(bucket, upload["Key"], upload["UploadId"])
                aborted.append(f"s3://{bucket}/{upload['Key']}")
        if not page.get("IsTruncated"):
            return aborted
        marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}


def _server_time(response: dict) -> float:
    """The ``Date`` of an S3 response, so ages do not depend on this machine's clock."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    return email.utils.parsedate_to_datetime(date).timestamp() if date else time.time()
