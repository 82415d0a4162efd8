"""
L{txzaqar.cli._wake}: C{tail -f} woken by push, over the in-memory Zaqar
and its push notifications (L{txzaqar.testing.MemoryPush}), on a Clock;
and the command's C{--websocket-url}, down to a real
L{txzaqar.push.WebSocketPush} on a memory reactor.
"""

from __future__ import annotations

import io
import os
from typing import Any, cast
from unittest import mock

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IConnector
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogPublisher
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from txzaqar.cli._commands import Context, find
from txzaqar.cli._follow import Stop, consume
from txzaqar.cli._output import Output
from txzaqar.cli._wake import SAFETY, Pacer, PushReport, follow, safety_interval
from txzaqar.interfaces import IWakeTarget
from txzaqar.testing import memory_client


class FollowCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.client, self.fake = memory_client(clock=self.clock)
        self.push = self.fake.push()
        self.printed: list[Any] = []
        self.said: list[str] = []
        self.reads = 0
        real = self.client.queue("jobs").iter_messages

        def counted(queue: Any, **kw: Any) -> Any:
            self.reads += 1
            return real(**kw)

        self.patch(type(self.client.queue("jobs")), "iter_messages", counted)

    def emit(self, message: Any) -> None:
        self.printed.append(message.body)

    def post(self, *bodies: Any) -> None:
        self.successResultOf(self.client.queue("jobs").post([{"body": b} for b in bodies]))

    def follow(self, interval: float = 2.0) -> tuple[Stop, Deferred[None]]:
        stop = Stop(self.clock)
        done = Deferred.fromCoroutine(follow(self.client.queue("jobs"), self.emit, stop, interval, self.push,
                                             self.said.append))
        return stop, done

    def waits(self) -> list[float]:
        """The delays of the timers pending (the sleep between two reads)."""
        return sorted(call.getTime() - self.clock.seconds() for call in self.clock.getDelayedCalls())


class FollowTests(FollowCase):
    def test_safety_interval(self) -> None:
        self.assertEqual((safety_interval(1.0), safety_interval(45.0)), (SAFETY, 45.0))
        self.assertEqual(SAFETY, 30.0)

    def test_pacer_is_a_target(self) -> None:
        self.assertTrue(verifyObject(IWakeTarget, Pacer("jobs", Stop(self.clock), 1.0, self.said.append)))

    def test_wake_reads_at_once(self) -> None:
        """A notification cuts the wait short: a message posted is printed without the clock moving on."""
        self.post("a")
        stop, done = self.follow()
        self.assertEqual(self.printed, ["a"])
        self.clock.advance(0)  # push up: read once at once
        self.assertEqual((self.push.queues_up, self.reads), (frozenset({"jobs"}), 2))
        self.post("b")
        self.assertEqual(self.printed, ["a"])
        self.clock.advance(0)  # the notification
        self.assertEqual(self.printed, ["a", "b"])
        self.assertEqual(self.reads, 3)
        stop.request()
        self.successResultOf(done)

    def test_interval_slows_while_up(self) -> None:
        """While push is up a read waits the safety interval; while it is down, --interval again."""
        stop, done = self.follow(interval=2.0)
        self.assertEqual(self.waits(), [0.0, 2.0])  # push not up yet: --interval
        self.clock.advance(0)
        self.assertEqual(self.waits(), [SAFETY])
        self.push.lose_notifications = True
        self.post("a")
        self.clock.advance(SAFETY - 1)
        self.assertEqual((self.printed, self.reads), ([], 2))
        self.clock.advance(1)  # the safety read finds it
        self.assertEqual(self.printed, ["a"])
        self.push.lose_notifications = False
        self.push.disconnect()
        self.clock.advance(0)  # push down: read once at once, then every --interval
        self.assertEqual((self.reads, self.waits()), (4, [2.0]))
        self.post("b")
        self.clock.advance(2)
        self.assertEqual(self.printed, ["a", "b"])
        self.push.reconnect()
        self.clock.advance(0)
        self.assertEqual(self.waits(), [SAFETY])
        stop.request()
        self.successResultOf(done)

    def test_never_up(self) -> None:
        """A source that never comes up: read every --interval, as without push."""
        self.push.disconnect()
        stop, done = self.follow(interval=2.0)
        self.clock.advance(0)
        self.post("a")
        self.clock.advance(2)
        self.assertEqual((self.printed, self.reads), (["a"], 2))
        self.assertEqual(self.waits(), [2.0])
        stop.request()
        self.successResultOf(done)

    def test_stop_stops_push(self) -> None:
        """When tail stops its push subscription is removed and the source stopped; no timer is left."""
        stop, done = self.follow()
        self.clock.advance(0)
        self.assertEqual((self.push.watched, self.push.state), (frozenset({"jobs"}), "started"))
        stop.request()
        self.successResultOf(done)
        self.assertEqual((self.push.watched, self.push.state), (frozenset(), "stopped"))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.said, [])

    def test_notifications_missing(self) -> None:
        """
        Up, but a safety read prints messages no notification announced: one
        line, and --interval until a notification comes.
        """
        stop, done = self.follow(interval=2.0)
        self.clock.advance(0)
        self.push.lose_notifications = True
        self.post("a")
        self.clock.advance(SAFETY)
        self.assertEqual(self.printed, ["a"])
        self.assertEqual(len(self.said), 1)
        self.assertIn("no notification announced: reading every 2 s until one arrives", self.said[0])
        self.assertEqual(self.waits(), [2.0])
        self.post("b")
        self.clock.advance(2)
        self.assertEqual(self.waits(), [2.0])
        self.push.lose_notifications = False
        self.post("c")
        self.clock.advance(0)
        self.assertEqual(self.printed, ["a", "b", "c"])
        self.assertEqual(self.waits(), [SAFETY])
        self.assertEqual(len(self.said), 1)
        stop.request()
        self.successResultOf(done)


class PacerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.stop = Stop(self.clock)
        self.said: list[str] = []
        self.pacer = Pacer("jobs", self.stop, 2.0, self.said.append)

    def test_notified_but_empty(self) -> None:
        """A read a notification caused that printed nothing (Zaqar notifies before it stores): again soon."""
        self.pacer.push_up("jobs")
        self.pacer.begin()
        self.assertEqual(self.pacer.after(0), SAFETY)
        self.pacer.wake("jobs")
        self.pacer.begin()
        self.assertEqual(self.pacer.after(0), 2.0)
        self.pacer.begin()
        self.assertEqual(self.pacer.after(1), SAFETY)

    def test_woken_during_a_read(self) -> None:
        """A notification during a read: the next sleep does not wait, and counts as announced."""
        self.pacer.push_up("jobs")
        self.pacer.begin()
        self.pacer.wake("jobs")
        self.assertEqual(self.pacer.after(0), SAFETY)
        self.successResultOf(Deferred.fromCoroutine(self.stop.sleep(SAFETY)))
        self.pacer.begin()
        self.assertEqual(self.pacer.after(0), 2.0)

    def test_other_queues_ignored(self) -> None:
        self.pacer.push_up("other")
        self.pacer.wake("other")
        self.assertFalse(self.pacer.up)
        self.pacer.begin()
        self.assertEqual(self.pacer.after(0), 2.0)
        self.pacer.push_up("jobs")
        self.pacer.push_down("other", "gone")
        self.assertTrue(self.pacer.up)


