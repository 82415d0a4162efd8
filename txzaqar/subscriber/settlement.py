"""
Settling claims: what becomes of a claim's messages once their callbacks
are done.

Messages that succeeded are deleted in bulk (C{queue.delete_messages}),
when a claim's last callback finishes, when 20 are waiting, or
C{ack_delay} seconds after the first one finished, whichever comes first.
While callbacks of a claim still run at half the claim ttl, the claim is
renewed (and again every half ttl).  A Zaqar claim can only be released
whole, so when every message of a claim is done and some of them failed,
the successful ones are deleted first and then the claim is released.  A
message that fails again is not hurried back: when every failed message
of a claim already failed before (and nothing else is left), the claim is
left to expire (L{FailureMemory} tells repeat failures).

A callback past C{callback_timeout} whose thread still runs stays pending
(its thread cannot be interrupted): its claim is renewed as long as the
thread runs, so its message is never handed out again meanwhile; when the
thread returns, it is settled as L{QueueSettlement.finished} says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.defer import (
    Deferred,
    DeferredList,
    maybeDeferred,
    succeed,
)
from twisted.internet.interfaces import IReactorTime
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from .._support import validation as v
from ..errors import NotFound
from ..interfaces import IClaim, IQueue
from .events import CALLBACK_TIMEOUT_WARNING, CallbackTimedOut, NotProcessed, log
from .settings import SubscriberSettings

#: How many failed message ids are remembered (to tell repeat failures).
MAX_REMEMBERED_FAILURES = 10_000


def observe(d: Deferred[Any]) -> Deferred[None]:
    """A new Deferred that fires with C{None} when C{d} fires, however it fires."""
    observer: Deferred[None] = Deferred()

    def fire(result: Any) -> Any:
        observer.callback(None)
        return result

    d.addBoth(fire)
    return observer


class FailureMemory:
    """
    How often each recently failed message failed, over every queue of a
    subscriber; the oldest is forgotten past L{MAX_REMEMBERED_FAILURES}.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def succeeded(self, message_id: str) -> None:
        """Forget C{message_id}: its callback succeeded."""
        self._counts.pop(message_id, None)

    def failed(self, message_id: str) -> None:
        """
        Count one more failure of C{message_id} (forgetting the oldest beyond L{MAX_REMEMBERED_FAILURES}).
        """
        self._counts[message_id] = self._counts.pop(message_id, 0) + 1
        if len(self._counts) > MAX_REMEMBERED_FAILURES:
            del self._counts[next(iter(self._counts))]

    def failed_before(self, message_id: str) -> bool:
        """Whether C{message_id} failed more than once."""
        return self._counts.get(message_id, 0) >= 2


class ClaimWork:
    """The messages of one claim while they are being processed."""

    def __init__(self, settlement: QueueSettlement, claim: IClaim) -> None:
        #: The L{QueueSettlement} of the claim's queue.
        self.settlement = settlement
        #: The claim.
        self.claim = claim
        #: Ids of the messages whose callback has not finished.
        self.pending: set[str] = set()
        #: Ids of the messages whose callback failed (released at settlement).
        self.failed: list[str] = []
        #: Ids of the messages not processed (released at settlement).
        self.unprocessed: list[str] = []
        #: Deferreds of the batched deletes that include this claim's messages.
        self.flushes: list[Deferred[None]] = []
        #: The pending C{callLater} that renews the claim, or C{None}.
        self.renewal: Any = None
        #: fires with C{None} once every callback of the claim is done (or given up)
        self.callbacks_done: Deferred[None] = Deferred()
        #: fires with C{None} once the claim is settled (deleted, released or left)
        self.settled: Deferred[None] | None = None
        #: Whether its callbacks were given up (on stop): late results are only logged.
        self.abandoned = False


