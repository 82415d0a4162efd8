"""
The one map from what Twisted's HTTP client can fail a request with to a
typed L{txzaqar.errors.ZaqarError}.

Built from Twisted's own sources (read in Twisted 26.10; the private
names are imported through L{txzaqar.http._twisted_internals}):

  - C{twisted/internet/endpoints.py} (C{HostnameEndpoint}): an invalid
    host name fails with C{ValueError}; a failed lookup, and any failure of
    the lookup including its cancellation, with C{DNSLookupError}; a
    cancelled connection attempt with C{ConnectingCancelledError}; each
    address tried fails with a C{ConnectError} subclass
    (C{twisted/internet/error.py}: refused, TCP timeout, no route, the
    agent's C{connectTimeout} as C{TimeoutError}...).
  - C{twisted/web/client.py} (C{Agent.request}): a scheme other than http
    and https fails with C{SchemeNotSupported}; a URL that does not parse,
    or a host that is not ASCII, raises C{ValueError}; a pooled connection
    that is no longer usable fails with C{RequestNotSent}.
  - C{twisted/web/_newclient.py} (C{HTTP11ClientProtocol}): once the
    request is written, failures come wrapped, with their causes in
    C{reasons}: C{RequestGenerationFailed} and C{RequestTransmissionFailed}
    (while writing), C{ResponseNeverReceived} (no byte of a response),
    C{ResponseFailed} (a response cut short, or one that is not HTTP:
    C{ParseError}); the causes are C{ConnectionLost}/C{ConnectionDone}
    (reset, closed), C{_newclient.ConnectionAborted} (aborted by us),
    C{CancelledError}, and for https the TLS layer's own errors.
  - C{twisted/internet/_sslverify.py} and C{twisted/protocols/tls.py}: a
    certificate whose chain does not verify fails the handshake with
    pyOpenSSL's C{SSL.Error} (C{certificate verify failed}); one issued
    for another host fails with C{service_identity}'s
    C{VerificationError}, through C{failVerification}.

Cancellation (a timeout, C{close()}) is not mapped here: the connection
knows when it cancelled a request, whatever error the cancellation
produced.  L{transport_error} is pure: exception in, error out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attr
from OpenSSL import SSL
from service_identity.exceptions import CertificateError, VerificationError
from twisted.internet import error as ierror
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web import client as webclient
from twisted.web.client import ResponseDone
from twisted.web.error import SchemeNotSupported
from twisted.web.http import PotentialDataLoss

from .. import errors
from . import _twisted_internals as internals

#: A result type.
T = TypeVar("T")

__all__ = ["TABLE", "Cancelled", "Tracked", "TransportFailure", "connect_phase", "describe", "read_body",
           "transport_error"]


def _openssl_reason(e: BaseException) -> str:
    """The reasons in a pyOpenSSL C{SSL.Error} (a list of (library, function, reason) tuples)."""
    reasons = []
    for arg in e.args:
        if isinstance(arg, list):
            for item in arg:
                if isinstance(item, tuple) and item:
                    reasons.append(str(item[-1]))
        elif arg:
            reasons.append(str(arg))
    return "; ".join(r for r in reasons if r) or type(e).__name__


def _is_openssl_error(e: BaseException) -> bool:
    return isinstance(e, SSL.Error)


def _is_certificate_refused(e: BaseException) -> bool:
    if _is_openssl_error(e):
        return "certificate verify failed" in _openssl_reason(e).lower()
    return isinstance(e, (VerificationError, CertificateError, ierror.VerifyError, ierror.CertificateError))


def _is_hostname_mismatch(e: BaseException) -> bool:
    """C{service_identity} found the certificate is for other names (what Twisted verifies the host with)."""
    return isinstance(e, VerificationError)


def _mismatches(e: BaseException) -> str:
    """What C{service_identity} found wrong: C{hostname mismatch: DNSMismatch} and the like."""
    kinds = sorted({type(m).__name__ for m in getattr(e, "errors", None) or ()})
    return "hostname mismatch" + (f": {', '.join(kinds)}" if kinds else "")


def _is_tls_failure(e: BaseException) -> bool:
    return _is_openssl_error(e) or isinstance(e, ierror.SSLError)


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        return parts.hostname or url
    except ValueError:
        return url


def _where(url: str) -> str:
    try:
        parts = urlsplit(url)
        return parts.netloc or url
    except ValueError:
        return url


@attr.s(frozen=True, auto_attribs=True)
class TransportFailure:
    """
    One row of the map: an exception that matches C{matches} becomes a
    C{error} with C{not_sent} and a one-line description made by C{says}.
    """

    #: A short name for the row (for tests and docs).
    name: str
    #: Whether an exception (a wrapper's cause, for the wrapped rows) belongs to this row.
    matches: Callable[[BaseException], bool]
    #: The error class raised.
    error: type[errors.ZaqarError]
    #: Whether the request certainly did not reach Zaqar.
    not_sent: bool
    #: The title of the error.
    title: str
    #: The description: C{says(exception, method, url)}.
    says: Callable[[BaseException, str, str], str]


def _of(*types: type[BaseException]) -> Callable[[BaseException], bool]:
    return lambda e: isinstance(e, types)


def _text(e: BaseException) -> str:
    return str(e) or type(e).__name__


#: The rows for failures raised before a request is written (by the agent
#: or the endpoint), in order: the first match wins.  None of these sent
#: anything.
BEFORE_SENDING: tuple[TransportFailure, ...] = (
    TransportFailure(
        "dns", _of(ierror.DNSLookupError), errors.ConnectionFailed, True, "Name lookup failed",
        lambda e, m, u: f"{m} {u}: cannot resolve the host {_host(u)!r} (check the URL and DNS)",
    ),
    TransportFailure(
        "connect-timeout", _of(ierror.TimeoutError, ierror.TCPTimedOutError), errors.RequestTimedOut, True,
        "Connection timed out",
        lambda e, m, u: f"{m} {u}: no TCP connection to {_where(u)} in time ({_text(e)})",
    ),
    TransportFailure(
        "refused", _of(ierror.ConnectionRefusedError), errors.ConnectionFailed, True, "Connection refused",
        lambda e, m, u: f"{m} {u}: nothing listens on {_where(u)} ({_text(e)})",
    ),
    TransportFailure(
        "no-route", _of(ierror.NoRouteError, ierror.UnknownHostError), errors.ConnectionFailed, True,
        "Connection failed",
        lambda e, m, u: f"{m} {u}: {_where(u)} is unreachable ({_text(e)})",
    ),
    TransportFailure(
        "connect", _of(ierror.ConnectError, ierror.ConnectingCancelledError, ierror.NoProtocol),
        errors.ConnectionFailed, True, "Connection failed",
        lambda e, m, u: f"{m} {u}: could not connect to {_where(u)} ({type(e).__name__}: {_text(e)})",
    ),
    TransportFailure(
        "pooled-connection-unusable", _of(internals.RequestNotSent), errors.ConnectionFailed, True,
        "Connection failed",
        lambda e, m, u: f"{m} {u}: the connection to {_where(u)} closed before the request was written",
    ),
    TransportFailure(
        "scheme", _of(SchemeNotSupported), errors.ClientValidationError, True, "Invalid url",
        lambda e, m, u: f"{u!r}: only http and https URLs are supported",
    ),
    TransportFailure(
        "url", _of(ValueError), errors.ClientValidationError, True, "Invalid url",
        lambda e, m, u: f"{u!r} is not a usable URL: {_text(e)}",
    ),
)

#: The rows for the causes in a wrapper (C{ResponseNeverReceived},
#: C{ResponseFailed}, C{RequestTransmissionFailed},
#: C{RequestGenerationFailed}), in order: the first match wins.
#: C{not_sent} here is what the cause says; a wrapper otherwise means the
#: request may have been sent.
IN_FLIGHT: tuple[TransportFailure, ...] = (
    TransportFailure(
        "hostname-mismatch", _is_hostname_mismatch, errors.CertificateVerificationFailed, True,
        "TLS certificate refused",
        lambda e, m, u: f"{m} {u}: the server's certificate is not for {_host(u)!r} ({_mismatches(e)})",
    ),
    TransportFailure(
        "certificate", _is_certificate_refused, errors.CertificateVerificationFailed, True,
        "TLS certificate refused",
        lambda e, m, u: (f"{m} {u}: the server's certificate does not verify ({_openssl_reason(e)}: "
                         "unknown or self-signed CA, expired or not yet valid; give its CA as cacert)"),
    ),
    TransportFailure(
        "tls", _is_tls_failure, errors.ConnectionFailed, False, "TLS failure",
        lambda e, m, u: f"{m} {u}: the TLS connection to {_where(u)} failed ({_openssl_reason(e)})",
    ),
    TransportFailure(
        "not-http", _of(internals.ParseError), errors.MalformedResponse, False, "Response is not HTTP",
        lambda e, m, u: f"{m} {u}: {_where(u)} answered something that is not HTTP ({e.args[0] if e.args else e})",
    ),
    TransportFailure(
        "aborted", _of(internals.ConnectionAborted, ierror.ConnectionAborted), errors.ConnectionFailed, False,
        "Connection aborted",
        lambda e, m, u: f"{m} {u}: the connection to {_where(u)} was aborted before a complete response",
    ),
    TransportFailure(
        "reset", _of(ierror.ConnectionLost), errors.ConnectionFailed, False, "Connection lost",
        lambda e, m, u: f"{m} {u}: the connection to {_where(u)} was reset before a complete response",
    ),
    TransportFailure(
        "closed", _of(ierror.ConnectionDone, ierror.ConnectionClosed), errors.ConnectionFailed, False,
        "Connection closed",
        lambda e, m, u: f"{m} {u}: {_where(u)} closed the connection before a complete response",
    ),
    TransportFailure(
        "body-length", _of(internals.WrongBodyLength, internals.ExcessWrite, internals.BadHeaders),
        errors.ConnectionFailed, False, "Request not written",
        lambda e, m, u: f"{m} {u}: the request could not be written ({type(e).__name__}: {_text(e)})",
    ),
)

#: Every row, for documentation and the table-driven test.
TABLE: tuple[TransportFailure, ...] = BEFORE_SENDING + IN_FLIGHT

_WRAPPERS = (webclient.RequestGenerationFailed, webclient.RequestTransmissionFailed, webclient.ResponseFailed)


def _causes(e: BaseException) -> Iterable[BaseException]:
    for reason in getattr(e, "reasons", ()) or ():
        value = reason.value if isinstance(reason, Failure) else reason
        if isinstance(value, BaseException):
            yield value


def _first_row(rows: Iterable[TransportFailure], e: BaseException) -> TransportFailure | None:
    return next((row for row in rows if row.matches(e)), None)


def connect_phase(e: BaseException) -> bool:
    """
    Whether C{e} was raised before the request was written (name lookup,
    TCP connect, a pooled connection no longer usable): nothing reached
    the server.
    """
    return isinstance(e, (ierror.DNSLookupError, ierror.ConnectError, ierror.ConnectingCancelledError,
                          internals.RequestNotSent))


def transport_error(e: BaseException, method: str, url: str) -> errors.ZaqarError:
    """
    The typed error for C{e}, which Twisted's HTTP client failed a request
    (C{method} C{url}) with.

    @return: a L{ZaqarError} whose description says in one line what
        happened, with L{ZaqarError.not_sent} set.  An exception no row
        knows becomes a L{ConnectionFailed} that may have been sent.
    """
    if isinstance(e, errors.ZaqarError):
        return e
    if isinstance(e, _WRAPPERS):
        causes = list(_causes(e))
        for candidate in IN_FLIGHT + BEFORE_SENDING:  # the most telling cause first (a certificate before a reset)
            cause = next((c for c in causes if candidate.matches(c)), None)
            if cause is not None:
                # a cause from before sending, wrapped, comes after the request was handed over: it may have gone
                return _make(candidate, cause, method, url, not_sent=candidate.not_sent and candidate in IN_FLIGHT)
        detail = "; ".join(_text(c) for c in causes) or type(e).__name__
        what = ("no response" if isinstance(e, webclient.ResponseNeverReceived)
                else "the response was cut short" if isinstance(e, webclient.ResponseFailed)
                else "the request could not be written")
        return errors.ConnectionFailed("Connection failed", _one_line(f"{method} {url}: {what} ({detail})"),
                                       not_sent=False)
    row = _first_row(BEFORE_SENDING, e) or _first_row(IN_FLIGHT, e)
    if row is not None:
        return _make(row, e, method, url, not_sent=row.not_sent)
    return errors.ConnectionFailed(
        "Connection failed", _one_line(f"{method} {url}: unexpected {type(e).__name__}: {_text(e)}"),
        not_sent=False,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _make(row: TransportFailure, e: BaseException, method: str, url: str, not_sent: bool) -> errors.ZaqarError:
    description = _one_line(row.says(e, method, url))  # one line, whatever the cause's text holds
    if row.error is errors.ClientValidationError:
        return errors.ClientValidationError("url", description)
    return row.error(row.title, description, not_sent=not_sent)


def describe(e: Any) -> str:
    """A wrapper's causes (or the exception itself) in one line."""
    causes = list(_causes(e))
    return _one_line("; ".join(_text(c) for c in causes) if causes else _text(e))


