"""
L{Subscriber}: a service that turns Zaqar queues into callbacks.

    subscriber = client.subscriber(batch=10, concurrency=20)
    subscriber.subscribe("jobs", handle_job)      # plain, Deferred or async
    subscriber.setServiceParent(application)      # or startService()

Delivery is at least once.  A message is deleted only after its callback
succeeded; a message whose callback failed, timed out or never ran is given
back to the queue (its claim is released) so that it is delivered again.

How a queue is polled
=====================

Each subscribed queue has its own L{LoopingCall} on the injected clock.
One poll claims up to C{min(batch, free slots)} messages, where a slot is
one of the C{concurrency} callbacks that may run at once (shared by all
queues).  Every claimed message starts at once, so the subscriber never
holds a claimed message it is not working on (bounded prefetch): nothing
waits in a local buffer while its claim runs out.

 - a claim that came back full: poll again at once, and (while there
   are free slots for a whole batch) start one more claim alongside, up
   to C{claims_in_flight} claims at once per queue: a backlog is drained
   with several requests in flight, an idle queue costs one poll loop;
 - a claim that came back partly full: poll again after C{poll_interval};
 - an empty claim, or an error (server down, 5xx, timeout): back off,
   C{poll_interval * 2**n} with jitter, at most C{max_interval};
 - no free slot: wait until a callback finishes.

No error escapes a poll, so the loop never dies.

Claims, acknowledgements and renewal
====================================

Messages that succeeded are deleted in bulk (C{queue.delete_messages}),
when a claim's last callback finishes, when 20 are waiting, or
C{ack_delay} seconds after the first one finished, whichever comes first.
While callbacks of a claim still run at half the claim ttl, the claim is
renewed (and again every half ttl).  A Zaqar claim can only be released
whole, so when every message of a claim is done and some of them failed,
the successful ones are deleted first and then the claim is released: the
failed messages are claimable again at once, instead of after the claim
expires.  A message that fails again is not hurried back: when every failed
message of a claim already failed before (and nothing else is left), the
claim is left to expire, so a poison message is retried every C{claim_ttl}
seconds rather than in a tight loop.  With C{subscribe(..., max_claim_count=N, dead_letter_queue=Q)}
both queues are created and the queue is configured so that a message
claimed N times moves to Q on the server's next claim attempt (it then
stays invisible in Q until its last claim's ttl runs out; Q must exist as
a queue, or the moved message is listed nowhere).

Stopping
========

L{Subscriber.stopService} stops every poll loop, waits up to
C{stop_timeout} seconds for callbacks in flight, deletes what succeeded,
releases the claims of everything not processed (so that other consumers
get those messages at once), and closes the client (C{close_client}).  Its
Deferred fires when all of that is done.

Events and counters
===================

Events are logged on L{log} (namespace C{txzaqar.subscriber}) with the
fields C{queue}, C{count}, C{claim_id} and C{message_id} where they apply:
claimed and processed (debug), failed (error, with the failure), renewed,
released and backing off (info / warn).  L{Subscriber.stats} counts them.
"""

from __future__ import annotations

import inspect
import random
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    TimeoutError,
    maybeDeferred,
    succeed,
)
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from . import _validation as v
from .errors import ClientValidationError, NotFound, ZaqarError
from .interfaces import IClaim, IClient, IQueue, ISubscriber

log = Logger()

#: The counters of L{Subscriber.stats}, all present from the start.
STATS = (
    "polls",            # claim requests that answered
    "empty_polls",      # ... with nothing to claim
    "poll_errors",      # claim (or configure) requests that failed
    "claimed",          # messages claimed
    "processed",        # callbacks that succeeded
    "failed",           # callbacks that failed (including timeouts)
    "timed_out",        # callbacks that ran past callback_timeout
    "acked",            # messages deleted after success
    "ack_failed",       # deletes that failed (the message comes back)
    "renewed",          # claim renewals
    "renew_failed",
    "released",         # messages given back by releasing their claim
    "release_failed",
    "left_to_expire",   # failed again: their claim is left to run out
)

#: How many failed message ids are remembered (to tell repeat failures).
MAX_REMEMBERED_FAILURES = 10_000


