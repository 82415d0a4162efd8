"""
Every private Twisted name txzaqar uses, and why no public API does the job.
Checked against Twisted 24.7.0 (the floor in setup.py, run by
C{tox -e oldest}) and 26.10.0.

  - L{HTTP10ClosingPool}: C{HTTPConnectionPool} has no public hook to
    refuse a connection back into the pool, nor to change the per-connection
    factory; it overrides C{_putConnection} and C{_factory}, and reads the
    protocol's C{_parser} to see the HTTP version and C{Connection} header
    of the last response.
  - L{RequestNotSent}: raised by C{twisted.web._newclient} when a request
    certainly never left; C{twisted.web.client} imports it but does not
    export it.
  - L{ParseError} (and its L{BadResponseVersion}), L{ConnectionAborted},
    L{WrongBodyLength}, L{ExcessWrite}, L{BadHeaders}: the causes
    C{twisted.web._newclient} puts in a C{ResponseFailed} or
    C{RequestGenerationFailed}'s C{reasons} (an answer that is not HTTP,
    a connection aborted by the client, a body producer or headers Twisted
    refused); no public module exports them, and the map of transport
    failures (L{txzaqar.http._transport_failures}) must name them.
  - L{twistd_log_observer}: twistd builds its observer (log file, stdout,
    syslog) in C{_SomeApplicationRunner.loggerFactory(options)
    ._getLogObserver()}; there is no public way to get it to wrap it in a
    level filter.
  - L{twistd_log_file}: the file of that observer (a C{FileLogObserver}'s
    C{_outFile}), so that the JSON format writes to the file twistd
    chose, and twistd's SIGUSR1 rotation still rotates it.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import ILogObserver, LegacyLogObserverWrapper
from twisted.web._newclient import (
    BadHeaders,
    BadResponseVersion,
    ConnectionAborted,
    ExcessWrite,
    ParseError,
    RequestNotSent,
    WrongBodyLength,
)
from twisted.web.client import HTTPConnectionPool, _HTTP11ClientFactory
from twisted.web.http_headers import Headers

__all__ = [
    "BadHeaders",
    "BadResponseVersion",
    "ConnectionAborted",
    "ExcessWrite",
    "HTTP10ClosingPool",
    "ParseError",
    "RequestNotSent",
    "WrongBodyLength",
    "twistd_log_file",
    "twistd_log_observer",
]


class _QuietClientFactory(_HTTP11ClientFactory):
    """Twisted's per-connection factory without its start/stop log events."""

    noisy = False


class HTTP10ClosingPool(HTTPConnectionPool):
    """
    A pool that never keeps a connection the server will close, and does
    not log each connection's start and stop.

    The built-in C{zaqar-server} answers HTTP/1.0 without C{Connection:
    close} and then closes the socket; Twisted's pool would keep such a
    connection and hand it out again, and a POST sent on it fails.  Here a
    connection whose last response was HTTP/1.0 without
    C{Connection: keep-alive} is closed instead of pooled.
    """

    _factory = _QuietClientFactory

    def _putConnection(self, key: Any, connection: Any) -> None:
        parser = getattr(connection, "_parser", None)
        response = getattr(parser, "response", None)
        if response is not None and tuple(response.version[1:]) < (1, 1):
            conn_headers = getattr(parser, "connHeaders", Headers())
            values = b",".join(conn_headers.getRawHeaders(b"connection", ())).lower()
            if b"keep-alive" not in values:
                connection.transport.loseConnection()
                return
        super()._putConnection(key, connection)


def twistd_log_observer(twistd_options: Any) -> ILogObserver:
    """The observer twistd makes for its options (log file, stdout or syslog)."""
    from twisted.scripts.twistd import _SomeApplicationRunner

    observer = _SomeApplicationRunner.loggerFactory(twistd_options)._getLogObserver()
    if not ILogObserver.providedBy(observer):
        observer = LegacyLogObserverWrapper(observer)
    return observer


def twistd_log_file(observer: Any) -> Any:
    """
    The file a L{twistd_log_observer} writes to, or C{None} (syslog, or an
    observer of another kind).
    """
    return getattr(observer, "_outFile", None)
