"""
The handler's life in C{twistd zaqar-listen}: its set-up and tear-down,
and its health.

The contract (README, "The daemon"): the object C{--handler
package.module:name} names is called with each message; it may also have

 - C{setup()}: called once, after the start-up checks and before the
   first subscription (before any message is claimed); it may return a
   Deferred or be C{async def}.  If it fails, the daemon does not start:
   one critical line (C{cannot start: handler package.module:name set-up
   failed: ...}) and exit status 75 (L{ExitStatus.HANDLER_SETUP}: try
   again later; systemd's C{Restart=on-failure} does);
 - C{teardown()}: called once when the daemon stops, after the last
   message (every handler call has ended or been abandoned at
   C{--stop-timeout}); a failure is logged, the daemon stops anyway;
 - C{health()}: called for each C{/readyz} and each C{STATUS=} update, on
   the reactor thread (it must not block): C{None} (or C{""}) when
   healthy, else one line saying why not, which C{/readyz} (503) and
   C{STATUS=} show.

Whatever the handler says, a handler that failed every message for
C{--handler-failure-window} seconds (no success since a failure at least
that old) makes the daemon not ready, with the count and the last error's
class, until a message succeeds.

Hooks are looked up on the object itself: a class instance with
C{__call__}, C{setup}, C{teardown} and C{health} methods, or a function
given the attributes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred
from twisted.logger import Logger

from ..subscriber.readiness import Health
from ..subscriber.slots import on_reactor, runs_on_reactor

__all__ = ["LIFECYCLE_PARAMETERS", "Handler", "HandlerSetupFailed", "Handlers", "ReadinessView", "subscribe_handlers"]

log = Logger(namespace="txzaqar.listen")

#: The option of this module, as a C{usage.Options.optParameters} row.
LIFECYCLE_PARAMETERS = [
    ["handler-failure-window", None, "60", "seconds of nothing but failed messages (no success since a "
                                           "failure that old) after which the handler counts as "
                                           "unhealthy: /readyz answers 503 until a message succeeds"],
]


class HandlerSetupFailed(Exception):
    """A handler's C{setup()} failed: the daemon does not start."""

    def __init__(self, spec: str, error: BaseException) -> None:
        super().__init__(f"handler {spec} set-up failed: {type(error).__name__}: {error}")
        #: The handler's C{package.module:name}.
        self.spec = spec
        #: What C{setup()} raised.
        self.error = error


def _call(hook: Callable[[], Any]) -> Deferred[Any]:
    """C{hook()}'s result as a Deferred (a coroutine is run, a Deferred waited for)."""
    result = maybeDeferred(hook)

    def awaited(value: Any) -> Any:
        return ensureDeferred(value) if inspect.iscoroutine(value) else value

    return result.addCallback(awaited)


class Handler:
    """
    One handler of the daemon: the function the Subscriber calls (see
    L{function}), its hooks, and the record of its outcomes.

    @param spec: C{package.module:name}, as the operator gave it.
    @param target: what that names.
    @param clock: what times the failure window (the reactor).
    @param window: the failure window, in seconds.
    """

    def __init__(self, spec: str, target: Callable[[Any], Any], clock: Any, window: float) -> None:
        self.spec = spec
        self.target = target
        self._clock = clock
        self._window = window
        self._set_up = False
        self._failures = 0
        self._failing_since: float | None = None
        self._last_error: str | None = None
        #: What the Subscriber is given: C{target}, recording each outcome,
        #: and running where C{target} would (reactor thread or a thread).
        self.function: Callable[[Any], Any] = self._recording()

    def _hook(self, name: str) -> Callable[[], Any] | None:
        hook = getattr(self.target, name, None)
        return hook if callable(hook) else None

    def _succeeded(self) -> None:
        self._failures = 0
        self._failing_since = None

    def _failed(self, error: BaseException) -> None:
        if self._failing_since is None:
            self._failing_since = self._clock.seconds()
        self._failures += 1
        self._last_error = type(error).__name__

    def _recording(self) -> Callable[[Any], Any]:
        target = self.target
        if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(type(target).__call__):
            @functools.wraps(target)
            async def handle_async(message: Any) -> Any:
                try:
                    result = await target(message)
                except BaseException as e:
                    self._failed(e)
                    raise
                self._succeeded()
                return result

            return handle_async

        def handle(message: Any) -> Any:
            try:
                result = target(message)
            except BaseException as e:
                self._failed(e)
                raise
            if isinstance(result, Deferred) or inspect.iscoroutine(result):
                def ok(value: Any) -> Any:
                    self._succeeded()
                    return value

                def failed(failure: Any) -> Any:
                    self._failed(failure.value)
                    return failure

                return ensureDeferred(result).addCallbacks(ok, failed)
            self._succeeded()
            return result

        functools.update_wrapper(handle, target)
        return on_reactor(handle) if runs_on_reactor(target) else handle

    async def setup(self) -> None:
        """
        Run C{setup()} if the handler has one.

        @raise HandlerSetupFailed: it failed.
        """
        hook = self._hook("setup")
        if hook is not None:
            try:
                await _call(hook)
            except Exception as e:
                raise HandlerSetupFailed(self.spec, e) from e
            log.info("handler {spec}: set up", spec=self.spec)
        self._set_up = True

    async def teardown(self) -> None:
        """Run C{teardown()} if the handler has one and was set up; a failure is logged."""
        hook = self._hook("teardown")
        if not self._set_up or hook is None:
            return
        self._set_up = False
        try:
            await _call(hook)
        except Exception as e:
            log.error("handler {spec}: teardown failed: {error}", spec=self.spec,
                      error=f"{type(e).__name__}: {e}")
        else:
            log.info("handler {spec}: torn down", spec=self.spec)

    def reasons(self) -> list[str]:
        """Why the handler is not healthy (empty when it is)."""
        reasons = []
        hook = self._hook("health")
        if hook is not None:
            try:
                said = hook()
            except Exception as e:
                said = f"health() raised {type(e).__name__}"
            if said:
                reasons.append(f"handler {self.spec}: {said}")
        if self._failing_since is not None:
            failing = self._clock.seconds() - self._failing_since
            if failing >= self._window:
                reasons.append(f"handler {self.spec}: every message failed for {failing:.0f}s "
                               f"({self._failures} failures, last: {self._last_error})")
        return reasons


