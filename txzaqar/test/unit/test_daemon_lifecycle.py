"""
Tests for L{txzaqar.daemon._lifecycle}: the handler's set-up and
tear-down around the Subscriber, its own health and the failure window,
as C{/readyz} and C{STATUS=} see them.
"""

from __future__ import annotations

import inspect
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon._lifecycle import Handler, Handlers, HandlerSetupFailed, ReadinessView
from txzaqar.daemon._listener import ListenerService
from txzaqar.daemon._startup import ExitStatus
from txzaqar.subscriber.slots import on_reactor, runs_on_reactor
from txzaqar.test.helpers.listener import FakeClient, FakeSubscriber


class HookedHandler:
    """A handler with every hook; C{calls} records the order."""

    def __init__(self, calls: list[str], setup_result: Any = None, unhealthy: str | None = None) -> None:
        self.calls = calls
        self.setup_result = setup_result
        self.unhealthy = unhealthy

    def __call__(self, message: Any) -> None:
        self.calls.append(f"handle {message}")
        if message == "bad":
            raise ValueError("bad message")

    def setup(self) -> Any:
        self.calls.append("setup")
        return self.setup_result

    def teardown(self) -> None:
        self.calls.append("teardown")

    def health(self) -> str | None:
        return self.unhealthy


class HandlerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.calls: list[str] = []

    def handler(self, target: Any, window: float = 60) -> Handler:
        return Handler("jobs:handle", target, self.clock, window)

    def test_runs_where_the_target_would(self) -> None:
        """The recording wrapper keeps a plain handler plain (a thread), async and marked ones on the reactor."""
        async def coroutine(message: Any) -> None:
            pass

        @on_reactor
        def marked(message: Any) -> Deferred[None]:
            return succeed(None)

        self.assertFalse(runs_on_reactor(self.handler(HookedHandler(self.calls)).function))
        self.assertTrue(inspect.iscoroutinefunction(self.handler(coroutine).function))
        self.assertTrue(runs_on_reactor(self.handler(marked).function))

    def test_setup_and_teardown(self) -> None:
        setup_done: Deferred[None] = Deferred()
        handler = self.handler(HookedHandler(self.calls, setup_result=setup_done))
        running = Deferred.fromCoroutine(handler.setup())
        self.assertNoResult(running)  # waits for setup()'s Deferred
        setup_done.callback(None)
        self.successResultOf(running)
        self.successResultOf(Deferred.fromCoroutine(handler.teardown()))
        self.successResultOf(Deferred.fromCoroutine(handler.teardown()))  # once only
        self.assertEqual(self.calls, ["setup", "teardown"])

    def test_async_setup(self) -> None:
        class AsyncHooks(HookedHandler):
            async def setup(self) -> None:
                self.calls.append("async setup")

        self.successResultOf(Deferred.fromCoroutine(self.handler(AsyncHooks(self.calls)).setup()))
        self.assertEqual(self.calls, ["async setup"])

    def test_setup_failure_is_typed(self) -> None:
        handler = self.handler(HookedHandler(self.calls, setup_result=fail(ConnectionRefusedError("db down"))))
        failure = self.failureResultOf(Deferred.fromCoroutine(handler.setup()), HandlerSetupFailed)
        self.assertEqual(str(failure.value), "handler jobs:handle set-up failed: ConnectionRefusedError: db down")
        self.successResultOf(Deferred.fromCoroutine(handler.teardown()))
        self.assertEqual(self.calls, ["setup"])  # never set up: no teardown

    def test_plain_function_needs_no_hooks(self) -> None:
        handler = self.handler(lambda message: None)
        self.successResultOf(Deferred.fromCoroutine(handler.setup()))
        self.successResultOf(Deferred.fromCoroutine(handler.teardown()))
        self.assertEqual(handler.reasons(), [])

    def test_health_hook(self) -> None:
        pool = HookedHandler(self.calls, unhealthy="database pool exhausted")
        handler = self.handler(pool)
        self.assertEqual(handler.reasons(), ["handler jobs:handle: database pool exhausted"])
        pool.unhealthy = None
        self.assertEqual(handler.reasons(), [])

    def test_health_hook_raising(self) -> None:
        class Broken(HookedHandler):
            def health(self) -> str | None:
                raise RuntimeError("oops")

        self.assertEqual(self.handler(Broken(self.calls)).reasons(), ["handler jobs:handle: health() raised RuntimeError"])

    def test_failure_window(self) -> None:
        """Unhealthy once every message failed for the window; a success clears it."""
        handler = self.handler(HookedHandler(self.calls), window=60)
        self.assertRaises(ValueError, handler.function, "bad")
        self.clock.advance(59)
        self.assertRaises(ValueError, handler.function, "bad")
        self.assertEqual(handler.reasons(), [])
        self.clock.advance(1)
        self.assertEqual(handler.reasons(),
                         ["handler jobs:handle: every message failed for 60s (2 failures, last: ValueError)"])
        handler.function("good")
        self.assertEqual(handler.reasons(), [])

    def test_failure_window_async(self) -> None:
        results: list[Deferred[None]] = []

        @on_reactor
        def deferred_handler(message: Any) -> Deferred[None]:
            results.append(Deferred())
            return results[-1]

        handler = self.handler(deferred_handler, window=10)
        outcome = handler.function("m")
        results[-1].errback(KeyError("x"))
        self.failureResultOf(outcome, KeyError)
        self.clock.advance(10)
        self.assertEqual(len(handler.reasons()), 1)
        handler.function("m")
        results[-1].callback(None)
        self.assertEqual(handler.reasons(), [])


