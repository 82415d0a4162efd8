"""
Fakes for the unit tests of L{txzaqar.subscriber}: queues and claims on a
L{Clock}, a client, a thread pool, the shared set-up (in the shape of
Twisted's C{TimerServiceTests}), and a handler of every kind (async,
marked C{on_reactor}, plain; functions, methods, callables).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.subscriber import Subscriber, on_reactor


class FakeMessage:
    def __init__(self, queue: FakeQueue, id: str, body: Any = None) -> None:
        self.queue = queue
        self.id = id
        self.body = body if body is not None else {"n": id}

    def __repr__(self) -> str:
        return f"<FakeMessage {self.id}>"


class FakeClaim:
    """Just what the subscriber uses: id, messages, truthiness, patch, release."""

    def __init__(self, queue: FakeQueue, id: str | None, messages: tuple[FakeMessage, ...]) -> None:
        self.queue = queue
        self.id = id
        self.messages = messages

    def __bool__(self) -> bool:
        return self.id is not None

    def patch(self, ttl: int | None = None, grace: int | None = None) -> Deferred[FakeClaim]:
        self.queue.log.append(("patch", self.id, ttl, grace))
        if self.queue.patch_results:
            return self.queue.patch_results.pop(0)
        return succeed(self)

    def release(self) -> Deferred[None]:
        self.queue.log.append(("release", self.id))
        # the messages still claimed (not deleted) are claimable again
        for m in self.messages:
            if m.id not in self.queue.deleted_ids and m not in self.queue.available:
                self.queue.available.append(m)
        return succeed(None)


class FakeQueue:
    """
    A queue whose claims come from C{available}, at once, unless
    C{manual} is set: then each claim is a Deferred in C{pending}.
    """

    def __init__(self, clock: Clock, name: str) -> None:
        self.clock = clock
        self.name = name
        self.available: list[FakeMessage] = []
        self.log: list[tuple[Any, ...]] = []
        self.claim_times: list[float] = []
        self.claim_limits: list[int] = []
        self.manual = False
        self.pending: list[tuple[int, Deferred[FakeClaim]]] = []
        self.errors: list[Exception] = []
        self.patch_results: list[Deferred[Any]] = []
        self.deleted_ids: list[str] = []
        self._claims = 0

    def add(self, count: int, prefix: str = "m") -> list[FakeMessage]:
        start = len(self.available) + len(self.deleted_ids) + self._claims * 100
        new = [FakeMessage(self, f"{prefix}{start + i}") for i in range(count)]
        self.available.extend(new)
        return new

    def make_claim(self, limit: int) -> FakeClaim:
        taken, self.available = self.available[:limit], self.available[limit:]
        if not taken:
            return FakeClaim(self, None, ())
        self._claims += 1
        return FakeClaim(self, f"c{self._claims}", tuple(taken))

    def claim(self, limit: int | None = None, ttl: int | None = None,
              grace: int | None = None) -> Deferred[FakeClaim]:
        assert limit is not None
        self.claim_times.append(self.clock.seconds())
        self.claim_limits.append(limit)
        self.log.append(("claim", limit, ttl, grace))
        if self.errors:
            return fail(self.errors.pop(0))
        if self.manual:
            d: Deferred[FakeClaim] = Deferred()
            self.pending.append((limit, d))
            return d
        return succeed(self.make_claim(limit))

    def answer(self) -> FakeClaim:
        """Answer the oldest pending (manual) claim from C{available}."""
        limit, d = self.pending.pop(0)
        claim = self.make_claim(limit)
        d.callback(claim)
        return claim

    def delete_messages(self, ids: list[str]) -> Deferred[None]:
        self.log.append(("delete", list(ids)))
        self.deleted_ids.extend(ids)
        return succeed(None)

    def create(self) -> Deferred[bool]:
        self.log.append(("create",))
        return succeed(True)

    def configure(self, **settings: Any) -> Deferred[None]:
        self.log.append(("configure", settings))
        return succeed(None)

    def released(self) -> list[str]:
        return [entry[1] for entry in self.log if entry[0] == "release"]

    def deletes(self) -> list[list[str]]:
        return [entry[1] for entry in self.log if entry[0] == "delete"]


class FakeClient:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.queues: dict[str, FakeQueue] = {}
        self.closed = 0

    def queue(self, name: str) -> FakeQueue:
        from txzaqar._support import validation as _validation

        _validation.queue_name(name)
        if name not in self.queues:
            self.queues[name] = FakeQueue(self.clock, name)
        return self.queues[name]

    def close(self) -> Deferred[None]:
        self.closed += 1
        return succeed(None)


class FakeThreads:
    """
    A C{run_in_thread} whose "threads" run only when the test says so
    (L{finish}): each call waits in C{calls}, in order.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple[Any, ...], Deferred[Any]]] = []

    def __call__(self, f: Any, *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append((f, args, d))
        return d

    def messages(self) -> list[str]:
        """The ids of the messages whose threads run now."""
        return [args[-1].id for _, args, _ in self.calls]

    def finish(self, index: int = 0) -> None:
        """The thread of call C{index} runs its function and returns."""
        f, args, d = self.calls.pop(index)
        try:
            result = f(*args)
        except BaseException:
            d.errback()
        else:
            d.callback(result)


class SubscriberTestsMixin(SynchronousTestCase):
    """Shared set-up (no tests of its own)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.client = FakeClient(self.clock)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]

    def subscriber(self, **kw: Any) -> Subscriber:
        kw.setdefault("clock", self.clock)
        kw.setdefault("jitter", lambda: 0.0)
        kw.setdefault("poll_interval", 1)
        kw.setdefault("max_interval", 8)
        # a Clock does not move while a callback runs: no blocking warning
        kw.setdefault("timer", self.clock.seconds)
        return Subscriber(self.client, **kw)  # type: ignore[arg-type]

    def stop(self, sub: Subscriber) -> None:
        self.successResultOf(sub.stopService())

    def event_formats(self) -> list[str]:
        return [e.get("log_format", "") for e in self.events]


async def async_handler(message: Any) -> None:
    pass


@on_reactor
def marked_handler(message: Any) -> Deferred[None]:
    return succeed(None)


def plain_handler(message: Any) -> None:
    pass


class Handlers:
    async def async_method(self, message: Any) -> None:
        pass

    @on_reactor
    def marked_method(self, message: Any) -> Deferred[None]:
        return succeed(None)

    def plain_method(self, message: Any) -> None:
        pass


class AsyncCallable:
    async def __call__(self, message: Any) -> None:
        pass