class NotProcessed(Exception):
    """
    A message was handed back without being processed (a L{listen}
    iterator was closed, or the subscriber stopped before it was taken).
    Its claim is released; this is not a callback failure.
    """


def _observe(d: Deferred[Any]) -> Deferred[None]:
    """A new Deferred that fires with C{None} when C{d} fires, however it fires."""
    observer: Deferred[None] = Deferred()

    def fire(result: Any) -> Any:
        observer.callback(None)
        return result

    d.addBoth(fire)
    return observer


def _call(callback: Callable[[Any], Any], message: Any) -> Any:
    result = callback(message)
    if inspect.iscoroutine(result):
        return Deferred.fromCoroutine(result)
    if not isinstance(result, Deferred) and inspect.isawaitable(result):
        async def wait() -> Any:
            return await result

        return Deferred.fromCoroutine(wait())
    return result


class _Channel:
    """One subscribed queue and the state of its poll loop."""

    def __init__(self, queue: IQueue, callback: Callable[[Any], Any],
                 configure: dict[str, Any] | None) -> None:
        self.queue = queue
        self.name: str = queue.name
        self.callback = callback
        self.configure = configure
        self.active = False
        self.loop: LoopingCall | None = None
        self.loop_done: Deferred[Any] | None = None
        self.sleep: Deferred[Any] | None = None
        self.attempt = 0
        self.works: set[_Work] = set()
        self.acks: list[tuple[str, _Work]] = []
        self.ack_call: Any = None
        self.full = False  # the last claim came back full (read and reset by the poller)
        self.bursting = 0  # extra claims in flight (see Subscriber._burst)
        self.bursts: set[Deferred[None]] = set()


class _Work:
    """The messages of one claim while they are being processed."""

    def __init__(self, channel: _Channel, claim: IClaim) -> None:
        self.channel = channel
        self.claim = claim
        self.pending: set[str] = set()
        self.failed: list[str] = []
        self.unprocessed: list[str] = []
        self.flushes: list[Deferred[None]] = []
        self.renewal: Any = None
        self.callbacks_done: Deferred[None] = Deferred()
        self.settled: Deferred[None] | None = None
        self.abandoned = False


