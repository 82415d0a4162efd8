"""
L{SignedURL}, a pre-signed URL (C{Queue.share()}'s document), and
L{SignedURLAuth}, which acts with nothing but one.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

import attr
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from .._support import validation as v
from ..errors import (
    ClientValidationError,
    NotAllowedBySignedURL,
    SignedURLExpired,
)
from ..interfaces import IAuthenticator
from .static import StaticAuthenticator


def _expiry_seconds(expires: str) -> float:
    """POSIX seconds of an expiry date as Zaqar writes it (naive means UTC)."""
    try:
        parsed = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        raise ClientValidationError("signed_url", f"expires {expires!r} is not an ISO 8601 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SignedURL:
    """A pre-signed URL: send L{headers} to use it without credentials."""

    #: The signed paths.
    paths: tuple[str, ...]
    #: The allowed HTTP methods.
    methods: tuple[str, ...]
    #: The project the URL acts in.
    project: str
    #: The expiry date (ISO 8601, UTC).
    expires: str
    #: The signature (a secret: not in the repr).
    signature: str = attr.ib(repr=False)

    def to_json(self, url: str | None = None) -> dict[str, Any]:
        """
        The document to hand to whoever will use the URL (the JSON
        C{share} answered with): C{txzaqar.connect(signed_url=doc)} or
        C{twistd zaqar-listen --signed-url-file} take it back.

        @param url: Zaqar's base URL, added as C{url} so that the document
            alone is enough to connect.
        """
        doc: dict[str, Any] = {
            "paths": list(self.paths), "methods": list(self.methods), "project": self.project,
            "expires": self.expires, "signature": self.signature,
        }
        if url is not None:
            doc["url"] = url
        return v.signed_url_document(doc)

    @classmethod
    def from_json(cls, data: Any) -> "SignedURL":
        """
        Read a signed URL document (a C{dict}, or its JSON text).

        @raise ClientValidationError: not such a document.
        """
        data = v.signed_url_document(data)
        return cls(paths=tuple(data["paths"]), methods=tuple(data["methods"]), project=data["project"],
                   expires=data["expires"], signature=data["signature"])

    def headers(self) -> dict[str, str]:
        """
        The headers that stand for credentials: C{URL-Signature}, C{URL-Expires}, C{URL-Methods},
        C{URL-Paths} and C{X-Project-ID}.
        """
        return {
            "URL-Signature": self.signature,
            "URL-Expires": self.expires,
            "URL-Methods": ",".join(self.methods),
            "URL-Paths": ",".join(self.paths),
            "X-Project-ID": self.project,
        }


@implementer(IAuthenticator)
class SignedURLAuth(StaticAuthenticator):
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
        #: The signed URL this acts with (what L{headers} sends).
        self.signed_url = SignedURL.from_json(doc)
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

    @property
    def paths(self) -> tuple[str, ...]:
        """The path patterns the URL allows (regular expressions searched in a request's path)."""
        return self.signed_url.paths

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods the URL allows."""
        return self.signed_url.methods

    @property
    def project_id(self) -> str:
        """The project the URL acts in (sent as C{X-Project-ID})."""
        return self.signed_url.project

    @property
    def expires(self) -> str:
        """The URL's expiry date (ISO 8601, UTC)."""
        return self.signed_url.expires

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
        return succeed(self.signed_url.headers())

    def endpoint(self) -> Deferred[str | None]:
        return succeed(self.url)


_QUEUE_PATH = re.compile(r"^/v2/queues/([a-zA-Z0-9_\-.]+)/(?:messages|claims|subscriptions)$")
