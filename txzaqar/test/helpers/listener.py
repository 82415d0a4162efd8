"""
Stand-ins for what the daemon's L{txzaqar.daemon._listener.ListenerService}
drives: C{FakeSubscriber} (start, stop, health) and C{FakeClient} (what
the start-up checks ask: ping, the queue listing, the URL, close).
"""

from __future__ import annotations

from typing import Any

import attr
from twisted.internet.defer import Deferred, fail, succeed

__all__ = ["FakeClient", "FakeListing", "FakeQueue", "FakeSubscriber", "Health"]


@attr.s(auto_attribs=True)
class Health:
    ready: bool
    reasons: tuple[str, ...] = ()


class FakeSubscriber:
    def __init__(self, channels: tuple[str, ...] = ("jobs", "more"), discovered: dict[str, str] | None = None
                 ) -> None:
        self.running = False
        self.ready = True
        self.reasons: tuple[str, ...] = ()
        #: The queues subscribed, and of them those a pattern brought.
        self.channels = frozenset(channels)
        self._discovered = dict(discovered or {})

    def discovered(self) -> dict[str, str]:
        return dict(self._discovered)

    def startService(self) -> None:
        self.running = True

    def stopService(self) -> Deferred[None]:
        self.running = False
        return succeed(None)

    def health(self) -> Health:
        return Health(self.ready, self.reasons)


@attr.s(auto_attribs=True)
class FakeQueue:
    name: str


class FakeListing:
    def __init__(self, names: list[str], error: Exception | None) -> None:
        self._names = list(names)
        self._error = error

    def __aiter__(self) -> FakeListing:
        return self

    async def __anext__(self) -> FakeQueue:
        if self._error is not None:
            raise self._error
        if not self._names:
            raise StopAsyncIteration
        return FakeQueue(self._names.pop(0))


class FakeClient:
    """An IClient as far as the start-up checks use it: ping, iter_queues, connection.url, close."""

    def __init__(self, answer: Any = None, existing: tuple[str, ...] = ("jobs", "more"),
                 listing_error: Exception | None = None) -> None:
        self.asked: list[str] = []
        self.answer = answer
        self.existing = list(existing)
        self.listing_error = listing_error
        self.connection = attr.make_class("Connection", {"url": attr.ib()})("http://zaqar.test:8888")
        self.closed = False

    def ping(self) -> Deferred[bool]:
        self.asked.append("ping")
        if isinstance(self.answer, BaseException):
            return fail(self.answer)
        if isinstance(self.answer, Deferred):
            return self.answer
        return succeed(True)

    def iter_queues(self, limit: int = 10) -> FakeListing:
        self.asked.append("queues")
        return FakeListing(self.existing, self.listing_error)

    def close(self) -> Deferred[None]:
        self.closed = True
        return succeed(None)
