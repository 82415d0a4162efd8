"""
Unit tests of blocking callbacks in L{txzaqar.subscriber}: which callbacks
run in threads (L{on_reactor}, C{async def}), the bound, timeouts and
stopping with threads still running, the warning about a callback that
held the reactor thread, and the settings.  On a L{Clock} with
L{FakeThreads} as C{run_in_thread}; one test runs the real thread pool.
"""

from __future__ import annotations

import inspect
import threading
from functools import partial
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial import unittest

from txzaqar.errors import ClientValidationError, NotFound
from txzaqar.subscriber import AsyncResultInThread, Subscriber, on_reactor
from txzaqar.subscriber.events import CALLBACK_TIMEOUT_WARNING
from txzaqar.subscriber.slots import BLOCKING_WARNING
from txzaqar.test.helpers.recording import Recorder
from txzaqar.test.helpers.subscriber import (
    FakeClient,
    FakeThreads,
    Handlers,
    SubscriberTestsMixin,
    async_handler,
)
from txzaqar.test.helpers.waiting import wait_until


class ThreadTests(SubscriberTestsMixin):
    def setUp(self) -> None:
        super().setUp()
        self.threads = FakeThreads()

    def threaded(self, **kw: Any) -> Subscriber:
        kw.setdefault("threads", 2)
        kw.setdefault("concurrency", max(2, kw["threads"]))
        return self.subscriber(run_in_thread=self.threads, **kw)

    def stop_all(self, sub: Subscriber) -> None:
        """Stop C{sub}, every thread returning."""
        d = sub.stopService()
        while self.threads.calls:
            self.threads.finish()
        self.successResultOf(d)

    def test_plain_callback_runs_in_a_thread(self) -> None:
        sub = self.threaded(batch=2)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(2)
        sub.startService()
        self.assertEqual(self.threads.messages(), ["m0", "m1"])
        self.assertEqual(cb.seen, [])  # not called on the reactor thread
        self.threads.finish()
        self.threads.finish()
        self.assertEqual(cb.ids(), ["m0", "m1"])
        self.assertEqual(q.deletes(), [["m0", "m1"]])
        self.assertEqual(sub.in_flight, 0)
        self.stop(sub)

    def test_reactor_callbacks_stay_on_the_reactor(self) -> None:
        """async def, marked, and listen() callbacks never go to a thread."""
        sub = self.threaded(threads=2, concurrency=10)
        handlers = Handlers()
        seen: list[str] = []

        async def record(message: Any) -> None:
            seen.append(message.id)

        callbacks: dict[str, Any] = {"a": record, "b": on_reactor(lambda m: seen.append(m.id)),
                     "c": partial(record), "d": handlers.marked_method, "e": None}
        for name, callback in callbacks.items():
            sub.subscribe(name, callback)
            self.client.queues[name].add(1, prefix=name)
        sub.startService()
        self.assertEqual(self.threads.calls, [])
        self.assertEqual(sorted(seen), ["a0", "b0", "c0"])
        self.assertEqual(self.client.queues["d"].deletes(), [["d0"]])
        self.stop(sub)

    def test_deferred_from_a_thread_fails(self) -> None:
        """
        A plain callback returning a Deferred from a thread fails with an
        error naming on_reactor; its message is released, not acked.
        """
        sub = self.threaded()
        sub.subscribe("q", lambda m: Deferred())
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        self.threads.finish()
        [error] = self.flushLoggedErrors(AsyncResultInThread)
        self.assertIn("@txzaqar.subscriber.on_reactor", str(error.value))
        self.assertIn("Deferred", str(error.value))
        self.assertEqual((sub.stats["failed"], sub.stats["processed"]), (1, 0))
        self.assertEqual(q.deletes(), [])
        self.assertEqual(q.released(), ["c1"])
        self.stop_all(sub)

    def test_coroutine_from_a_thread_fails(self) -> None:
        """A coroutine returned from a thread fails too, and is closed (never left pending)."""
        coroutines: list[Any] = []

        def callback(message: Any) -> Any:
            coroutines.append(async_handler(message))
            return coroutines[-1]

        sub = self.threaded()
        sub.subscribe("q", callback)
        self.client.queues["q"].add(1)
        sub.startService()
        self.threads.finish()
        [error] = self.flushLoggedErrors(AsyncResultInThread)
        self.assertIn("coroutine", str(error.value))
        self.assertEqual(inspect.getcoroutinestate(coroutines[0]), inspect.CORO_CLOSED)
        self.assertEqual(self.client.queues["q"].released(), ["c1"])
        self.stop_all(sub)

    def test_bound(self) -> None:
        """
        At most C{threads} callbacks run in threads; C{concurrency} bounds
        what is claimed, and the rest wait for a thread, in order.
        """
        sub = self.threaded(threads=2, concurrency=5, batch=5)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(7)
        sub.startService()
        self.assertEqual(q.claim_limits, [5])
        self.assertEqual(sub.in_flight, 5)
        self.assertEqual(self.threads.messages(), ["m0", "m1"])
        self.threads.finish()
        self.assertEqual(self.threads.messages(), ["m1", "m2"])
        # the slot of m0 was given back: one more message claimed, and waiting
        self.clock.advance(0)
        self.assertEqual(q.claim_limits, [5, 1])
        self.assertEqual(sub.in_flight, 5)
        while self.threads.calls:
            self.assertLessEqual(len(self.threads.calls), 2)
            self.assertLessEqual(sub.in_flight, 5)
            self.threads.finish()
            self.clock.advance(0)
        self.assertEqual(cb.ids(), [f"m{i}" for i in range(7)])
        self.clock.advance(1)
        self.assertEqual(sorted(sum(q.deletes(), [])), sorted(cb.ids()))
        self.stop(sub)

    def timeout_warnings(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_format") == CALLBACK_TIMEOUT_WARNING]

    def patches(self, q: Any) -> list[tuple[Any, ...]]:
        return [e for e in q.log if e[0] == "patch"]

    def test_timeout_keeps_the_message_until_the_thread_returns(self) -> None:
        """
        A callback past callback_timeout whose thread still runs keeps its
        message: not released (so never run twice at once, though a slot
        and a thread are free), its claim renewed every ttl/2 while the
        thread runs; when the thread returns with a success the message is
        deleted, counted processed and timed_out, with one warning naming
        the queue, the message, the timeout and how long it ran, and no
        logged error.
        """
        sub = self.threaded(threads=2, concurrency=2, batch=1, callback_timeout=5, claim_ttl=60)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        self.assertEqual(self.threads.messages(), ["m0"])
        self.clock.advance(5)
        self.assertEqual(q.released(), [])
        self.assertEqual(self.timeout_warnings(), [])  # one line, when the thread returns
        for _ in range(100):
            self.clock.advance(1)
        self.assertEqual(self.threads.messages(), ["m0"], "started again while its thread runs")
        self.assertEqual(q.released(), [])
        self.assertEqual([e[1] for e in self.patches(q)], ["c1"] * 3)  # at 30, 60 and 90 s
        self.assertEqual(sub.callbacks_in_flight(), {"q": 1})
        self.threads.finish()  # returns, successfully, at 105 s
        self.assertEqual(cb.ids(), ["m0"])
        self.assertEqual(q.deletes(), [["m0"]])
        self.assertEqual(q.released(), [])
        self.assertEqual((sub.stats["timed_out"], sub.stats["processed"], sub.stats["failed"]), (1, 1, 0))
        [event] = self.timeout_warnings()
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual((event["queue"], event["message_id"], event["timeout"], event["seconds"]),
                         ("q", "m0", 5, 105))
        self.assertEqual(formatEvent(event),
                         "callback for m0 on q ran past callback_timeout (5s): its thread ran 105.0s "
                         "and succeeded late; the message was kept claimed until then and is deleted")
        self.assertEqual([e for e in self.events if e.get("log_failure") is not None], [])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.clock.advance(300)
        self.assertEqual(len(self.patches(q)), 3)  # no renewal after the thread returned
        self.stop_all(sub)

    def test_timed_out_thread_that_fails_late(self) -> None:
        """
        A thread past callback_timeout that then fails: its message is
        released only once the thread returned, and comes back; one
        warning names the error, without a traceback.
        """
        def fail_first(message: Any) -> None:
            calls.append(message.id)
            if len(calls) == 1:
                raise ValueError("no\nway")

        calls: list[str] = []
        sub = self.threaded(threads=2, concurrency=2, batch=1, callback_timeout=2)
        sub.subscribe("q", fail_first)
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        self.clock.advance(2)
        self.clock.advance(3)
        self.assertEqual(q.released(), [])
        self.assertEqual(self.threads.messages(), ["m0"])
        self.threads.finish()
        self.assertEqual(q.released(), ["c1"])
        self.assertEqual(q.deletes(), [])
        self.assertEqual((sub.stats["timed_out"], sub.stats["failed"], sub.stats["processed"]), (1, 1, 0))
        [event] = self.timeout_warnings()
        self.assertIn("its thread ran 5.0s and then failed (ValueError: no way); the message was kept "
                      "claimed until then and goes back to the queue", formatEvent(event))
        self.assertEqual(self.flushLoggedErrors(), [])
        # the message comes back, and runs again now that the first run is over
        self.clock.advance(8)  # the longest backoff
        self.assertEqual(self.threads.messages(), ["m0"])
        self.threads.finish()
        self.assertEqual(calls, ["m0", "m0"])
        self.assertEqual(q.deletes(), [["m0"]])
        self.stop_all(sub)

    def test_timeout_while_waiting_for_a_thread(self) -> None:
        """
        A callback that timed out while waiting for a thread never starts
        (one warning); its claim, whose other message still runs in a
        thread, is kept until that thread returns.
        """
        sub = self.threaded(threads=1, concurrency=2, batch=2, callback_timeout=5)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(2)
        sub.startService()
        self.assertEqual(self.threads.messages(), ["m0"])
        self.clock.advance(5)
        self.assertEqual(sub.stats["timed_out"], 1)
        [event] = self.timeout_warnings()
        self.assertEqual(event["message_id"], "m1")
        self.assertIn("never started (waited 5.0s for a free thread); the message goes back to the "
                      "queue", formatEvent(event))
        self.assertEqual(q.released(), [])
        self.clock.advance(30)
        self.assertEqual([e[1] for e in self.patches(q)], ["c1"])
        self.assertEqual(self.threads.messages(), ["m0"])
        self.threads.finish()
        self.assertEqual(cb.ids(), ["m0"])
        self.assertEqual(sub.stats["timed_out"], 2)
        self.assertEqual(q.deletes(), [["m0"]])
        self.assertEqual(q.released(), ["c1"])  # m1 back in the queue
        self.clock.advance(8)  # the longest backoff
        self.assertEqual(self.threads.messages(), ["m1"])
        self.stop_all(sub)
        self.assertEqual(cb.ids(), ["m0", "m1"])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_claimed_again_while_running(self) -> None:
        """
        A message whose claim ran out while its thread runs (the renewal
        found it expired) and that is claimed again is not started a second
        time: the new claim waits for the running thread, then hands it
        back; the first run's success deletes it.
        """
        sub = self.threaded(threads=2, concurrency=2, batch=1, claim_ttl=60)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        [m0] = q.add(1)
        q.patch_results = [fail(NotFound("gone", code=404))]
        sub.startService()
        self.clock.advance(30)  # the renewal finds the claim expired
        self.flushLoggedErrors(NotFound)
        q.available.append(m0)  # Zaqar hands it out again
        self.clock.advance(8)  # the longest backoff: claimed again, in claim c2
        self.assertEqual(q.claim_limits[-1], 1)
        self.assertEqual(q.available, [])
        self.assertEqual(self.threads.messages(), ["m0"], "started twice at once")
        [event] = [e for e in self.events if "was claimed again while its callback still runs"
                   in e.get("log_format", "")]
        self.assertEqual((event["queue"], event["message_id"], event["log_level"]), ("q", "m0", LogLevel.warn))
        self.assertEqual(q.released(), [])
        self.threads.finish()
        self.assertEqual(q.deletes(), [["m0"]])
        self.assertEqual(q.released(), ["c2"])  # handed back, but deleted already
        self.assertEqual(q.available, [])
        self.clock.advance(60)
        self.assertEqual((cb.ids(), self.threads.calls), (["m0"], []))
        self.assertEqual(sub.in_flight, 0)
        self.stop_all(sub)

    def test_stop_waits_for_threads(self) -> None:
        sub = self.threaded(threads=1, concurrency=1, stop_timeout=10)
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        d = sub.stopService()
        self.clock.advance(9)
        self.assertNoResult(d)
        self.threads.finish()
        self.successResultOf(d)
        self.assertEqual(q.deletes(), [["m0"]])
        self.assertEqual(q.released(), [])

    def test_stop_gives_up_on_threads_after_stop_timeout(self) -> None:
        """
        A thread still running after stop_timeout: its claim is released
        and the stop finishes without it; a callback still waiting for a
        thread never starts, and the late result is not acked.
        """
        sub = self.threaded(threads=1, concurrency=2, batch=2, stop_timeout=10)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(2)
        sub.startService()
        d = sub.stopService()
        self.clock.advance(10)
        self.successResultOf(d)
        self.assertEqual(q.released(), ["c1"])
        self.assertIn("{count} callbacks still running in threads after {timeout}s; not waiting for "
                      "them (a thread cannot be interrupted; their messages were released)",
                      self.event_formats())
        self.threads.finish()
        self.assertEqual(self.threads.calls, [])
        self.assertEqual(cb.ids(), ["m0"])
        self.assertEqual(q.deletes(), [])

    def test_stop_waits_for_a_thread_that_timed_out(self) -> None:
        """
        A thread past callback_timeout is waited for (up to stop_timeout)
        by the stop, its message kept claimed meanwhile; it returns in
        time with a success: its message is deleted, not released.
        """
        sub = self.threaded(threads=1, concurrency=1, callback_timeout=2, stop_timeout=10)
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        self.clock.advance(2)
        d = sub.stopService()
        self.clock.advance(7)
        self.assertNoResult(d)
        self.assertEqual(q.released(), [])
        self.threads.finish()
        self.successResultOf(d)
        self.assertEqual(q.deletes(), [["m0"]])
        self.assertEqual(q.released(), [])
        self.assertEqual(sub.stats["timed_out"], 1)

    def test_stop_gives_up_on_a_thread_that_timed_out(self) -> None:
        """
        A thread past callback_timeout still running at stop_timeout: its
        claim is released once, at the stop (as for any thread), polling
        has stopped so it never runs again, and nothing is deleted.
        """
        sub = self.threaded(threads=2, concurrency=2, batch=1, callback_timeout=2, stop_timeout=10)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        self.clock.advance(5)
        self.assertEqual(q.released(), [])
        d = sub.stopService()
        self.clock.advance(9)
        self.assertEqual(q.released(), [])
        self.clock.advance(1)
        self.successResultOf(d)
        self.assertEqual(q.released(), ["c1"])
        self.threads.finish()  # the thread returns after the stop
        self.clock.advance(100)
        self.assertEqual((cb.ids(), self.threads.calls), (["m0"], []))
        self.assertEqual((q.released(), q.deletes()), (["c1"], []))
        self.assertEqual([m.id for m in q.available], ["m0"])  # back in the queue, not held
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_threads_need_a_reactor(self) -> None:
        e = self.assertRaises(ClientValidationError, Subscriber, self.client,
                              clock=self.clock, threads=2)
        self.assertEqual(e.field, "clock")
        self.assertIn("IReactorThreads", e.description)
        Subscriber(self.client, clock=self.clock, threads=0)  # type: ignore[arg-type]
        Subscriber(self.client, clock=self.clock, threads=2, run_in_thread=self.threads)  # type: ignore[arg-type]


class MemoryZaqarTimeoutTests(unittest.SynchronousTestCase):
    """
    A blocking handler past callback_timeout, through the real client and
    the in-memory Zaqar (whose claims expire on the Clock), threads faked.
    """

    def test_never_run_twice_at_once(self) -> None:
        """
        Two messages, a thread each, both past callback_timeout (2 s) and
        held 150 s, well past the claim ttl (60 s): neither is handed out
        again meanwhile (renewals keep their claim alive though a thread
        and a slot stay free), then both are deleted, timed_out counted,
        one warning each.
        """
        from txzaqar.testing import memory_subscriber

        threads = FakeThreads()
        sub, client, fake = memory_subscriber(
            threads=3, concurrency=3, batch=1, claim_ttl=60, grace=60, callback_timeout=2,
            poll_interval=1, max_interval=4, run_in_thread=threads, close_client=False)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        queue = client.queue("slow")
        ids = self.successResultOf(queue.post([{"body": 1}, {"body": 2}]))
        started: list[str] = []
        sub.subscribe("slow", lambda m: started.append(m.id))
        sub.startService()
        fake.clock.advance(0)
        self.assertEqual(sorted(threads.messages()), sorted(ids))
        for _ in range(150):
            fake.clock.advance(1)
        self.assertEqual(sorted(threads.messages()), sorted(ids), "a message was handed out twice")
        stats = self.successResultOf(queue.stats())
        self.assertEqual((stats.claimed, stats.free), (2, 0))
        self.assertGreaterEqual(sub.stats["renewed"], 8)  # 2 claims, every 30 s
        self.assertEqual(sub.stats["timed_out"], 0)
        threads.finish()
        threads.finish()
        self.assertEqual(sorted(started), sorted(ids))
        fake.clock.advance(5)
        self.assertEqual(self.successResultOf(queue.stats()).total, 0)
        self.assertEqual((sub.stats["timed_out"], sub.stats["acked"], sub.stats["released"]), (2, 2, 0))
        warnings = [e for e in events if e.get("log_format") == CALLBACK_TIMEOUT_WARNING]
        self.assertEqual(sorted(e["message_id"] for e in warnings), sorted(ids))
        self.assertEqual({(e["timeout"], e["seconds"]) for e in warnings}, {(2.0, 150.0)})
        self.assertEqual(self.flushLoggedErrors(), [])
        self.successResultOf(sub.stopService())


class BlockingWarningTests(SubscriberTestsMixin):
    """The one warning about a plain callback that held the reactor thread."""

    def setUp(self) -> None:
        super().setUp()
        self.now = 0.0

    def timer(self) -> float:
        return self.now

    def slow(self, seconds: float) -> Any:
        def callback(message: Any) -> None:
            self.now += seconds

        return callback

    def warnings(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_format") == BLOCKING_WARNING]

    def run_callback(self, callback: Any, count: int = 2, **kw: Any) -> Subscriber:
        sub = self.subscriber(timer=self.timer, **kw)
        sub.subscribe("q", callback)
        sub.subscribe("r", callback)
        self.client.queues["q"].add(count)
        self.client.queues["r"].add(count)
        sub.startService()
        self.clock.advance(2)
        self.stop(sub)
        return sub

    def test_one_warning(self) -> None:
        sub = self.run_callback(self.slow(0.25))
        self.assertEqual(sub.stats["processed"], 4)
        [event] = self.warnings()
        self.assertEqual((event["queue"], event["message_id"]), ("q", "m0"))
        self.assertEqual((event["seconds"], event["threshold"]), (0.25, 0.1))
        text = formatEvent(event)
        self.assertIn("q: a callback held the reactor thread for 0.25s", text)
        self.assertIn("Subscriber(threads=N)", text)
        self.assertIn("--threads N", text)

    def test_threshold(self) -> None:
        self.run_callback(self.slow(0.0625))
        self.assertEqual(self.warnings(), [])
        self.run_callback(self.slow(0.5), blocking_warning=0.5)
        self.assertEqual(self.warnings(), [])

    def test_turned_off(self) -> None:
        self.run_callback(self.slow(5), blocking_warning=None)
        self.assertEqual(self.warnings(), [])

    def test_not_for_reactor_callbacks(self) -> None:
        """Threads would not help an async or marked callback: no warning names them."""
        slow = self.slow(5)

        async def slow_async(message: Any) -> None:
            slow(message)

        self.run_callback(slow_async)
        self.run_callback(on_reactor(lambda m: slow(m)))
        self.assertEqual(self.warnings(), [])

    def test_not_in_threads(self) -> None:
        threads = FakeThreads()
        slow = self.slow(5)
        sub = self.subscriber(timer=self.timer, threads=2, run_in_thread=threads)
        sub.subscribe("q", slow)
        self.client.queues["q"].add(2)
        sub.startService()
        threads.finish()
        threads.finish()
        self.assertEqual(sub.stats["processed"], 2)
        self.assertEqual(self.warnings(), [])
        self.stop(sub)


class RealThreadPoolTests(unittest.TestCase):
    """The real pool, on the real reactor: no server, a fake client."""

    timeout = 60

    async def wait_for(self, condition: Any, what: str) -> None:
        await wait_until(condition, what, 30, 0.01)

    async def test_pool_threads(self) -> None:
        """Plain callbacks run in the pool's threads; the pool stops with the service."""
        client = FakeClient(reactor)  # type: ignore[arg-type]
        sub = Subscriber(client, clock=reactor, threads=2, concurrency=2, poll_interval=0.01,  # type: ignore[arg-type]
                         max_interval=0.01)
        names: list[str] = []

        def handle(message: Any) -> None:
            names.append(threading.current_thread().name)

        sub.subscribe("q", handle)
        client.queue("q").add(5)
        sub.startService()
        self.addCleanup(lambda: sub.stopService() if sub.running else None)
        await self.wait_for(lambda: len(names) == 5, "5 callbacks")
        await sub.stopService()
        self.assertEqual(sorted(sum(client.queues["q"].deletes(), [])), [f"m{i}" for i in range(5)])
        self.assertNotIn(threading.main_thread().name, names)
        self.assertTrue(all(n.startswith("PoolThread-txzaqar-subscriber-") for n in names), names)
        self.assertLessEqual(len(set(names)), 2)

        def pool_gone() -> bool:
            return not [t for t in threading.enumerate() if "txzaqar-subscriber" in t.name]

        await self.wait_for(pool_gone, "the pool's threads to end")
