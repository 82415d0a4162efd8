"""
L{Subscriber}: the service that composes the parts of the subscriber.

It keeps one L{_Channel} per subscribed queue (its poll loop and the
settlement of its claims), the L{Slots} shared by every queue, and the
pull stream; it claims from a queue when that queue's poll loop (or any
other wake-up source, through L{Subscriber.wake}) says so, and hands each
claimed message to its callback.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import attr
from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList, TimeoutError, succeed
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from .._support.observers import notify
from ..errors import ClientValidationError, ZaqarError
from ..interfaces import (
    IClaim,
    IClient,
    IConnection,
    ISubscriber,
    ISubscriberMetrics,
    ISubscriberObserver,
    IWakeSource,
    IWakeTarget,
)
from ._channel import _after_earlier_run, _Channel, callback_outcome
from ._patterns import PatternSubscriptions, _names, _wanted
from .events import QueueCounts, log, new_stats
from .polling import SAFETY_JITTER, Failed, Outcome, QueuePoller
from .push import PushStates
from .readiness import Health, Readiness
from .settings import CHECK, OPTION_NAMES, SubscriberSettings, dead_lettering
from .settlement import ClaimWork, FailureMemory, QueueSettlement
from .slots import CallbackRunner, RunInThread, Slots, runs_on_reactor
from .stream import Getter, Listener, Stream


@implementer(ISubscriber, IWakeTarget)
class Subscriber(PatternSubscriptions, Service):
    """
    Polls subscribed queues and hands each message to its callback.

    Where callbacks run: C{async def} callbacks, and callables marked with
    L{txzaqar.subscriber.on_reactor} (for functions returning a Deferred),
    always run on the reactor thread.  Every other callback is I{plain}:
    with C{threads=0} (the default of the library) it runs on the reactor
    thread too, so it must not block (a plain callback that holds the
    reactor thread longer than C{blocking_warning} seconds gets one
    warning per Subscriber); with C{threads=N} plain callbacks run in a
    thread pool of at most N threads, owned by the Subscriber (started
    and stopped with it), so that a blocking handler
    (C{def handle(m): requests.post(...)}) never stalls polling, acks and
    renewals.  Whether a function returns a Deferred cannot be known
    before calling it: a plain callback that returns a Deferred or a
    coroutine from a thread fails (L{AsyncResultInThread}, logged with
    its message, which is released for redelivery), so mark it.
    C{callback_timeout} counts from when the callback is handed over,
    waiting for a free thread included.  Past it, a callback on the
    reactor thread is cancelled and one still waiting for a thread never
    starts (their messages go back to the queue); a callback whose thread
    runs cannot be interrupted, so its message stays claimed (its claim
    renewed) until the thread returns, and is never handed out again
    meanwhile: then it counts as timed out, with one warning, and is
    deleted if the callback succeeded late, released if it failed (see
    L{txzaqar.subscriber.settlement.QueueSettlement.finished}); its slot
    is taken until then.  L{stopService} waits up to C{stop_timeout} for
    running threads; a thread still running then is
    left running (its message's claim was released) and the stop does
    not wait for it; the pool's threads are daemon threads, so such a
    thread does not keep the process from exiting.

    @param client: an L{IClient}.
    @param clock: an L{twisted.internet.interfaces.IReactorTime} for the
        poll loops and timers (the global reactor when omitted); with
        C{threads > 0} also an C{IReactorThreads} (a real reactor) unless
        C{run_in_thread} is given.
    @param options: the options, as keywords (C{batch=5, concurrency=20,
        ...}): the fields of L{SubscriberSettings}, where each is documented.
    @param settings: the options as a L{SubscriberSettings} instead (what
        the daemon gives); not with option keywords.
    @param jitter: returns a float in [0, 1); a backoff delay is shortened
        by up to a quarter by it (default L{random.random}).
    @param run_in_thread: override how a plain callback runs in a thread
        (tests): C{run(f, *args)} returns a Deferred of C{f(*args)}.
    @param timer: what times callbacks on the reactor thread (default
        C{time.monotonic}).
    @param push: an L{IWakeSource} (L{txzaqar.push.WebSocketPush},
        L{txzaqar.push.WebhookPush}) whose notifications wake the
        subscribed queues, so that a message reaches its callback as soon
        as it is posted; C{None} (the default): polling only.  See
        L{txzaqar.subscriber.push}.
    @raise ClientValidationError: an option out of its bounds (see
        L{SubscriberSettings}), or C{threads > 0} with a C{clock} that
        cannot run threads.
    @raise TypeError: an unknown option, or both C{settings} and option
        keywords.
    """

    #: The L{SubscriberSettings}: the options, checked.  Each is also a
    #: read-only attribute of the Subscriber (C{subscriber.batch} is
    #: C{subscriber.settings.batch}; see L{__getattr__}).
    settings: SubscriberSettings

    def __init__(
        self,
        client: IClient,
        clock: IReactorTime | None = None,
        *,
        settings: SubscriberSettings | None = None,
        jitter: Callable[[], float] = random.random,
        run_in_thread: RunInThread | None = None,
        timer: Callable[[], float] = time.monotonic,
        push: IWakeSource | None = None,
        **options: Any,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        if settings is None:
            settings = SubscriberSettings(**options)
        elif options:
            raise TypeError(f"give settings or option keywords, not both (got {sorted(options)})")
        self._client = client
        self._clock: IReactorTime = clock  # type: ignore[assignment]
        self.settings = settings
        if push is not None and not IWakeSource.providedBy(push):
            raise ClientValidationError("push", f"must provide IWakeSource (txzaqar.push), not {push!r:.60}")
        #: The L{IWakeSource} whose notifications wake the queues, or C{None}.
        self.push = push
        #: Why the push source could not start (its queues are polled as usual), or C{None}.
        self.push_start_error: BaseException | None = None
        self._push = PushStates(push.kind if push is not None else None)
        if settings.threads and run_in_thread is None and not IReactorThreads.providedBy(clock):
            raise ClientValidationError(
                "clock", f"threads={settings.threads} needs a reactor that runs threads (IReactorThreads) "
                f"as clock, not {clock!r:.60}"
            )
        self._runner = CallbackRunner(settings.threads, clock, run_in_thread, settings.blocking_warning, timer)
        self._jitter = jitter
        #: Counters (see L{STATS}); a C{Counter}, readable like a C{dict}.
        self.stats: Counter[str] = new_stats()
        self._channels: dict[str, _Channel] = {}
        self._slots = Slots(settings.concurrency)
        self._stream = Stream()
        self._getter = Getter(self._stream)
        self._stopping = False
        self._failures = FailureMemory()
        self._queue_stats: dict[str, QueueCounts] = {}
        self._dead_letter_queues: dict[str, str] = {}
        self._readiness = Readiness(self._clock)
        self._observers: list[ISubscriberObserver] = []
        self._metrics: ISubscriberMetrics | None = None
        self._closed_client = False
        self._init_patterns()

    def __getattr__(self, name: str) -> Any:
        """
        An option, read from L{settings}: C{subscriber.batch} is
        C{subscriber.settings.batch} (for every name of L{OPTION_NAMES}).
        """
        if name in OPTION_NAMES and "settings" in self.__dict__:
            return getattr(self.settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        """The options are read-only (L{settings} is frozen): other attributes are set as usual."""
        if name in OPTION_NAMES:
            raise AttributeError(f"{name} is read-only: it is settings.{name} (make a new Subscriber)")
        super().__setattr__(name, value)

    def __repr__(self) -> str:
        return f"<Subscriber {sorted(self._channels)} running={bool(self.running)}>"


    # -- public API -----------------------------------------------------

    @property
    def channels(self) -> frozenset[str]:
        """The subscribed queue names."""
        return frozenset(self._channels)

    @property
    def in_flight(self) -> int:
        """Messages claimed (or being claimed) and not yet finished."""
        return sum(slots.busy for slots in self._all_slots())

    def _all_slots(self) -> list[Slots]:
        """The Subscriber's slots and those of the queues with a concurrency of their own."""
        found = [self._slots]
        for channel in self._channels.values():
            if all(channel.slots is not s for s in found):
                found.append(channel.slots)
        return found

    @property
    def _slot_waiters(self) -> list[Deferred[None]]:
        # the poll loops waiting for a slot (the unit tests look)
        return self._slots.waiters

    def subscribe(
        self,
        queue_name: str | Iterable[str] | Mapping[str, Callable[[Any], Any] | None],
        callback: Callable[[Any], Any] | None = None,
        dead_letter_queue: str | None = None,
        max_claim_count: int | None = None,
        concurrency: int | None = None,
    ) -> None:
        """
        C{queue_name} may also be several names (a list, tuple or set: each
        with C{callback}) or a mapping of names to callbacks (C{None}: to
        L{listen}); every name is checked before any is subscribed.
        With C{threads > 0} a plain callback runs in a thread (see
        L{Subscriber}): mark a Deferred-returning one with
        L{txzaqar.subscriber.on_reactor}.
        C{concurrency} is taken in slots of its own; plain callbacks still
        share the C{threads}.
        """
        wanted = _wanted(queue_name, callback)
        for name, each in wanted.items():
            self._client.queue(name)
            if name in self._channels:
                raise ClientValidationError("queue_name", f"already subscribed to {name!r}; unsubscribe first")
            if each is not None and not callable(each):
                raise ClientValidationError("callback", f"must be callable, not {each!r:.60}")
        configure = dead_lettering(dead_letter_queue, max_claim_count)
        if concurrency is not None:
            attr.fields(SubscriberSettings).concurrency.metadata[CHECK](None, None, concurrency)
        for name, each in wanted.items():
            self._subscribe(name, each, configure, concurrency)

    def _subscribe(self, queue_name: str, callback: Callable[[Any], Any] | None,
                   configure: dict[str, Any] | None, concurrency: int | None) -> None:
        """Subscribe one queue, whose name and options are checked."""
        queue = self._client.queue(queue_name)
        counts = self._queue_stats.setdefault(queue_name, QueueCounts(self.stats))
        settlement = QueueSettlement(queue, self._clock, self.settings, counts, self._failures,
                                     partial(self._returned, queue_name))
        # the pull stream's own callback only hands the message over: reactor thread
        plain = callback is not None and not runs_on_reactor(callback)
        if callback is None:
            callback = partial(self._stream.put, source=queue_name)
            self._stream.attach(queue_name)
        channel = _Channel(queue, callback, plain, dict(configure) if configure is not None else None, settlement)
        channel.stats = counts
        channel.slots = self._slots if concurrency is None else Slots(concurrency)
        channel.poller = QueuePoller(channel.name, partial(self._claim, channel), channel.slots,
                                     self.settings, self._clock, self._jitter, self.effective_safety_interval)
        channel.push = self._push.add(queue_name, channel.poller, counts, self._clock)
        self._channels[queue_name] = channel
        if configure is not None:
            self._dead_letter_queues[queue_name] = configure["dead_letter_queue"]
        if self.push is not None:
            self.push.watch(queue_name)
        if self.running and not self._stopping:
            channel.poller.start()

    def unsubscribe(self, queue_name: str | Iterable[str] | None = None) -> Deferred[None]:
        """
        C{None} (no argument): every subscribed queue; several names (a
        list, tuple or set) too.
        Waits (up to C{stop_timeout}) for the queue's callbacks, deletes what
        succeeded and releases the rest.
        """
        names = _names(queue_name, self._channels, "queue_name", "a queue name")
        if len(names) == 1:
            return self._unsubscribe(names[0])
        return DeferredList([self._unsubscribe(name) for name in names],
                            consumeErrors=True).addCallback(lambda _: None)

    def _unsubscribe(self, queue_name: str) -> Deferred[None]:
        self._discovered.pop(queue_name, None)
        channel = self._channels.pop(queue_name, None)
        if channel is None:
            return succeed(None)
        self._readiness.forget(queue_name)
        self._dead_letter_queues.pop(queue_name, None)
        self._push.remove(queue_name)
        # its messages no reader took are released now, not after stop_timeout
        self._stream.detach(queue_name)
        drained = Deferred.fromCoroutine(self._drain(channel))
        if self.push is None:
            return drained
        return DeferredList([drained, self.push.unwatch(queue_name)],
                            consumeErrors=True).addCallback(lambda _: None)

    def wake(self, queue_name: str) -> None:
        channel = self._channels.get(queue_name)
        if channel is not None:
            channel.push.notified()

    def push_up(self, queue_name: str) -> None:
        channel = self._channels.get(queue_name)
        if channel is not None:
            channel.push.up()

    def push_down(self, queue_name: str, reason: str) -> None:
        channel = self._channels.get(queue_name)
        if channel is not None:
            channel.push.down(reason)

    def _returned(self, queue_name: str, delay: float) -> None:
        channel = self._channels.get(queue_name)
        if channel is not None:
            channel.push.returned(delay)

    def push_states(self) -> dict[str, str]:
        return self._push.states(self._channels)

    def listen(self) -> Listener:
        """
        Messages wait for a reader in claimed slots (so at most C{concurrency}
        of them), and their claims are renewed while they wait; L{stopService}
        releases a message not yet acknowledged after C{stop_timeout} if its
        iterator is still open.
        """
        return Listener(self._stream)

    def get_message(self, timeout: float | None = None) -> Deferred[Any]:
        """
        The message returned by the call before (if any) is acknowledged
        now, as C{listen}'s is when the next is asked for; one still held
        when the subscriber stops is released after C{stop_timeout}.
        """
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not math.isfinite(timeout) or timeout < 0):
            raise ClientValidationError("timeout", f"must be None or a finite number of seconds, 0 or more, "
                                        f"not {timeout!r:.60}")
        return self._getter.get(timeout, self._clock)

    # -- observing ------------------------------------------------------

    @property
    def client(self) -> IClient:
        """The L{IClient} this subscriber claims through."""
        return self._client

    def queue_stats(self) -> dict[str, dict[str, int]]:
        return {name: dict(counts) for name, counts in self._queue_stats.items()}

    def callbacks_in_flight(self) -> dict[str, int]:
        return {name: sum(len(work.pending) for work in channel.settlement.works)
                for name, channel in self._channels.items()}

    def backoff_delays(self) -> dict[str, float]:
        return {name: channel.poller.backoff_delay for name, channel in self._channels.items()}

    def effective_safety_interval(self) -> float:
        """
        The seconds between safety polls of an idle queue whose push is up,
        now: C{safety_interval}, or more with many queues, so that they
        make at most C{safety_rate} polls per second on average.
        """
        # each wait is shortened by SAFETY_JITTER / 2 on average
        spread = len(self._channels) / (self.settings.safety_rate * (1 - SAFETY_JITTER / 2))
        return max(self.settings.safety_interval, spread)

    def poll_intervals(self) -> dict[str, float]:
        return {name: channel.poller.idle_delay for name, channel in self._channels.items()}

    def last_polls(self) -> dict[str, float | None]:
        last = self._readiness.last_successes()
        return {name: last.get(name) for name in self._channels}

    def dead_letter_queues(self) -> dict[str, str]:
        return dict(self._dead_letter_queues)

    def health(self) -> Health:
        """
        Here the expected interval is C{max_interval} + 10 s (+ the request
        timeout while a claim is in flight), and the service must be running.
        """
        connection = self.connection()
        now = self.effective_safety_interval()
        safety = {name: max(now, self._channels[name].poller.idle_delay)
                  for name, state in self.push_states().items() if state == "up"}
        return self._readiness.assess(
            list(self._channels), bool(self.running) and not self._stopping,
            {name: channel.slots.free for name, channel in self._channels.items()},
            self.settings.max_interval, connection.timeout if connection is not None else 30.0, safety,
        )

    def add_observer(self, observer: ISubscriberObserver) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: ISubscriberObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def connection(self) -> IConnection | None:
        return self._client.connection if IClient.providedBy(self._client) else None

    @property
    def metrics(self) -> ISubscriberMetrics:
        """
        The L{ISubscriberMetrics} of this subscriber (its Prometheus metrics,
        in a registry of its own), made on first use by the adapter the
        operations layer registers (L{txzaqar.ops.metrics.SubscriberMetrics}).
        """
        if self._metrics is None:
            self._metrics = ISubscriberMetrics(self)
        return self._metrics

    # -- the service ----------------------------------------------------

    def startService(self) -> None:
        """
        Start the callback threads (if any) and poll every subscribed queue.

        @raise ClientValidationError: the Subscriber was stopped with
            C{close_client=True}: its client is closed.
        """
        if self._closed_client:
            raise ClientValidationError(
                "close_client", "this Subscriber closed its client when it stopped: make a new client and "
                "Subscriber, or use close_client=False to stop and start one again"
            )
        super().startService()
        self._stopping = False
        self._stream.open()
        self._runner.start()
        log.info("subscriber started on {queues}{push}", queues=sorted(self._channels),
                 push=f" with push ({self.push.kind})" if self.push is not None else "")
        for channel in self._channels.values():
            channel.poller.start()
        if self.push is not None:
            self.push.start(self).addErrback(self._push_failed)
        if self._patterns:
            self._start_discovery()

    def _push_failed(self, failure: Failure) -> None:
        self.push_start_error = failure.value
        log.error("push ({kind}) could not start: {error}; polling only",
                  kind=self._push.kind, error=f"{type(failure.value).__name__}: {failure.value}")

    def stopService(self) -> Deferred[None]:
        """
        Stop polling, wait (bounded) for callbacks in flight, delete what
        succeeded, release the rest, close the client.  Callbacks still
        running in threads after C{stop_timeout} are not waited for (a
        thread cannot be interrupted; their messages were released), and
        the thread pool is stopped without blocking the reactor.

        @return: a Deferred firing with C{None} when all of that is done.
        """
        super().stopService()
        self._stopping = True
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        self._stream.close()
        self._stop_discovery()
        if self.push is not None:
            try:
                await self.push.stop()
            except Exception:
                log.failure("stopping push ({kind})", kind=self.push.kind, level=LogLevel.warn)
        channels = list(self._channels.values())
        began = self._clock.seconds()
        await DeferredList([Deferred.fromCoroutine(self._drain(c)) for c in channels],
                           consumeErrors=True)
        await self._wait_for_threads(self.settings.stop_timeout - (self._clock.seconds() - began))
        self._runner.stop()
        if self.settings.close_client:
            self._closed_client = True
            try:
                await self._client.close()
            except Exception:
                log.failure("closing the client", level=LogLevel.warn)
        self._push.forget()
        log.info("subscriber stopped: {stats}", stats=dict(self.stats))

    async def _wait_for_threads(self, timeout: float) -> None:
        """Wait up to C{timeout} seconds for callbacks still running in threads."""
        if not self._runner.running:
            return
        if timeout > 0:
            wait = self._runner.idle()
            wait.addTimeout(timeout, self._clock)
            try:
                await wait
                return
            except (TimeoutError, CancelledError):
                pass
        log.warn("{count} callbacks still running in threads after {timeout}s; not waiting for "
                 "them (a thread cannot be interrupted; their messages were released)",
                 count=self._runner.running, timeout=self.settings.stop_timeout)

    async def _drain(self, channel: _Channel) -> None:
        await channel.poller.stop()
        await channel.settlement.drain(self.settings.stop_timeout)

    # -- claiming -------------------------------------------------------

    async def _claim(self, channel: _Channel) -> Outcome | Failed:
        """Claim once from C{channel}'s queue and start the callbacks of what came."""
        settings = self.settings
        if channel.configure is not None:
            try:
                # PATCH needs an existing queue, and a message moved to a
                # dead-letter queue that does not exist is listed nowhere
                await channel.queue.create()
                await self._client.queue(channel.configure["dead_letter_queue"]).create()
                await channel.queue.configure(**channel.configure)
            except ZaqarError as e:
                channel.stats["poll_errors"] += 1
                self._readiness.poll_failed(channel.name, e)
                return Failed(f"configuring the queue failed: {e}", e)
            log.info("configured {queue}: {settings}", queue=channel.name, settings=channel.configure)
            channel.configure = None
        slots = channel.slots
        free = slots.free
        if free <= 0:
            return Outcome.NO_SLOT
        safety, announced = channel.push.claim_started()
        limit = min(settings.batch, free)
        slots.reserve(limit)
        self._readiness.claim_started(channel.name)
        try:
            claim = await channel.queue.claim(limit=limit, ttl=settings.claim_ttl, grace=settings.grace)
        except ZaqarError as e:
            slots.give_back(limit)
            channel.stats["poll_errors"] += 1
            self._readiness.poll_failed(channel.name, e)
            return Failed(f"claiming failed: {e}", e)
        except Exception as e:
            slots.give_back(limit)
            self._readiness.poll_failed(channel.name, e)
            raise
        channel.stats["polls"] += 1
        self._readiness.poll_succeeded(channel.name)
        messages = tuple(claim.messages) if claim else ()
        slots.give_back(limit - len(messages))
        if channel.push.claimed(safety, announced, len(messages)):
            self._push.missed(channel.push)
        if not messages:
            channel.stats["empty_polls"] += 1
            return Outcome.EMPTY
        if not channel.poller.active:
            # unsubscribed or stopping while the claim was in flight
            slots.give_back(len(messages))
            await channel.settlement.release_unstarted(claim, messages)
            return Outcome.STOPPED
        self._start(channel, claim, messages)
        return Outcome.FULL if len(messages) >= limit else Outcome.PARTIAL

    def _start(self, channel: _Channel, claim: IClaim, messages: tuple[Any, ...]) -> None:
        """Run the callback of every message of C{claim}."""
        work = channel.settlement.begin(claim, messages)
        started = self._clock.seconds()
        for message in messages:
            earlier = self._runner.running_now(channel.name, message.id)
            returned: Deferred[None] | None = None
            if earlier is not None:
                d = _after_earlier_run(channel.name, message, earlier)
            else:
                if self._observers:
                    self._delivered(channel.name, message)
                # past callback_timeout a callback in a thread keeps its message
                # (claimed, renewed) until its thread returns: see CallbackRunner.run
                d, returned = self._runner.run(channel.callback, message, channel.plain, channel.name,
                                               lambda: work.abandoned, self.settings.callback_timeout)
            if returned is not None:
                # in a thread: its slot is taken until the thread returns
                returned.addCallback(lambda _: channel.slots.give_back(1))
            d.addCallbacks(
                lambda _, m=message, t=returned is None: self._done(work, m, None, t, started, channel.slots),
                lambda f, m=message, t=returned is None: self._done(work, m, f, t, started, channel.slots),
            )
            if earlier is None:
                # after _done: once it is over, its outcome is settled (a success is being deleted)
                self._runner.track(channel.name, message.id, d)

    def _delivered(self, queue: str, message: Any) -> None:
        notify(self._observers, "message_delivered", lambda o: o.message_delivered(queue, message), log)

    def _done(self, work: ClaimWork, message: Any, failure: Failure | None, give_back: bool,
              started: float, slots: Slots) -> None:
        if give_back:
            slots.give_back(1)
        if self._observers:
            queue, seconds, outcome = work.settlement.name, self._clock.seconds() - started, callback_outcome(failure)
            notify(self._observers, "callback_finished", lambda o: o.callback_finished(queue, seconds, outcome), log)
        work.settlement.finished(work, message, failure)
