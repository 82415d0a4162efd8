"""
L{SignedURLAuth}: act with nothing but a pre-signed URL (C{Queue.share()}'s
document).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from .._support import validation as v
from ..errors import (
    ClientValidationError,
    NotAllowedBySignedURL,
    SignedURLExpired,
)
from ..interfaces import IAuthenticator


def _expiry_seconds(expires: str) -> float:
    """POSIX seconds of an expiry date as Zaqar writes it (naive means UTC)."""
    try:
        parsed = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        raise ClientValidationError("signed_url", f"expires {expires!r} is not an ISO 8601 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


@implementer(IAuthenticator)
class SignedURLAuth:
    """
    Act with nothing but a pre-signed URL (what C{Queue.share()} gives):
    sends C{URL-Signature}, C{URL-Expires}, C{URL-Methods}, C{URL-Paths}
    and C{X-Project-ID}, which Zaqar checks instead of credentials.

    A request the URL does not allow is refused before it is sent
    (L{NotAllowedBySignedURL}), as is any request once the URL has expired
    (L{SignedURLExpired}): the server's answer to both would be a bare 404.
    The path check is Zaqar's own: the request's path must contain (as a
    regular expression search) one of the signed paths, so
    C{/v2/queues/q/messages} also covers C{/v2/queues/q/messages/<id>}.

    @param document: the signed URL: a C{txzaqar.SignedURL}, its
        C{to_json()} C{dict}, or that as JSON text.
    @param clock: provides C{seconds()} (L{twisted.internet.interfaces.IReactorTime}), for the expiry
        check; the global reactor when omitted.
    @raise ClientValidationError: not a signed URL document.
    """

    def __init__(self, document: Any, clock: Any = None) -> None:
        if not isinstance(document, (Mapping, str, bytes)):
            to_json = getattr(document, "to_json", None)
            document = to_json() if callable(to_json) else document
        doc = v.signed_url_document(document)
        #: The path patterns the URL allows (regular expressions searched in a request's path).
        self.paths: tuple[str, ...] = tuple(doc["paths"])
        #: The HTTP methods the URL allows.
        self.methods: tuple[str, ...] = tuple(doc["methods"])
        #: The project the URL acts in (sent as C{X-Project-ID}).
        self.project_id: str = doc["project"]
        #: The URL's expiry date (ISO 8601, UTC).
        self.expires: str = doc["expires"]
        self._signature: str = doc["signature"]
        #: The Zaqar URL the document carries (its optional C{url}), or C{None}.
        self.url: str | None = doc.get("url")
        self._expires_at = _expiry_seconds(self.expires)
        for path in self.paths:
            try:
                re.compile(path)
            except re.error:
                raise ClientValidationError("signed_url", f"path {path!r} is not a regular expression") from None
        queues = {m.group(1) for m in (_QUEUE_PATH.match(p) for p in self.paths) if m}
        #: The queue the signed paths name, or C{None} if they name several.
        self.queue: str | None = queues.pop() if len(queues) == 1 else None
        if clock is None:
            from twisted.internet import reactor as global_reactor

            clock = global_reactor
        self._clock = clock

    def __repr__(self) -> str:
        return (f"SignedURLAuth(paths={list(self.paths)!r}, methods={list(self.methods)!r}, "
                f"project_id={self.project_id!r}, expires={self.expires!r}, signature=<hidden>)")

    @property
    def expired(self) -> bool:
        """Whether the expiry date has passed, by the clock."""
        return self._clock.seconds() >= self._expires_at

    def check(self, method: str, path: str) -> None:
        """
        @raise SignedURLExpired: the URL has expired.
        @raise NotAllowedBySignedURL: the method or path is not signed.
        """
        if self.expired:
            raise SignedURLExpired(self.expires)
        if method not in self.methods:
            raise NotAllowedBySignedURL(
                method, path, f"the signed URL allows {', '.join(self.methods)}, not {method} (of {path})"
            )
        if not any(re.search(p, path) for p in self.paths):
            raise NotAllowedBySignedURL(
                method, path, f"the signed URL allows the paths {', '.join(self.paths)}, not {path}"
            )

    def headers(self) -> Deferred[dict[str, str]]:
        return succeed({
            "URL-Signature": self._signature,
            "URL-Expires": self.expires,
            "URL-Methods": ",".join(self.methods),
            "URL-Paths": ",".join(self.paths),
            "X-Project-ID": self.project_id,
        })

    def endpoint(self) -> Deferred[str | None]:
        return succeed(self.url)

    def invalidate(self, used: Mapping[str, str] | None = None) -> bool:
        return False

    def close(self) -> Deferred[None]:
        return succeed(None)


_QUEUE_PATH = re.compile(r"^/v2/queues/([a-zA-Z0-9_\-.]+)/(?:messages|claims|subscriptions)$")