class PushReportTests(SynchronousTestCase):
    def test_warnings_of_push_only(self) -> None:
        """Warnings (and worse) of txzaqar.push, each one line with what happens meanwhile; only in the block."""
        publisher = LogPublisher()
        said: list[str] = []
        push = Logger(namespace="txzaqar.push", observer=publisher)
        other = Logger(namespace="txzaqar.subscriber", observer=publisher)
        with PushReport(said.append, "reading every 1 s until it is up", publisher):
            push.info("WebSocket push up")
            push.warn("WebSocket push down: {reason};\nreconnecting in {delay:.1f}s", reason="refused", delay=0.5)
            other.warn("not push")
            push.error("worse")
        push.warn("after the block")
        self.assertEqual(said, ["WebSocket push down: refused; reconnecting in 0.5s (reading every 1 s until it is up)",
                                "worse (reading every 1 s until it is up)"])


class ConsumeTests(SynchronousTestCase):
    def test_consume_with_push(self) -> None:
        """--consume -f with push: the Subscriber it builds is woken by notifications, and stops the source."""
        clock = Clock()
        client, fake = memory_client(clock=clock)
        push = fake.push()
        printed: list[Any] = []
        stop = Stop(clock)
        done = Deferred.fromCoroutine(consume(client, "jobs", lambda m: printed.append(m.body), stop, 2.0,
                                              push, 30.0, clock))
        clock.advance(0)
        self.assertEqual(push.queues_up, frozenset({"jobs"}))
        self.successResultOf(client.queue("jobs").post([{"body": "a"}]))
        clock.advance(0)
        self.assertEqual(printed, ["a"])
        stop.request()
        clock.advance(10)
        self.successResultOf(done)
        self.assertEqual(push.state, "stopped")


class CommandTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.client, self.fake = memory_client(clock=self.reactor)
        self.out, self.err = io.StringIO(), io.StringIO()

    def run_tail(self, environ: dict[str, str] | None = None, **options: Any) -> Deferred[None]:
        o = {"queue": "jobs", "interval": "1", "follow": True, "consume": False, "websocket-url": None, **options}
        context = Context(self.client, o, Output(self.out, "json"), io.StringIO(), self.reactor, self.err)
        with mock.patch.dict(os.environ, environ or {}, clear=True):
            return ensureDeferred(find(("tail",)).run(context))  # type: ignore[arg-type]

    def test_usage(self) -> None:
        """A URL that is not ws:// or wss://, or --websocket-url without -f: usage errors, before any request."""
        cases: list[dict[str, Any]] = [{"websocket-url": "http://127.0.0.1:9000"}, {"websocket-url": "ws://"},
                                       {"websocket-url": "ws://127.0.0.1:9000", "follow": False}]
        for options in cases:
            failure = self.failureResultOf(self.run_tail(**options), usage.UsageError)
            self.assertIn("--websocket-url", str(failure.value))
        failure = self.failureResultOf(self.run_tail({"ZAQAR_WEBSOCKET_URL": "nope"}), usage.UsageError)
        self.assertIn("'nope'", str(failure.value))
        self.assertEqual(self.reactor.tcpClients, [])

    def test_unreachable(self) -> None:
        """
        A WebSocket URL where nothing answers: one line on stderr, and tail
        goes on reading every --interval; stopping it ends push too.
        """
        done = self.run_tail({"ZAQAR_WEBSOCKET_URL": "ws://127.0.0.1:9"})
        self.reactor.advance(0)
        host, port, factory, _, _ = self.reactor.tcpClients[0]
        self.assertEqual((host, port), ("127.0.0.1", 9))
        factory.clientConnectionFailed(cast(IConnector, None), Failure(ConnectionRefusedError()))
        lines = self.err.getvalue().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("txzaqar: WebSocket push down: "), lines)
        self.assertTrue(lines[0].endswith("(reading every 1 s until it is up)"), lines)
        self.successResultOf(self.client.queue("jobs").post([{"body": "a"}]))
        self.reactor.advance(1)
        self.assertEqual(self.out.getvalue().count('"body": "a"'), 1)
        shutdown, _, _ = self.reactor.triggers["before"]["shutdown"][0]
        waiting = shutdown()  # SIGTERM
        self.reactor.advance(0)
        self.successResultOf(done)
        self.successResultOf(waiting)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(len(self.err.getvalue().splitlines()), 1)