class QueueSettlement:
    """
    The claims of one queue in progress: their renewals, the batch of
    messages waiting to be deleted, and what to do with each claim once
    its callbacks are done.

    @param stats: the queue's counters (an L{events.QueueCounts}, which adds
        to the subscriber's as well), updated here.
    @param failures: the subscriber's L{FailureMemory}.
    @param returned: called with C{delay} when messages become claimable
        again in C{delay} seconds without being posted (0: their claim was
        released; else it was left to expire), so that a queue woken only
        by post notifications claims them.
    """

    def __init__(self, queue: IQueue, clock: IReactorTime, settings: SubscriberSettings,
                 stats: Counter[str], failures: FailureMemory,
                 returned: Callable[[float], None] = lambda delay: None) -> None:
        #: The queue.
        self.queue = queue
        #: The queue's name.
        self.name: str = queue.name
        self._clock = clock
        self._settings = settings
        self._stats = stats
        self._failures = failures
        self._returned = returned
        #: The claims in progress.
        self.works: set[ClaimWork] = set()
        self._acks: list[tuple[str, ClaimWork]] = []
        self._ack_call: Any = None

    def begin(self, claim: IClaim, messages: Iterable[Any]) -> ClaimWork:
        """Track the C{messages} of C{claim}, whose callbacks start now; renew it at half its ttl."""
        work = ClaimWork(self, claim)
        self.works.add(work)
        ids = [m.id for m in messages]
        self._stats["claimed"] += len(ids)
        log.debug("claimed {count} from {queue} (claim {claim_id})",
                  count=len(ids), queue=self.name, claim_id=claim.id)
        work.renewal = self._clock.callLater(self._settings.claim_ttl / 2, self._renew, work)
        work.pending.update(ids)
        return work

    def release_unstarted(self, claim: IClaim, messages: Iterable[Any]) -> Deferred[None]:
        """
        Give back a claim that came back after polling stopped; none of its
        callbacks ran.  A Deferred firing with C{None}; it never fails.
        """
        work = ClaimWork(self, claim)
        work.unprocessed = [m.id for m in messages]
        self._stats["claimed"] += len(work.unprocessed)
        return Deferred.fromCoroutine(self._release(work))

    def finished(self, work: ClaimWork, message: Any, failure: Failure | None) -> None:
        """
        The callback of C{message} finished: with C{failure}, or
        successfully when it is C{None}.

        A L{CallbackTimedOut} failure (the callback ran past
        C{callback_timeout}) counts as C{timed_out} and is logged as one
        warning (L{CALLBACK_TIMEOUT_WARNING}, no traceback); its message
        then goes back to the queue, except when its thread returned late
        with a success: it is deleted, as any success is.  Delivery is at
        least once, and the handler's work is done: releasing it would
        only make sure it runs again, and a handler that always takes
        longer than the timeout would then never be done with it.  The
        timeout of a callback in a thread therefore marks it as late (and
        counts it), but cannot undo it.
        """
        if work.abandoned:
            log.info("callback for {message_id} on {queue} finished after its claim was given up",
                     message_id=message.id, queue=self.name)
            return
        work.pending.discard(message.id)
        timed_out = failure.value if failure is not None and failure.check(CallbackTimedOut) else None
        if isinstance(timed_out, CallbackTimedOut):
            self._stats["timed_out"] += 1
            log.warn(CALLBACK_TIMEOUT_WARNING, message_id=message.id, queue=self.name,
                     timeout=timed_out.timeout, seconds=timed_out.seconds, how=timed_out.how.value,
                     what=timed_out.describe())
            if timed_out.succeeded_late:
                failure = None
        if failure is None:
            self._stats["processed"] += 1
            log.debug("processed {message_id} from {queue}", message_id=message.id, queue=self.name)
            self._acks.append((message.id, work))
            self._failures.succeeded(message.id)
        elif failure.check(NotProcessed):
            work.unprocessed.append(message.id)
        else:
            self._stats["failed"] += 1
            if timed_out is None:
                log.failure("callback failed for {message_id} from {queue}", failure,
                            level=LogLevel.error, message_id=message.id, queue=self.name)
            work.failed.append(message.id)
            self._failures.failed(message.id)
        if not work.pending:
            self._settle(work)
        elif failure is None:
            self._schedule_flush()

    async def drain(self, stop_timeout: float) -> None:
        """
        Wait up to C{stop_timeout} seconds for the callbacks in flight,
        give up on the rest (their messages are released), delete what
        succeeded and wait until every claim is settled.
        """
        works = list(self.works)
        running = [observe(w.callbacks_done) for w in works if not w.callbacks_done.called]
        if running:
            log.info("waiting for {count} claims in flight on {queue}",
                     count=len(running), queue=self.name)
            gave_up: list[float] = []

            def give_up(result: Any, timeout: float) -> Any:
                # a cancelled DeferredList fires with its (failed) results, never
                # with an error (consumeErrors): the timeout is seen only here
                gave_up.append(timeout)
                return result

            wait = DeferredList(running, consumeErrors=True)
            wait.addTimeout(stop_timeout, self._clock, onTimeoutCancel=give_up)
            await wait
            if gave_up:
                log.warn("gave up waiting for callbacks on {queue} after {timeout}s",
                         queue=self.name, timeout=stop_timeout)
        for work in works:
            if not work.callbacks_done.called:
                self._abandon(work)
        settling = [observe(w.settled) for w in works if w.settled is not None]
        await self.flush()
        await DeferredList(settling, consumeErrors=True)

    def _abandon(self, work: ClaimWork) -> None:
        """Give up waiting for the callbacks of C{work}: their messages are released."""
        work.abandoned = True
        work.unprocessed.extend(work.pending)
        work.pending.clear()
        self._settle(work)

    def _settle(self, work: ClaimWork) -> None:
        """Every callback of C{work} is done: delete the good, release the rest."""
        if work.settled is not None:
            return
        if work.renewal is not None and work.renewal.active():
            work.renewal.cancel()
        work.renewal = None
        work.callbacks_done.callback(None)
        work.settled = Deferred.fromCoroutine(self._finish(work))

    async def _finish(self, work: ClaimWork) -> None:
        if any(w is work for _, w in self._acks):
            await self.flush()
        await DeferredList([observe(d) for d in work.flushes], consumeErrors=True)
        if work.unprocessed or not all(self._failures.failed_before(i) for i in work.failed):
            await self._release(work)
        elif work.failed:
            self._stats["left_to_expire"] += len(work.failed)
            # renewed at most claim_ttl ago: expired by then
            self._returned(self._settings.claim_ttl + 1.0)
            log.info("leaving claim {claim_id} on {queue} to expire: its {count} failed messages "
                     "failed before", claim_id=work.claim.id, queue=self.name, count=len(work.failed))
        self.works.discard(work)

    async def _release(self, work: ClaimWork) -> None:
        count = len(work.failed) + len(work.unprocessed)
        try:
            await work.claim.release()
        except Exception:
            self._stats["release_failed"] += count
            log.failure("releasing claim {claim_id} on {queue} failed; its {count} messages "
                        "return when it expires", level=LogLevel.warn,
                        claim_id=work.claim.id, queue=self.name, count=count)
            return
        self._stats["released"] += count
        self._returned(0.0)
        log.info("released claim {claim_id} on {queue}: {count} messages back in the queue",
                 claim_id=work.claim.id, queue=self.name, count=count)

    # -- acknowledgements -------------------------------------------------

    def _schedule_flush(self) -> None:
        if len(self._acks) >= v.MAX_IDS:
            self.flush()
        elif self._ack_call is None:
            self._ack_call = self._clock.callLater(self._settings.ack_delay, self.flush)

    def flush(self) -> Deferred[None]:
        """Delete the messages that succeeded; a Deferred that never fails."""
        if self._ack_call is not None:
            if self._ack_call.active():
                self._ack_call.cancel()
            self._ack_call = None
        items, self._acks = self._acks, []
        if not items:
            return succeed(None)
        ids = [message_id for message_id, _ in items]
        d = maybeDeferred(self.queue.delete_messages, ids)

        def acked(_: Any) -> None:
            self._stats["acked"] += len(ids)
            log.debug("acknowledged {count} on {queue}", count=len(ids), queue=self.name)

        def failed(f: Failure) -> None:
            self._stats["ack_failed"] += len(ids)
            log.failure("deleting {count} processed messages from {queue} failed; they will be "
                        "delivered again", f, level=LogLevel.warn, count=len(ids), queue=self.name)

        d.addCallbacks(acked, failed)
        for work in {w for _, w in items}:
            work.flushes.append(observe(d))
        return d

    # -- renewal ----------------------------------------------------------

    def _renew(self, work: ClaimWork) -> None:
        work.renewal = None
        if not work.pending or work.abandoned:
            return
        ttl, grace = self._settings.claim_ttl, self._settings.grace
        d = maybeDeferred(work.claim.patch, ttl=ttl, grace=grace)

        def renewed(claim: IClaim) -> None:
            work.claim = claim
            self._stats["renewed"] += 1
            log.info("renewed claim {claim_id} on {queue} ({count} still running)",
                     claim_id=claim.id, queue=self.name, count=len(work.pending))
            self._reschedule_renewal(work, ttl / 2)

        def failed(f: Failure) -> None:
            self._stats["renew_failed"] += 1
            log.failure("renewing claim {claim_id} on {queue} failed", f, level=LogLevel.warn,
                        claim_id=work.claim.id, queue=self.name)
            if not f.check(NotFound):  # an expired claim cannot be renewed
                self._reschedule_renewal(work, ttl / 8)

        d.addCallbacks(renewed, failed)

    def _reschedule_renewal(self, work: ClaimWork, delay: float) -> None:
        if work.pending and not work.abandoned and work.settled is None:
            work.renewal = self._clock.callLater(delay, self._renew, work)
