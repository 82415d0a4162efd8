"""
The exceptions txzaqar raises, and the one place that maps an HTTP status
to one of them.

Every error is a L{ZaqarError}: it carries C{title}, C{description} and
C{code} (the HTTP status, or C{None} when nothing came back from the
server) plus the server's C{request_id} when there is one.  C{str(error)}
reads C{"ErrorName (code): title"} (C{"ErrorName: title"} when there is no
status), with the description after a dash.

Whether a failed request may have reached Zaqar is a declared field of
every error, L{ZaqarError.not_sent} (and its negation
L{ZaqarError.may_have_been_sent}): C{True} only when it certainly did not
(a refused connection, a failed name lookup, a value refused before
sending), so replaying it cannot do anything twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class ZaqarError(Exception):
    """
    Base of every txzaqar error.
    """

    #: The HTTP status this class stands for, if it stands for one.
    status: int | None = None

    #: Whether the request certainly never reached Zaqar (so replaying it is
    #: safe); C{False} when it may have been sent (or was answered).
    not_sent: bool = False

    def __init__(
        self,
        title: str = "",
        description: str = "",
        code: int | None = None,
        request_id: str | None = None,
        *,
        not_sent: bool | None = None,
    ) -> None:
        #: Short summary (Zaqar's C{title}; the class's name when there is none).
        self.title = title or self.__class__.__name__
        #: Longer explanation (Zaqar's C{description}; may be empty).
        self.description = description
        #: The HTTP status (the class's L{status} unless given), or C{None} if no response was received.
        self.code = code if code is not None else self.status
        #: The server's C{x-openstack-request-id}, if any.
        self.request_id = request_id
        if not_sent is not None:
            self.not_sent = not_sent
        super().__init__(self.title, self.description, self.code)

    @property
    def may_have_been_sent(self) -> bool:
        """Whether the request may have reached Zaqar (the negation of L{not_sent})."""
        return not self.not_sent

    def __str__(self) -> str:
        name = self.__class__.__name__
        text = f"{name}: {self.title}" if self.code is None else f"{name} ({self.code}): {self.title}"
        if self.description:
            text += f" - {self.description}"
        return text

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(title={self.title!r}, "
            f"description={self.description!r}, code={self.code!r}, "
            f"request_id={self.request_id!r})"
        )


class ClientValidationError(ZaqarError, ValueError):
    """
    A value was refused before anything was sent, because the server
    would refuse it.
    """

    not_sent = True

    def __init__(self, field: str, description: str) -> None:
        #: The name of the offending field or argument.
        self.field = field
        super().__init__(title=f"Invalid {field}", description=description)


class NotAllowedBySignedURL(ClientValidationError):
    """
    A pre-signed URL does not allow this request (its method or path is
    not among the signed ones); nothing was sent.  Zaqar would answer a
    bare 404.
    """

    def __init__(self, method: str, path: str, description: str) -> None:
        super().__init__("signed_url", description)
        #: The request's method.
        self.method = method
        #: The request's path.
        self.path = path


class SignedURLExpired(ClientValidationError):
    """
    The pre-signed URL's expiry date has passed; nothing was sent (Zaqar
    would answer a bare 404).  Ask its owner for a new one.
    """

    def __init__(self, expires: str) -> None:
        super().__init__("signed_url", f"expired at {expires} UTC; ask for a new one")
        #: The URL's expiry date (ISO 8601, UTC).
        self.expires = expires


class TransportError(ZaqarError):
    """
    No usable response came back: see the subclasses, and L{not_sent} for
    whether the request may have reached Zaqar.
    """


class ConnectionFailed(TransportError):
    """
    The server could not be reached, or the connection broke before a
    response came (name lookup failed, refused, reset, TLS handshake
    failed...).
    """


class CertificateVerificationFailed(ConnectionFailed):
    """
    The server's TLS certificate was refused (unknown CA, expired, issued
    for another host...): a permanent mistake of the URL or the trust
    settings (C{cacert}), not an outage.  Nothing was sent.
    """

    not_sent = True


class ClientClosed(ConnectionFailed):
    """
    The client (its connection) was closed, before or while this request
    was made: L{not_sent} says whether it may have reached Zaqar.
    """


class RequestTimedOut(TransportError):
    """
    The server did not answer within the request timeout (or no connection
    was made within it, then L{not_sent} is C{True}).
    """


class MalformedResponse(ZaqarError):
    """
    A response came back, but its body is not what Zaqar sends: not JSON,
    an HTML page from a proxy, a truncated body, or the wrong shape.
    """


class HTTPError(ZaqarError):
    """An error status from the server (see the per-status subclasses)."""


class BadRequest(HTTPError):
    """400: the server refused the request as invalid."""

    status = 400


class Unauthorized(HTTPError):
    """401: missing, expired or revoked credentials."""

    status = 401

    #: The authentication headers the refused request carried (set by the
    #: connection, so that the authenticator renews only credentials it has
    #: not renewed since), or C{None}.
    auth_headers: Mapping[str, str] | None = None


class Forbidden(HTTPError):
    """403: a policy refused the call, or a claimed message was deleted without its claim."""

    status = 403


class NotFound(HTTPError):
    """404: no such message, claim, subscription or route."""

    status = 404


class MethodNotAllowed(HTTPError):
    """405: the route does not accept this method."""

    status = 405


class NotAcceptable(HTTPError):
    """406: the server cannot answer in JSON."""

    status = 406


class Conflict(HTTPError):
    """409: the resource already exists, or a JSON-patch target is missing."""

    status = 409


class PayloadTooLarge(HTTPError):
    """413: the request body is too large."""

    status = 413


class UnsupportedMediaType(HTTPError):
    """415: wrong C{Content-Type} (e.g. queue PATCH without the JSON-patch type)."""

    status = 415


class InternalServerError(HTTPError):
    """500: an unhandled error in the server (may be transient)."""

    status = 500


class BadGateway(HTTPError):
    """502: a proxy in front of Zaqar could not reach it."""

    status = 502


class ServiceUnavailable(HTTPError):
    """503: storage unreachable or overloaded; Zaqar says to try again."""

    status = 503


class GatewayTimeout(HTTPError):
    """504: a proxy in front of Zaqar timed out."""

    status = 504


class EncryptedQueueError(ZaqarError):
    """
    The queue stores its messages encrypted and Zaqar 23 answers this call
    with the ciphertext, which the client never hands out: see the
    subclasses.
    """


class EncryptedPopRefused(EncryptedQueueError):
    """
    Pop on an encrypted queue: Zaqar 23 returns the ciphertext and deletes
    the messages, so their bodies could never be delivered.  Nothing was
    popped; claim the messages and delete them instead.
    """

    def __init__(self, queue_name: str) -> None:
        super().__init__(
            title="Pop refused on an encrypted queue",
            description=f"Zaqar returns ciphertext from pop on {queue_name!r} (encrypted) and deletes "
                        f"the messages; nothing was popped: claim and delete them instead",
        )
        #: The queue's name.
        self.queue_name = queue_name


class EncryptedReadFailed(EncryptedQueueError):
    """
    Zaqar 23 answered a claim on an encrypted queue with ciphertext and
    reading the claimed messages back by id (to get their bodies) failed.
    (or, for a queue not known to be encrypted, reading its metadata to
    tell) failed.  A new claim was released, so nothing was lost; L{cause}
    says why.
    """

    def __init__(self, queue_name: str, cause: ZaqarError, released: bool,
                 step: str = "reading the claimed messages back by id") -> None:
        then = "the claim was released" if released else "the claim is kept"
        super().__init__(
            title="Claimed messages of an encrypted queue could not be read back",
            description=f"Zaqar returns ciphertext from claims on an encrypted queue; for {queue_name!r} "
                        f"{step} failed ({cause.__class__.__name__}: {cause.title}); {then}",
            code=cause.code,
            request_id=cause.request_id,
        )
        #: The queue's name.
        self.queue_name = queue_name
        #: The error of the read.
        self.cause = cause
        #: Whether the claim was released.
        self.released = released


class AuthenticationFailed(ZaqarError):
    """Identity (Keystone) refused the credentials, or has no Zaqar endpoint."""


class IdentityUnavailable(AuthenticationFailed):
    """Identity (Keystone) could not be reached or failed (may be transient)."""


class EndpointNotFound(AuthenticationFailed):
    """
    Keystone accepted the credentials, but its catalog has no endpoint of
    the service for this region and interface: a mistake of the
    configuration (C{region_name}, C{interface}), not of the credentials.
    """


class IdentityCertificateRefused(IdentityUnavailable):
    """
    The TLS handshake with Keystone failed (its certificate was refused, or
    ours): a mistake of the trust settings (C{cacert}), not an outage,
    although the daemon's backoff treats it as one while running.
    """


def refused(error: BaseException) -> bool:
    """
    Whether C{error} says the credentials or the permissions are refused
    (Keystone refused the login, Zaqar answered 401 after a new token, or
    403), as opposed to a server being away: waiting will not fix it.
    """
    if isinstance(error, IdentityUnavailable):
        return False
    return isinstance(error, (AuthenticationFailed, Unauthorized, Forbidden))


_BY_STATUS: dict[int, type[HTTPError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        InternalServerError,
        BadGateway,
        ServiceUnavailable,
        GatewayTimeout,
    )
    if cls.status is not None
}

#: Statuses worth retrying for an idempotent request.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})

_MAX_SNIPPET = 200


def _snippet(body: bytes) -> str:
    text = body[:_MAX_SNIPPET].decode("utf-8", "replace")
    return text + ("..." if len(body) > _MAX_SNIPPET else "")


def error_from_response(
    code: int, body: bytes, headers: Mapping[str, str] | None = None
) -> HTTPError:
    """
    Build the exception for an error response.

    Understands Zaqar's C{{"title", "description"}} bodies, keystonemiddleware's
    C{{"error": {"title", "message"}}} bodies, empty bodies and anything else
    (HTML from a proxy, plain text), which is summarised, never dumped whole.

    @param code: the HTTP status (>= 400).
    @param body: the full response body.
    @param headers: lower-case header names to values.
    @return: an L{HTTPError} subclass instance (L{HTTPError} itself for a
        status with no dedicated class).
    """
    request_id = (headers or {}).get("x-openstack-request-id")
    cls = _BY_STATUS.get(code, HTTPError)
    title = ""
    description = ""
    parsed: Any = None
    if body.strip():
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
            parsed = None
    if isinstance(parsed, dict):
        inner = parsed.get("error")
        if isinstance(inner, dict):  # keystonemiddleware
            title = str(inner.get("title") or "")
            description = str(inner.get("message") or "")
        else:
            title = str(parsed.get("title") or "")
            description = str(parsed.get("description") or "")
    elif body.strip():
        description = f"unexpected error body: {_snippet(body)}"
    if not title:
        title = f"HTTP {code}"
    return cls(title=title, description=description, code=code, request_id=request_id)
