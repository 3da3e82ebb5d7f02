"""Secrets in URLs: taken out before a URL reaches fsspec, kept out of every text.

A root or ``--input`` may carry credentials (``s3://KEY:SECRET@bucket/...``,
``https://user:pw@host/...``) or a presigned query (``?X-Amz-Signature=...``).
:func:`split_credentials` hands an S3 key pair to s3fs as options, so the
bucket and paths are clean, and remembers every secret it saw:
:func:`redact` removes them from any text - a URL, an error message, a
message the cloud SDK built around a bucket name - before it is shown,
logged or recorded.

Standard library only: it knows nothing of fsspec.
"""

import re
import urllib.parse
from typing import Set, Tuple

#: Every password (and S3 access key) seen in a URL by this process.
_SECRETS: Set[str] = set()
#: Shorter "secrets" are not remembered: replacing them everywhere would garble text.
_SHORTEST_SECRET = 4
#: ``scheme://user[:password]@``
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<user>[^/@:\s]*)"
                       r"(?::(?P<password>[^/@\s]*))?@")
#: ``s3://KEY:SECRET@`` with the secret's ``/`` not percent-encoded (most AWS
#: secrets hold one): a bucket name never has ``:``, so the ``@`` still ends it
_S3_USERINFO = re.compile(r"^(?P<scheme>s3a?)://(?P<user>[^/@:\s]+):(?P<password>[^@\s]*)@",
                          re.IGNORECASE)
#: what any text shows of ``scheme://user:secret@`` (a secret may hold ``/``)
_SHOWN_USERINFO = re.compile(r"(?<=://)[^/@\s]+(?::[^@\s]*)?@")
#: ``?X-Amz-Signature=...``, ``&token=...``: query values that are secrets
_SECRET_QUERY = re.compile(
    r"(?i)([?&][^=&\s]*(?:signature|credential|token|secret|password|passwd|key|sig)[^=&\s]*=)"
    r"[^&\s]+")
S3_SCHEMES = ("s3", "s3a")


def split_credentials(url: str) -> Tuple[str, dict]:
    """``s3://KEY:SECRET@rest`` -> (``s3://rest``, ``{"key": KEY, "secret": SECRET}``).

    The secret is percent-decoded (an AWS secret may hold ``/`` or ``+``); an
    S3 secret whose ``/`` was written as it is is understood too.
    Other protocols keep their user info, which fsspec reads itself (HTTP
    basic auth, FTP, SFTP); their password is remembered for :func:`redact` all the same.
    """
    found = _USERINFO.match(url) or _S3_USERINFO.match(url)
    if found is None:
        return url, {}
    user, password = found["user"], found["password"] or ""
    is_s3 = found["scheme"].lower() in S3_SCHEMES
    for secret in (password, user if is_s3 else ""):
        if len(secret) >= _SHORTEST_SECRET:
            _SECRETS.update({secret, urllib.parse.unquote(secret)})
    if not is_s3:
        return url, {}
    return f"{found['scheme']}://{url[found.end():]}", {
        "key": urllib.parse.unquote(user), "secret": urllib.parse.unquote(password)}


def redact(text: str) -> str:
    """Removes ``user:secret@``, secret query values and every remembered secret from a URL or message."""
    for secret in _SECRETS:
        text = text.replace(secret, "REDACTED")
    if "@" not in text and "?" not in text and "&" not in text:
        return text  # the usual case, asked thousands of times while luigi schedules
    return _SECRET_QUERY.sub(r"\1REDACTED", _SHOWN_USERINFO.sub("", text))
