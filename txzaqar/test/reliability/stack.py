"""
The suite's own servers (never the shared ones other tests use): a Redis
with persistence and a Zaqar on it, started, stopped and restarted on the
same ports from a thread so the reactor keeps running meanwhile; and the
small helpers the scenarios share: the report, and waits that end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attr
from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from txzaqar.testing.servers import RedisServer, ZaqarServer
from txzaqar.testing.servers.process import run_dir

#: The Zaqar project every scenario works in.
PROJECT = "txzaqar-reliability"

T = TypeVar("T")


def sleep(reactor: Any, seconds: float) -> Deferred[None]:
    """Fires after I{seconds} on I{reactor}."""
    return deferLater(reactor, seconds, lambda: None)


class WaitTimedOut(Exception):
    """A wait of the suite ran past its deadline; the message says what it waited for."""


@attr.s(auto_attribs=True)
class Waits:
    """
    A scenario's waits, each with a deadline; L{current} says what it is
    waiting for now (for a failure that stops it from outside).
    """

    reactor: Any
    #: what the scenario waits for now, or C{"nothing"}.
    current: str = "nothing"

    async def until(self, condition: Callable[[], bool], seconds: float, what: str,
                    interval: float = 0.2) -> None:
        """
        Check I{condition} every I{interval} seconds until it holds.

        @raise WaitTimedOut: it did not hold within I{seconds}; the message names I{what}.
        """
        self.current = what
        deadline = self.reactor.seconds() + seconds
        while not condition():
            if self.reactor.seconds() >= deadline:
                raise WaitTimedOut(f"gave up after {seconds:g} s waiting for {what}")
            await sleep(self.reactor, interval)
        self.current = "nothing"

    async def on(self, d: Deferred[T], seconds: float, what: str) -> T:
        """
        Wait for I{d} at most I{seconds} (it is cancelled then).

        @return: I{d}'s result.
        @raise WaitTimedOut: I{d} had not fired within I{seconds}; the message names I{what}.
        """
        self.current = what
        d.addTimeout(seconds, self.reactor)
        try:
            result = await d
        except DeferredTimeout:
            raise WaitTimedOut(f"gave up after {seconds:g} s waiting for {what}") from None
        self.current = "nothing"
        return result


@attr.s(auto_attribs=True)
class Stack:
    """A persistent Redis and a one-worker gunicorn Zaqar of the suite's own."""

    # a directory of its own: the append-only file must be this Redis's alone
    redis: RedisServer = attr.ib(
        factory=lambda: RedisServer(directory=run_dir() / "redis-reliability", persistence=True)
    )
    zaqar: ZaqarServer | None = None

    def start(self) -> Deferred[None]:
        """Start both (in a thread); fires when Zaqar answers its ping."""

        def start() -> None:
            self.redis.start()
            self.redis.fixed_port = self.redis.port
            self.zaqar = ZaqarServer(self.redis, mode="gunicorn", workers=1)
            self.zaqar.start()
            self.zaqar.fixed_port = self.zaqar.port

        return deferToThread(start)

    @property
    def url(self) -> str:
        assert self.zaqar is not None
        return self.zaqar.url

    def stop_zaqar(self) -> Deferred[None]:
        assert self.zaqar is not None
        return deferToThread(self.zaqar.stop)

    def start_zaqar(self) -> Deferred[None]:
        """Start Zaqar again on its port; fires once it answers its ping."""
        assert self.zaqar is not None
        return deferToThread(self.zaqar.start)

    def restart_redis(self) -> Deferred[None]:
        """Stop Redis and start it again on its port and directory (its append-only file)."""

        def restart() -> None:
            self.redis.stop()
            self.redis.start()

        return deferToThread(restart)

    def stop(self) -> Deferred[None]:
        def stop() -> None:
            if self.zaqar is not None:
                self.zaqar.stop()
            self.redis.stop()

        return deferToThread(stop)


@attr.s(auto_attribs=True)
class Report:
    """The table's rows, and the failures that make the suite exit non-zero."""

    rows: list[tuple[str, str, str]] = attr.ib(factory=list)
    failures: list[str] = attr.ib(factory=list)

    def add(self, scenario: str, figure: str, value: Any) -> None:
        self.rows.append((scenario, figure, value if isinstance(value, str) else f"{value:,}"
                          if isinstance(value, int) else str(value)))

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)

    def table(self) -> str:
        """The rows as reStructuredText simple tables, one per scenario (its name as the header)."""
        width = [max(len(r[0]) for r in self.rows), max(len(r[1]) for r in self.rows),
                 max(len(r[2]) for r in self.rows)]
        left, right = max(width[0], width[1]), width[2]
        rule = "=" * left + "  " + "=" * right
        out: list[str] = []
        for scenario in dict.fromkeys(r[0] for r in self.rows):
            out += ["", rule, scenario, rule]
            out += [f"{figure.ljust(left)}  {value}" for s, figure, value in self.rows if s == scenario]
            out.append(rule)
        return "\n".join(out[1:])
