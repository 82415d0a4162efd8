"""
Pre-signed URLs as Zaqar 23.0.1 makes and checks them
(C{zaqar.common.urls.create_signed_url} and the C{signed_url} before-hook):
an HMAC-SHA256 over the paths, methods, project and expiry date.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from typing import Any

__all__ = ["sign", "verified"]

_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _expiry(expires: str | None, now: datetime.datetime) -> datetime.datetime:
    """The expiry date asked for (a day from C{now} by default), naive UTC."""
    if expires is None:
        return now + datetime.timedelta(days=1)
    check = None
    try:
        check = int(expires)
    except (TypeError, ValueError):
        pass
    if check:
        raise ValueError("`expires` should be date format, for example "
                         f"2016-01-01T00:00:00, not integer value: {check}")
    if not isinstance(expires, str):
        raise ValueError(f"Unable to parse date string {expires!r}")
    try:
        parsed = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"Unable to parse date string {expires!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    return parsed


def sign(secret_key: str | None, paths: list[str], methods: list[str] | None,
         project: str | None, expires: str | None, now: datetime.datetime) -> dict[str, Any]:
    """
    C{zaqar.common.urls.create_signed_url}.

    @param now: the wall-clock time, naive UTC.
    @return: the share document: C{paths}, C{methods}, C{project},
        C{expires} and C{signature}.
    @raise ValueError: as Zaqar's does, with its message (no key, bad
        paths or methods, a bad or past expiry date).
    """
    methods = methods or ["GET"]
    if secret_key is None:
        raise ValueError("The `key` can't be None")
    if not isinstance(paths, list) or not paths:
        raise ValueError("`paths` must be a non-empty list")
    if not isinstance(methods, list):
        raise ValueError("`methods` should be a list")
    expires_dt = _expiry(expires, now)
    if expires_dt <= now:
        raise ValueError("`expires` is lower than the current time")
    methods = sorted(methods)
    paths = sorted(paths)
    expires_str = expires_dt.strftime(_DATE_FORMAT)
    text = "\\n".join([",".join(paths), ",".join(methods), str(project), expires_str])
    signature = hmac.new(secret_key.encode("utf-8"), text.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    return {"paths": paths, "methods": methods, "project": project,
            "expires": expires_str, "signature": signature}


def verified(secret_key: str | None, method: str, path: str, headers: dict[str, str],
             now: datetime.datetime) -> bool:
    """
    Whether a request carrying C{URL-Signature} may pass: its method and
    path are among the signed ones, and the signature matches and has not
    expired.  (Zaqar answers a bare 404 when not.)

    @param headers: the request's headers, names in lower case.
    """
    signature = headers["url-signature"]
    methods = headers.get("url-methods", "").split(",")
    paths = headers.get("url-paths", "").split(",")
    if method not in methods:
        return False
    # Signed paths are regular expressions; the re.error of one that does
    # not compile is not caught (twisted.web answers 500).
    if not any(p and re.search(p, path) for p in paths):
        return False
    try:
        expected = sign(secret_key, paths, methods, headers.get("x-project-id"),
                        headers.get("url-expires"), now)
    except ValueError:
        return False
    return hmac.compare_digest(expected["signature"], signature)
