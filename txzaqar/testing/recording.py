"""
L{RecordingAgent}: an C{IAgent} that passes every request on and keeps a
record of it, so a test can see what a client sent (and what came back)
without replacing any method of the code under test::

    recorder = RecordingAgent(client.connection.agent)
    client.connection.agent = recorder
    await client.queue("jobs").stats()
    [request] = recorder.requests
    assert request.method == "GET" and request.path.endswith("/queues/jobs/stats")
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attr
from twisted.internet.defer import Deferred
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer, IResponse
from zope.interface import implementer

__all__ = ["RecordedRequest", "RecordingAgent"]


@attr.s(frozen=True, auto_attribs=True)
class RecordedRequest:
    """One request as the agent was asked to send it."""

    #: The method (C{GET}, C{POST}, ...).
    method: str
    #: The full URL, query included.
    url: str
    #: The request's headers.
    headers: Headers

    @property
    def path(self) -> str:
        """The URL's path, without the query."""
        return urlsplit(self.url).path

    @property
    def query(self) -> str:
        """The URL's query string (no C{?}), C{""} when there is none."""
        return urlsplit(self.url).query


@implementer(IAgent)
class RecordingAgent:
    """
    Wraps C{agent}: each request is appended to L{requests} when it is
    sent, and C{(request, status)} to L{responses} when its response
    arrives.
    """

    def __init__(self, agent: IAgent) -> None:
        #: The agent requests are passed to.
        self.agent = agent
        #: Every request sent, in order.
        self.requests: list[RecordedRequest] = []
        #: C{(request, status)} of every response received, in order.
        self.responses: list[tuple[RecordedRequest, int]] = []

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers | None = None,
        bodyProducer: IBodyProducer | None = None,
    ) -> Deferred[IResponse]:
        """
        Record the request, pass it to L{agent}, and record its status when it is answered.

        @return: the wrapped agent's Deferred, firing with its L{IResponse} (or failing as it fails).
        """
        record = RecordedRequest(method.decode("ascii"), uri.decode("ascii"), headers or Headers())
        self.requests.append(record)

        def answered(response: Any) -> Any:
            self.responses.append((record, response.code))
            return response

        return self.agent.request(method, uri, headers, bodyProducer).addCallback(answered)