class Handlers:
    """The daemon's handlers, set up in order and torn down in reverse."""

    def __init__(self, handlers: Iterable[Handler]) -> None:
        self._handlers = list(handlers)
        self._set_up: list[Handler] = []

    async def setup(self) -> None:
        """
        Set up each handler in turn.

        @raise HandlerSetupFailed: the first that failed (those set up
            before it are torn down first).
        """
        for handler in self._handlers:
            try:
                await handler.setup()
            except HandlerSetupFailed:
                await self.teardown()
                raise
            self._set_up.append(handler)

    async def teardown(self) -> None:
        """Tear down the handlers set up, last first."""
        while self._set_up:
            await self._set_up.pop().teardown()

    def reasons(self) -> list[str]:
        """Why some handler is not healthy (empty when all are)."""
        return [reason for handler in self._handlers for reason in handler.reasons()]


def subscribe_handlers(options: Any, subscriber: Any, clock: Any) -> Handlers:
    """
    Subscribe each of C{options["queues"]} to its handler: its route's
    (C{--route}, with the route's concurrency), else C{--handler}'s, and
    each of C{options["patterns"]} (C{--queue-pattern}) to C{--handler}'s; each
    handler (one per C{package.module:function}) records its outcomes.

    @return: the L{Handlers} to set up, tear down and ask for health.
    """
    window = options["handler-failure-window"]
    routes = options.get("routes") or {}
    handlers: dict[str, Handler] = {}

    def handler_of(spec: str, function: Callable[[Any], Any]) -> Handler:
        if spec not in handlers:
            handlers[spec] = Handler(spec, function, clock, window)
        return handlers[spec]

    for name in options["queues"]:
        route = routes.get(name)
        if route is not None:
            handler = handler_of(route["handler"], options["route-functions"][route["handler"]])
        else:
            handler = handler_of(options["handler"] or "(log each message)", options["handler-function"])
        subscriber.subscribe(
            name,
            handler.function,
            dead_letter_queue=options["dead-letter-queue"],
            max_claim_count=options["max-claim-count"],
            concurrency=route["concurrency"] if route is not None else None,
        )
    for pattern in options.get("patterns") or []:
        # the queues it matches are found later: --handler's handler, the shared slots
        handler = handler_of(options["handler"] or "(log each message)", options["handler-function"])
        subscriber.psubscribe(pattern, handler.function)
    return Handlers(handlers.values())


class ReadinessView:
    """
    The Subscriber as C{/readyz} and C{STATUS=} see it: its L{Health} with
    the handlers' reasons added; every other attribute is the Subscriber's.
    """

    def __init__(self, subscriber: Any, handlers: Handlers) -> None:
        self._subscriber = subscriber
        self._handlers = handlers

    def health(self) -> Health:
        """The Subscriber's health, not ready as well when a handler says so."""
        health = self._subscriber.health()
        reasons = self._handlers.reasons()
        if not reasons:
            return health
        return Health(False, (*health.reasons, *reasons))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._subscriber, name)