@implementer(ISubscriber)
class Subscriber(Service):
    """
    Polls subscribed queues and hands each message to its callback.

    @param client: an L{IClient}.
    @param clock: an L{IReactorTime} for the poll loops and timers (the
        global reactor when omitted).
    @param batch: the most messages one claim asks for (1 to 20).
    @param claim_ttl: claim ttl in seconds (60 to 43200); claims are
        renewed every C{claim_ttl / 2} while their callbacks run.
    @param grace: claim grace in seconds (60 to 43200).
    @param concurrency: the most callbacks running at once, over all
        queues; also the most messages held claimed.
    @param poll_interval: seconds between polls when a claim was not full,
        and the first backoff step.
    @param max_interval: the longest backoff, in seconds.
    @param callback_timeout: seconds after which a callback counts as
        failed (its Deferred is cancelled), or C{None} for no limit.
    @param stop_timeout: how long L{stopService} (and L{unsubscribe})
        waits for callbacks in flight before releasing their messages.
    @param ack_delay: the longest a successful message waits to be
        deleted together with others.
    @param close_client: whether L{stopService} closes the client.
    @param jitter: returns a float in [0, 1); a backoff delay is shortened
        by up to a quarter by it (default L{random.random}).
    @param claims_in_flight: the most claim requests in flight at once
        for one queue while it has a backlog (1 to 20); the extra ones
        only start after a full claim, and only with free slots for a
        whole batch, so prefetch stays bounded by C{concurrency}
        (default 1: one claim at a time).
    """

    def __init__(
        self,
        client: IClient,
        clock: IReactorTime | None = None,
        batch: int = 10,
        claim_ttl: int = 60,
        grace: int = 60,
        concurrency: int = 10,
        poll_interval: float = 1.0,
        max_interval: float = 30.0,
        callback_timeout: float | None = None,
        stop_timeout: float = 30.0,
        ack_delay: float = 1.0,
        close_client: bool = True,
        jitter: Callable[[], float] = random.random,
        claims_in_flight: int = 1,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self._client = client
        self._clock: IReactorTime = clock  # type: ignore[assignment]
        self.batch = v.integer("batch", batch, 1, v.MAX_CLAIM_OR_POP)
        self.claim_ttl = v.integer("claim ttl", claim_ttl, *v.CLAIM_TTL)
        self.grace = v.integer("claim grace", grace, *v.CLAIM_GRACE)
        self.concurrency = v.integer("concurrency", concurrency, 1, 10_000)
        self.poll_interval = _positive("poll_interval", poll_interval)
        self.max_interval = _positive("max_interval", max_interval)
        if self.max_interval < self.poll_interval:
            raise ClientValidationError(
                "max_interval", f"{max_interval} is below poll_interval ({poll_interval})"
            )
        self.callback_timeout = (
            None if callback_timeout is None else _positive("callback_timeout", callback_timeout)
        )
        self.stop_timeout = _positive("stop_timeout", stop_timeout)
        self.ack_delay = float(ack_delay)
        self.claims_in_flight = v.integer("claims_in_flight", claims_in_flight, 1, 20)
        self.close_client = close_client
        self._jitter = jitter
        #: Counters (see L{STATS}); a C{Counter}, readable like a C{dict}.
        self.stats: Counter[str] = Counter({name: 0 for name in STATS})
        self._channels: dict[str, _Channel] = {}
        self._busy = 0  # slots reserved for claims in flight, plus callbacks running
        self._slot_waiters: list[Deferred[None]] = []
        self._stream: deque[tuple[Any, Deferred[None]]] = deque()
        self._stream_waiters: deque[Deferred[Any]] = deque()
        self._stream_closed = False
        self._stopping = False
        self._failures: dict[str, int] = {}

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
        return self._busy

    def subscribe(
        self,
        queue_name: str,
        callback: Callable[[Any], Any] | None = None,
        dead_letter_queue: str | None = None,
        max_claim_count: int | None = None,
    ) -> None:
        """
        Deliver each message of C{queue_name} to C{callback(message)}.

        The callback may return a value, a Deferred or a coroutine; the
        message is deleted once that succeeds.  Without a callback the
        messages go to L{listen}.  Polling starts at once if the service
        is running, else when it starts.

        @param dead_letter_queue: with C{max_claim_count}, configure the
            queue so that a message claimed more than C{max_claim_count}
            times moves to this queue (done before the first poll).
        @raise ClientValidationError: a bad queue name or option.
        @raise ValueError: the queue is already subscribed.
        """
        queue = self._client.queue(queue_name)
        if queue_name in self._channels:
            raise ValueError(f"already subscribed to {queue_name!r}; unsubscribe first")
        if callback is not None and not callable(callback):
            raise ClientValidationError("callback", f"must be callable, not {callback!r:.60}")
        configure = None
        if dead_letter_queue is not None or max_claim_count is not None:
            if dead_letter_queue is None or max_claim_count is None:
                raise ClientValidationError(
                    "dead_letter_queue",
                    "give dead_letter_queue and max_claim_count together "
                    "(the server ignores one without the other)",
                )
            v.queue_name(dead_letter_queue)
            v.integer("max_claim_count", max_claim_count, 1, v.MAX_INT64)
            configure = {"max_claim_count": max_claim_count, "dead_letter_queue": dead_letter_queue}
        channel = _Channel(queue, callback or self._to_stream, configure)
        self._channels[queue_name] = channel
        if self.running and not self._stopping:
            self._start_channel(channel)

    def unsubscribe(self, queue_name: str) -> Deferred[None]:
        """
        Stop polling C{queue_name}, wait (up to C{stop_timeout}) for its
        callbacks, delete what succeeded and release the rest.

        @return: a Deferred firing with C{None} when that is done
            (at once for a queue that is not subscribed).
        """
        channel = self._channels.pop(queue_name, None)
        if channel is None:
            return succeed(None)
        return Deferred.fromCoroutine(self._drain(channel))

    def listen(self) -> _Listener:
        """
        An async iterator of the messages of the queues subscribed
        without a callback::

            subscriber.subscribe("jobs")
            async with contextlib.aclosing(subscriber.listen()) as messages:
                async for message in messages:
                    await handle(message)

        A message it yielded is acknowledged (deleted, in a bulk delete
        with others) when the iterator is asked for the next message, that
        is, when the body of the C{async for} finished without raising and
        the loop comes round again.  If the body raises or breaks, the
        message is not acknowledged: closing the iterator (C{aclose()})
        releases it for redelivery, and L{stopService} releases it after
        C{stop_timeout} if the iterator is still open.  Messages wait for
        a reader in claimed slots (so at most C{concurrency} of them), and
        their claims are renewed while they wait.  Iteration ends when the
        subscriber stops.  Several iterators share the messages between
        them.
        """
        return _Listener(self)

    # -- the service ----------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self._stream_closed = False
        log.info("subscriber started on {queues}", queues=sorted(self._channels))
        for channel in self._channels.values():
            self._start_channel(channel)

    def stopService(self) -> Deferred[None]:
        """
        Stop polling, wait (bounded) for callbacks in flight, delete what
        succeeded, release the rest, close the client.

        @return: a Deferred firing with C{None} when all of that is done.
        """
        super().stopService()
        self._stopping = True
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        self._close_stream()
        channels = list(self._channels.values())
        await DeferredList([Deferred.fromCoroutine(self._drain(c)) for c in channels],
                           consumeErrors=True)
        if self.close_client:
            try:
                await self._client.close()
            except Exception:
                log.failure("closing the client", level=LogLevel.warn)
        log.info("subscriber stopped: {stats}", stats=dict(self.stats))

    def _start_channel(self, channel: _Channel) -> None:
        channel.active = True
        channel.attempt = 0
        loop = LoopingCall(self._iterate, channel)
        loop.clock = self._clock
        channel.loop = loop
        channel.loop_done = loop.start(0, now=True)
        channel.loop_done.addErrback(
            lambda f: log.failure("poll loop of {queue} died", f, queue=channel.name)
        )

    async def _drain(self, channel: _Channel) -> None:
        channel.active = False
        if channel.loop is not None and channel.loop.running:
            channel.loop.stop()
        if channel.sleep is not None:
            channel.sleep.cancel()
        self._wake_slot_waiter()  # in case this loop had been woken and will not poll now
        if channel.loop_done is not None:
            await _observe(channel.loop_done)  # a claim request in flight
        if channel.bursts:
            await DeferredList([_observe(d) for d in list(channel.bursts)], consumeErrors=True)
        works = list(channel.works)
        running = [_observe(w.callbacks_done) for w in works if not w.callbacks_done.called]
        if running:
            log.info("waiting for {count} claims in flight on {queue}",
                     count=len(running), queue=channel.name)
            wait = DeferredList(running, consumeErrors=True)
            wait.addTimeout(self.stop_timeout, self._clock)
            try:
                await wait
            except (TimeoutError, CancelledError):
                log.warn("gave up waiting for callbacks on {queue} after {timeout}s",
                         queue=channel.name, timeout=self.stop_timeout)
        for work in works:
            if not work.callbacks_done.called:
                self._abandon(work)
        settling = [_observe(w.settled) for w in works if w.settled is not None]
        await self._flush(channel)
        await DeferredList(settling, consumeErrors=True)

    # -- polling ----------------------------------------------------------

    def _iterate(self, channel: _Channel) -> Deferred[None]:
        return Deferred.fromCoroutine(self._poll(channel))

    async def _poll(self, channel: _Channel) -> None:
        try:
            delay = await self._poll_once(channel)
            if channel.full:
                channel.full = False
                self._burst(channel)
        except Exception:
            log.failure("unexpected error polling {queue}", queue=channel.name)
            delay = self._backoff(channel, "an unexpected error")
        if delay and channel.active:
            channel.sleep = deferLater(self._clock, delay, lambda: None)
            await self._sleep(channel)

    async def _sleep(self, channel: _Channel) -> None:
        try:
            await channel.sleep  # type: ignore[misc]
        except CancelledError:
            pass
        finally:
            channel.sleep = None

    async def _poll_once(self, channel: _Channel) -> float:
        """One poll; returns the delay before the next one."""
        if not channel.active:
            return 0
        if channel.configure is not None:
            try:
                # PATCH needs an existing queue, and a message moved to a
                # dead-letter queue that does not exist is listed nowhere
                await channel.queue.create()
                await self._client.queue(channel.configure["dead_letter_queue"]).create()
                await channel.queue.configure(**channel.configure)
            except ZaqarError as e:
                self.stats["poll_errors"] += 1
                return self._backoff(channel, f"configuring the queue failed: {e}")
            log.info("configured {queue}: {settings}", queue=channel.name, settings=channel.configure)
            channel.configure = None
        free = self.concurrency - self._busy
        if free <= 0:
            waiter: Deferred[None] = Deferred()
            self._slot_waiters.append(waiter)
            channel.sleep = waiter
            await self._sleep(channel)
            return 0
        limit = min(self.batch, free)
        self._busy += limit
        self._wake_slot_waiter()
        try:
            claim = await channel.queue.claim(limit=limit, ttl=self.claim_ttl, grace=self.grace)
        except ZaqarError as e:
            self._free(limit)
            self.stats["poll_errors"] += 1
            return self._backoff(channel, f"claiming failed: {e}")
        except Exception:
            self._free(limit)
            raise
        self.stats["polls"] += 1
        messages = tuple(claim.messages) if claim else ()
        self._busy += len(messages) - limit
        self._free(0)
        if not messages:
            self.stats["empty_polls"] += 1
            return self._backoff(channel, None)
        channel.attempt = 0
        if not channel.active:
            # unsubscribed or stopping while the claim was in flight
            work = _Work(channel, claim)
            work.unprocessed = [m.id for m in messages]
            self._free(len(messages))
            self.stats["claimed"] += len(messages)
            await self._release(work)
            return 0
        self._start_work(channel, claim, messages)
        channel.full = len(messages) >= limit
        return 0 if channel.full else self.poll_interval

    def _burst(self, channel: _Channel) -> None:
        """
        After a full claim: one more claim alongside the poll loop, while
        fewer than C{claims_in_flight} are in flight for this queue and a
        whole batch of slots is free.  It claims once and, if that came
        back full too, hands over to a successor; it never backs off (the
        poll loop alone polls an idle queue).
        """
        if not (channel.active and channel.bursting + 1 < self.claims_in_flight
                and self.concurrency - self._busy >= self.batch):
            return
        channel.bursting += 1
        d = Deferred.fromCoroutine(self._burst_once(channel))
        if not d.called:
            channel.bursts.add(d)
            d.addBoth(lambda _: channel.bursts.discard(d))

    async def _burst_once(self, channel: _Channel) -> None:
        try:
            await self._poll_once(channel)
        except Exception:
            log.failure("unexpected error polling {queue}", queue=channel.name)
        finally:
            channel.bursting -= 1
        if channel.full:
            channel.full = False
            self._burst(channel)

    def _backoff(self, channel: _Channel, reason: str | None) -> float:
        base = min(self.max_interval, self.poll_interval * 2 ** min(channel.attempt, 64))
        delay = base * (1 - 0.25 * self._jitter())
        channel.attempt += 1
        if reason is None:
            log.debug("{queue} is empty; backing off {delay:.2f}s", queue=channel.name, delay=delay)
        else:
            log.warn("{queue}: {reason}; backing off {delay:.2f}s",
                     queue=channel.name, reason=reason, delay=delay)
        return delay

    def _free(self, count: int) -> None:
        self._busy -= count
        self._wake_slot_waiter()

    def _wake_slot_waiter(self) -> None:
        """
        Wake the longest-waiting poll loop if a slot is free; it wakes the
        next one once it has reserved its slots and some are left.  One at
        a time: waking every waiter made each finished claim cost work in
        proportion to the number of queues (a Subscriber on 1,000 idle
        queues used ~90 % of a core while backed off).
        """
        while self._busy < self.concurrency and self._slot_waiters:
            d = self._slot_waiters.pop(0)
            if not d.called:
                d.callback(None)
                return

    # -- processing -----------------------------------------------------

    def _start_work(self, channel: _Channel, claim: IClaim, messages: tuple[Any, ...]) -> None:
        work = _Work(channel, claim)
        channel.works.add(work)
        self.stats["claimed"] += len(messages)
        log.debug("claimed {count} from {queue} (claim {claim_id})",
                  count=len(messages), queue=channel.name, claim_id=claim.id)
        work.renewal = self._clock.callLater(self.claim_ttl / 2, self._renew, work)
        work.pending.update(m.id for m in messages)
        for message in messages:
            d = maybeDeferred(_call, channel.callback, message)
            if self.callback_timeout is not None:
                d.addTimeout(self.callback_timeout, self._clock)
            d.addCallbacks(
                lambda _, m=message: self._done(work, m, None),
                lambda f, m=message: self._done(work, m, f),
            )

    def _done(self, work: _Work, message: Any, failure: Failure | None) -> None:
        self._free(1)
        channel = work.channel
        if work.abandoned:
            log.info("callback for {message_id} on {queue} finished after its claim was given up",
                     message_id=message.id, queue=channel.name)
            return
        work.pending.discard(message.id)
        if failure is None:
            self.stats["processed"] += 1
            log.debug("processed {message_id} from {queue}", message_id=message.id, queue=channel.name)
            channel.acks.append((message.id, work))
            self._failures.pop(message.id, None)
        elif failure.check(NotProcessed):
            work.unprocessed.append(message.id)
        else:
            self.stats["failed"] += 1
            if failure.check(TimeoutError):
                self.stats["timed_out"] += 1
            log.failure("callback failed for {message_id} from {queue}", failure,
                        level=LogLevel.error, message_id=message.id, queue=channel.name)
            work.failed.append(message.id)
            self._failures[message.id] = self._failures.pop(message.id, 0) + 1
            if len(self._failures) > MAX_REMEMBERED_FAILURES:
                del self._failures[next(iter(self._failures))]
        if not work.pending:
            self._settle(work)
        elif failure is None:
            self._schedule_flush(channel)

    def _abandon(self, work: _Work) -> None:
        """Give up waiting for the callbacks of C{work}: their messages are released."""
        work.abandoned = True
        work.unprocessed.extend(work.pending)
        work.pending.clear()
        self._settle(work)

    def _settle(self, work: _Work) -> None:
        """Every callback of C{work} is done: delete the good, release the rest."""
        if work.settled is not None:
            return
        if work.renewal is not None and work.renewal.active():
            work.renewal.cancel()
        work.renewal = None
        work.callbacks_done.callback(None)
        work.settled = Deferred.fromCoroutine(self._finish(work))

    async def _finish(self, work: _Work) -> None:
        channel = work.channel
        if any(w is work for _, w in channel.acks):
            await self._flush(channel)
        await DeferredList([_observe(d) for d in work.flushes], consumeErrors=True)
        if work.unprocessed or any(self._failures.get(i, 0) < 2 for i in work.failed):
            await self._release(work)
        elif work.failed:
            self.stats["left_to_expire"] += len(work.failed)
            log.info("leaving claim {claim_id} on {queue} to expire: its {count} failed messages "
                     "failed before", claim_id=work.claim.id, queue=channel.name, count=len(work.failed))
        channel.works.discard(work)

    async def _release(self, work: _Work) -> None:
        count = len(work.failed) + len(work.unprocessed)
        try:
            await work.claim.release()
        except Exception:
            self.stats["release_failed"] += count
            log.failure("releasing claim {claim_id} on {queue} failed; its {count} messages "
                        "return when it expires", level=LogLevel.warn,
                        claim_id=work.claim.id, queue=work.channel.name, count=count)
            return
        self.stats["released"] += count
        log.info("released claim {claim_id} on {queue}: {count} messages back in the queue",
                 claim_id=work.claim.id, queue=work.channel.name, count=count)

    def _schedule_flush(self, channel: _Channel) -> None:
        if len(channel.acks) >= v.MAX_IDS:
            self._flush(channel)
        elif channel.ack_call is None:
            channel.ack_call = self._clock.callLater(self.ack_delay, self._flush, channel)

    def _flush(self, channel: _Channel) -> Deferred[None]:
        """Delete the messages that succeeded; never fails."""
        if channel.ack_call is not None:
            if channel.ack_call.active():
                channel.ack_call.cancel()
            channel.ack_call = None
        items, channel.acks = channel.acks, []
        if not items:
            return succeed(None)
        ids = [message_id for message_id, _ in items]
        d = maybeDeferred(channel.queue.delete_messages, ids)

        def acked(_: Any) -> None:
            self.stats["acked"] += len(ids)
            log.debug("acknowledged {count} on {queue}", count=len(ids), queue=channel.name)

        def failed(f: Failure) -> None:
            self.stats["ack_failed"] += len(ids)
            log.failure("deleting {count} processed messages from {queue} failed; they will be "
                        "delivered again", f, level=LogLevel.warn, count=len(ids), queue=channel.name)

        d.addCallbacks(acked, failed)
        for work in {w for _, w in items}:
            work.flushes.append(_observe(d))
        return d

    def _renew(self, work: _Work) -> None:
        work.renewal = None
        if not work.pending or work.abandoned:
            return
        d = maybeDeferred(work.claim.patch, ttl=self.claim_ttl, grace=self.grace)

        def renewed(claim: IClaim) -> None:
            work.claim = claim
            self.stats["renewed"] += 1
            log.info("renewed claim {claim_id} on {queue} ({count} still running)",
                     claim_id=claim.id, queue=work.channel.name, count=len(work.pending))
            self._reschedule_renewal(work, self.claim_ttl / 2)

        def failed(f: Failure) -> None:
            self.stats["renew_failed"] += 1
            log.failure("renewing claim {claim_id} on {queue} failed", f, level=LogLevel.warn,
                        claim_id=work.claim.id, queue=work.channel.name)
            if not f.check(NotFound):  # an expired claim cannot be renewed
                self._reschedule_renewal(work, self.claim_ttl / 8)

        d.addCallbacks(renewed, failed)

    def _reschedule_renewal(self, work: _Work, delay: float) -> None:
        if work.pending and not work.abandoned and work.settled is None:
            work.renewal = self._clock.callLater(delay, self._renew, work)

    # -- listen() -----------------------------------------------------------

    def _to_stream(self, message: Any) -> Deferred[None]:
        done: Deferred[None] = Deferred()
        if self._stream_closed:
            done.errback(NotProcessed())
            return done
        while self._stream_waiters:
            waiter = self._stream_waiters.popleft()
            if not waiter.called:
                waiter.callback((message, done))
                return done
        self._stream.append((message, done))
        return done

    def _next_from_stream(self) -> Deferred[Any]:
        if self._stream:
            return succeed(self._stream.popleft())
        if self._stream_closed:
            return succeed(None)
        waiter: Deferred[Any] = Deferred(lambda d: self._forget_waiter(d))
        self._stream_waiters.append(waiter)
        return waiter

    def _forget_waiter(self, waiter: Deferred[Any]) -> None:
        try:
            self._stream_waiters.remove(waiter)
        except ValueError:
            pass

    def _close_stream(self) -> None:
        self._stream_closed = True
        items, self._stream = self._stream, deque()
        for _, done in items:
            done.errback(NotProcessed())
        waiters, self._stream_waiters = self._stream_waiters, deque()
        for waiter in waiters:
            if not waiter.called:
                waiter.callback(None)


class _Listener:
    """The async iterator of L{Subscriber.listen}."""

    def __init__(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        self._current: Deferred[None] | None = None
        self._closed = False

    def __aiter__(self) -> _Listener:
        return self

    async def __anext__(self) -> Any:
        self._settle(None)
        if self._closed:
            raise StopAsyncIteration
        item = await self._subscriber._next_from_stream()
        if item is None:
            self._closed = True
            raise StopAsyncIteration
        message, self._current = item
        return message

    def _settle(self, failure: Exception | None) -> None:
        current, self._current = self._current, None
        if current is not None and not current.called:
            if failure is None:
                current.callback(None)
            else:
                current.errback(failure)

    async def aclose(self) -> None:
        """Stop iterating; a message yielded and not acknowledged is released."""
        self._closed = True
        self._settle(NotProcessed())


def _positive(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ClientValidationError(field, f"must be a positive number of seconds, not {value!r}")
    return float(value)


__all__ = ["NotProcessed", "STATS", "Subscriber"]