class HandlersTests(SynchronousTestCase):
    def test_setup_failure_tears_down_the_others(self) -> None:
        calls: list[str] = []
        clock = Clock()
        good = Handler("a:good", HookedHandler(calls), clock, 60)
        bad = Handler("a:bad", HookedHandler(calls, setup_result=fail(OSError("no"))), clock, 60)
        handlers = Handlers([good, bad])
        self.failureResultOf(Deferred.fromCoroutine(handlers.setup()), HandlerSetupFailed)
        self.assertEqual(calls, ["setup", "setup", "teardown"])


class ListenerLifecycleTests(SynchronousTestCase):
    """The hooks around the Subscriber in L{ListenerService}, and the view /readyz reads."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.calls: list[str] = []
        self.exits: list[int] = []
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.subscriber = FakeSubscriber(("jobs",))
        original = self.subscriber.startService

        def start() -> None:
            self.calls.append("subscriber started")
            original()

        self.subscriber.startService = start  # type: ignore[method-assign]

    def listener(self, pool: HookedHandler) -> tuple[ListenerService, Handlers]:
        handlers = Handlers([Handler("jobs:handle", pool, self.clock, 60)])
        subscriber: Any = self.subscriber
        client: Any = FakeClient()
        service = ListenerService(subscriber, client, ["jobs"], self.clock, exit=self.exits.append,
                                  environ={}, handlers=handlers)
        return service, handlers

    def test_setup_before_the_subscriber_teardown_after(self) -> None:
        service, _ = self.listener(HookedHandler(self.calls))
        service.startService()
        self.assertEqual(self.calls, ["setup", "subscriber started"])
        self.successResultOf(service.stopService())
        self.assertEqual(self.calls, ["setup", "subscriber started", "teardown"])
        self.assertEqual(self.exits, [])

    def test_setup_failure_is_a_start_up_failure(self) -> None:
        service, _ = self.listener(HookedHandler(self.calls, setup_result=fail(ConnectionRefusedError("db down"))))
        service.startService()
        self.assertEqual(self.exits, [ExitStatus.HANDLER_SETUP])
        self.assertEqual(ExitStatus.HANDLER_SETUP, 75)
        self.assertFalse(self.subscriber.running)
        [critical] = [formatEvent(e) for e in self.events if e["log_level"].name == "critical"]
        self.assertEqual(critical, "cannot start: handler jobs:handle set-up failed: ConnectionRefusedError: db down")

    def test_unhealthy_handler_in_status_and_readiness(self) -> None:
        pool = HookedHandler(self.calls, unhealthy="database pool exhausted")
        service, handlers = self.listener(pool)
        service.startService()
        health = ReadinessView(self.subscriber, handlers).health()  # what /readyz reads
        self.assertFalse(health.ready)
        self.assertEqual(health.reasons, ("handler jobs:handle: database pool exhausted",))
        self.assertEqual(service.status(), "1 queue(s), not ready: handler jobs:handle: database pool exhausted")
        pool.unhealthy = None
        self.assertTrue(ReadinessView(self.subscriber, handlers).health().ready)
        self.assertEqual(service.status(), "listening to 1 queue(s)")
        self.successResultOf(service.stopService())