# -- cancellation: telling a cancelled request from a failed one -------------


class Cancelled(CancelledError):
    """A request cancelled (by a timeout, L{Connection.close} or the caller); C{not_sent} if before sending."""

    #: Whether the request was cancelled before it was sent (while connecting).
    not_sent: bool = False

    def __init__(self, not_sent: bool) -> None:
        super().__init__()
        self.not_sent = not_sent


class Tracked:
    """
    Awaits C{d} and remembers whether it was cancelled: Twisted fails a
    cancelled request with whatever the step it was in makes of it (a name
    lookup cancelled fails with C{DNSLookupError}, a connection attempt
    with C{ConnectingCancelledError}, a body with C{ResponseFailed}), so
    only this flag tells a cancellation from a failure.
    """

    def __init__(self, d: Deferred[T]) -> None:
        self.cancelled = False
        self.inner = d
        self.outer: Deferred[Any] = Deferred(self._cancel)
        d.addBoth(self._fire)

    def _cancel(self, _: Deferred[Any]) -> None:
        self.cancelled = True
        self.inner.cancel()

    def _fire(self, result: Any) -> None:
        if self.outer.called:  # cancelled and not fired at once: the result no longer matters
            return None
        if isinstance(result, Failure):
            self.outer.errback(result)
        else:
            self.outer.callback(result)
        return None


class _BodyCollector(Protocol):
    def __init__(self, finished: Deferred[bytes]) -> None:
        self.finished = finished
        self.chunks: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if reason.check(ResponseDone, PotentialDataLoss):  # HTTP/1.0 without a length ends so
            self.finished.callback(b"".join(self.chunks))
        else:
            self.finished.errback(reason)


def read_body(response: Any) -> Deferred[bytes]:
    """The whole body; cancelling it aborts the connection."""

    def cancel(_: Deferred[bytes]) -> None:
        abort = getattr(collector.transport, "abortConnection", None)
        if abort is not None:
            abort()

    finished: Deferred[bytes] = Deferred(cancel)
    collector = _BodyCollector(finished)
    response.deliverBody(collector)
    return finished
