"""
A scripted L{IAgent} for L{txzaqar.http.connection.Connection} tests: canned
responses (C{CannedResponse}, C{json_response}), an agent that answers
with the next scripted outcome and records each request (C{CannedAgent}),
and a mixin building a connection over it (C{ConnectionTestsMixin}).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import DNSLookupError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone, ResponseNeverReceived
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IResponse
from zope.interface import implementer

from txzaqar.auth import NoAuth
from txzaqar.http.connection import Connection

__all__ = ["CannedAgent", "CannedResponse", "ConnectionTestsMixin", "HangingBodyResponse", "json_response"]


@implementer(IResponse)
class CannedResponse:
    """An IResponse delivering C{body}, then ending with C{end}."""

    def __init__(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None,
                 end: Failure | None = None, version: tuple[bytes, int, int] = (b"HTTP", 1, 1)):
        self.version = version
        self.code = code
        self.phrase = b"Canned"
        self.headers = Headers({k.encode(): [v.encode()] for k, v in (headers or {}).items()})
        self.length = len(body)
        self.request = None
        self.previousResponse = None
        self._body = body
        self._end = end or Failure(ResponseDone())

    def deliverBody(self, protocol: Any) -> None:
        protocol.makeConnection(None)
        if self._body:
            protocol.dataReceived(self._body)
        protocol.connectionLost(self._end)

    def setPreviousResponse(self, response: Any) -> None:
        pass


class HangingBodyResponse(CannedResponse):
    """Headers, then a body that never ends."""

    def __init__(self) -> None:
        super().__init__(200)

    def deliverBody(self, protocol: Any) -> None:
        protocol.makeConnection(StringTransport())


@implementer(IAgent)
class CannedAgent:
    """Answers each request with the next scripted outcome and records the requests."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[tuple[bytes, bytes, Headers, bytes | None]] = []
        self.pending: list[Deferred[Any]] = []
        self.cancelled: list[Deferred[Any]] = []

    def request(self, method: bytes, uri: bytes, headers: Headers | None = None,
                bodyProducer: Any = None) -> Deferred[Any]:
        body = None
        if bodyProducer is not None:
            chunks: list[bytes] = []

            class Consumer:
                write = chunks.append

            bodyProducer.startProducing(Consumer())
            body = b"".join(chunks)
        self.requests.append((method, uri, headers or Headers(), body))
        outcome = self.outcomes.pop(0)
        if outcome == "hang":
            d: Deferred[Any] = Deferred(lambda d: self.cancelled.append(d))
            self.pending.append(d)
            return d
        if outcome == "hang-dns":
            # Twisted's HostnameEndpoint fails a lookup cancelled this way
            def cancel_lookup(d: Deferred[Any]) -> None:
                self.cancelled.append(d)
                d.errback(DNSLookupError("Couldn't find the hostname '127.0.0.1'"))

            d = Deferred(cancel_lookup)
            self.pending.append(d)
            return d
        if outcome == "hang-like-agent":
            # Twisted's HTTP client fails a cancelled request this way
            def cancel(d: Deferred[Any]) -> None:
                self.cancelled.append(d)
                d.errback(ResponseNeverReceived([Failure(CancelledError())]))

            d = Deferred(cancel)
            self.pending.append(d)
            return d
        if isinstance(outcome, BaseException):
            return fail(outcome)
        return succeed(outcome)


def json_response(code: int, value: Any, **kw: Any) -> CannedResponse:
    return CannedResponse(code, json.dumps(value).encode(), {"Content-Type": "application/json"}, **kw)


class ConnectionTestsMixin:
    def connection(self, *outcomes: Any, auth: Any = None, retries: int = 2) -> tuple[Connection, CannedAgent, Clock]:
        agent = CannedAgent(*outcomes)
        clock = Clock()
        conn = Connection(agent, clock, auth or NoAuth("proj"), url="http://zaqar.test:8888",
                          client_id="5e1c7a4c-3b06-4b6f-8c1f-1f0c6c7f9a10", retries=retries)
        return conn, agent, clock
