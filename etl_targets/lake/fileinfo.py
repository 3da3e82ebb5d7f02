"""What a listing says about one file, whatever the backend spells it.

fsspec's info dicts differ per backend (local ``mtime`` as epoch seconds,
s3fs ``LastModified`` as a datetime and a quoted ``ETag``); staleness rules
compare them, so they are read here once, the same way for every backend.
"""

import datetime as dt
from typing import Optional


def size(info: dict) -> Optional[int]:
    """Bytes, or None when the listing did not say."""
    value = info.get("size", info.get("Size"))
    return None if value is None else int(value)


def modified_time(info: dict) -> Optional[float]:
    """Last modification as epoch seconds (UTC), or None when unknown."""
    for key in ("mtime", "LastModified", "last_modified", "updated"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            return value.timestamp()
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        return float(value)
    return None


def etag(info: dict) -> Optional[str]:
    """The object store's content tag without quotes (S3), or None (local disk)."""
    value = info.get("ETag") or info.get("etag")
    return value.strip('"') if value else None


def isoformat(epoch: Optional[float]) -> Optional[str]:
    """Epoch seconds as an ISO 8601 UTC string for records, or None."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="microseconds")
