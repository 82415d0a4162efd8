"""
The timer: how often each subscribed queue is claimed from.

Each subscribed queue has its own L{LoopingCall} on the injected clock,
which asks for one claim at a time and picks the delay before the next
one from how the claim went:

 - a claim that came back full: claim again at once, and (while there
   are free slots for a whole batch) start one more claim alongside, up
   to C{claims_in_flight} claims at once per queue: a backlog is drained
   with several requests in flight, an idle queue costs one poll loop;
 - a claim that came back partly full: claim again after C{poll_interval};
 - an empty claim, or an error (server down, 5xx, timeout): back off,
   C{poll_interval * 2**n} with jitter, at most C{max_interval};
 - an empty claim while push notifications for the queue flow
   (L{QueuePoller.push_up}): wait C{safety_interval} (with jitter), the
   safety net for a lost notification;
 - no free slot: wait until a callback finishes.

An operator sees one warning when a queue starts failing (what failed,
the next delay), each retry after it at debug, and one info line when it
recovers (after how long, how many failed polls).  Refused credentials
or permissions (L{txzaqar.errors.refused}), a refused TLS certificate and
a queue that is gone are logged at error, with what to do, whenever such a
reason is new.

No error escapes a poll, so the loop never dies.  A L{ZaqarError} (a
server down, a name that does not resolve, a timeout: what a network
does) is logged in one line as above; only an exception that is not one
(a bug) is logged with its traceback.

The timer is one source of wake-ups; L{QueuePoller.wake} is the seam for
the others (push notifications): it says "claim from this queue now", and
many wake-ups while a claim is in flight cause one more claim.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine
from typing import Any

import attr
from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater

from .._support.backoff import Backoff, shortened
from ..errors import CertificateVerificationFailed, Forbidden, NotFound, ZaqarError, refused
from .events import log
from .settings import SubscriberSettings
from .settlement import observe
from .slots import Slots


class Outcome(enum.Enum):
    """How one claim went (other than failing: see L{Failed})."""

    #: A full batch: there may be more, so claim again at once.
    FULL = "as many messages as asked for"
    #: Some messages, fewer than the batch: wait C{poll_interval}.
    PARTIAL = "fewer messages than asked for"
    #: Nothing to claim: back off (unless woken meanwhile).
    EMPTY = "no message"
    #: No slot was free, so no claim was made: wait for one.
    NO_SLOT = "nothing asked: no slot was free"
    #: Messages were claimed, but polling stopped while the claim was in flight.
    STOPPED = "messages, but polling stopped while the claim was in flight"


@attr.s(frozen=True, auto_attribs=True)
class Failed:
    """A claim (or configuring the queue before it) failed, for C{reason}."""

    #: Why, in one secret-free line (for the log and readiness).
    reason: str
    #: The error, if there was one.
    error: BaseException | None = None


#: What claims once from a queue: a coroutine function giving how it went.
ClaimOnce = Callable[[], Coroutine[Any, Any, "Outcome | Failed"]]


class QueuePoller:
    """
    The poll loop of one queue: when to claim from it.

    @param name: the queue name (for log events).
    @param claim: claims once from the queue.
    @param slots: the subscriber's slots (waited on when none is free).
    @param jitter: returns a float in [0, 1) that shortens a backoff by
        up to a quarter.
    @param safety_interval: returns the safety interval now (the
        subscriber's, grown with the number of queues); default: the
        settings' C{safety_interval}.
    """

    def __init__(self, name: str, claim: ClaimOnce, slots: Slots, settings: SubscriberSettings,
                 clock: IReactorTime, jitter: Callable[[], float],
                 safety_interval: Callable[[], float] | None = None) -> None:
        #: The queue's name.
        self.name = name
        self._claim = claim
        self._slots = slots
        self._settings = settings
        self._clock = clock
        self._jitter = jitter
        self._safety_interval = safety_interval or (lambda: settings.safety_interval)
        #: whether the queue is being polled (claims in flight check it when they answer)
        self.active = False
        self._loop: LoopingCall | None = None
        self._loop_done: Deferred[Any] | None = None
        self._sleep: Deferred[Any] | None = None
        self._wakeable = False  # the sleep is a delay that wake() cuts short
        self._attempt = 0
        self._failing_since: float | None = None  # when the current run of failures began
        self._failed_polls = 0
        self._failure_kind: str | None = None  # the error class last logged above debug
        self._full = False  # the last claim came back full (read and reset by the poller)
        self._woken = False  # woken since the last claim started
        #: Set (by the queue's push state) when a claim a notification caused came back empty.
        self.recheck_soon = False
        self._bursting = 0  # extra claims in flight (see _burst)
        self._bursts: set[Deferred[None]] = set()
        #: the delay in seconds before the next claim that errors caused: set by a failed
        #: poll, 0.0 once a poll succeeds (for metrics: non-zero only while polls fail)
        self.backoff_delay = 0.0
        #: the delay in seconds before the next claim after the last successful poll: the
        #: idle backoff after empty claims (C{poll_interval} up to C{max_interval}), the
        #: safety interval while push is up, C{poll_interval} after a partial claim, 0.0
        #: after a full one, and 0.0 while polls fail (for metrics)
        self.idle_delay = 0.0
        self._push_up = False
        self._spread = False  # the next safety wait is the first since push came up
        #: the next claim follows a safety wait that ran out (no wake-up came)
        self.safety_poll = False
        self._safety_wait = False  # the current sleep is a safety wait

    @property
    def push_up(self) -> bool:
        """Push notifications for this queue flow: an idle queue waits the safety interval."""
        return self._push_up

    @push_up.setter
    def push_up(self, up: bool) -> None:
        """Set by the queue's push state; coming up makes the next safety wait the spread one."""
        if up and not self._push_up:
            self._spread = True
        self._push_up = up

    def start(self) -> None:
        """Start polling: the first claim is sent at once."""
        self.active = True
        self._attempt = 0
        loop = LoopingCall(self._iterate)
        loop.clock = self._clock
        self._loop = loop
        self._loop_done = loop.start(0, now=True)
        self._loop_done.addErrback(
            lambda f: log.failure("poll loop of {queue} died", f, queue=self.name)
        )

    async def stop(self) -> None:
        """Stop polling; return once the claims in flight have answered."""
        self.active = False
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._sleep is not None:
            self._sleep.cancel()
        self._slots.wake_next()  # in case this loop had been woken and will not poll now
        if self._loop_done is not None:
            await observe(self._loop_done)  # a claim request in flight
        if self._bursts:
            await DeferredList([observe(d) for d in list(self._bursts)], consumeErrors=True)

    def wake(self) -> bool:
        """
        Claim from this queue now: a delay after an empty or partial claim
        is cut short, and during a claim one more claim follows it at once
        (however many wake-ups came).  A backoff after errors, and a wait
        for a free slot, go on.

        @return: whether this wake-up makes a claim come sooner (C{False}
            when it was coalesced with an earlier one, or changes nothing).
        """
        if not self.active:
            return False
        if self._sleep is not None and self._wakeable:
            self._woken = True
            self._sleep.cancel()
            return True
        sooner = self._sleep is None and not self._woken  # a claim is in flight
        self._woken = True
        return sooner

    def _iterate(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._poll())

    async def _poll(self) -> None:
        try:
            delay, wakeable = await self._poll_once()
            if self._full:
                self._full = False
                self._burst()
        except ZaqarError as e:  # expected (the network, the server): one line, no traceback
            delay, wakeable = self._failed(Failed(f"polling failed: {e}", e)), False
        except Exception:
            log.failure("unexpected error polling {queue}", queue=self.name)
            delay, wakeable = self._backoff("an unexpected error"), False
        if delay and self.active:
            safety, self._safety_wait = self._safety_wait, False
            self._sleep = deferLater(self._clock, delay, lambda: None)
            self._wakeable = wakeable
            self.safety_poll = await self._wait() and safety

    async def _wait(self) -> bool:
        """Wait for the current sleep; C{True} when it ran out, C{False} when cut short."""
        try:
            await self._sleep  # type: ignore[misc]
            return True
        except CancelledError:
            return False
        finally:
            self._sleep = None
            self._wakeable = False

    async def _poll_once(self) -> tuple[float, bool]:
        """
        One claim; returns the delay before the next one, and whether a
        wake-up may cut that delay short.
        """
        if not self.active:
            return 0, True
        self._woken = False
        outcome = await self._claim()
        if outcome is Outcome.NO_SLOT:
            self._sleep = self._slots.wait()
            await self._wait()
            return 0, True
        if isinstance(outcome, Failed):
            return self._failed(outcome), False
        self._recovered()
        self.idle_delay = delay = self._succeeded(outcome)
        return delay, True

    def _succeeded(self, outcome: Outcome) -> float:
        """The delay before the next claim after a claim that answered (C{outcome})."""
        if outcome is Outcome.EMPTY:
            recheck, self.recheck_soon = self.recheck_soon, False
            # woken while the claim was in flight: the messages may have come since
            if self._woken:
                return 0
            if self.push_up and recheck:
                # Zaqar notifies before it stores: its notifier is a stage of the
                # message pipeline ahead of storage, and sends webhooks from a thread
                # pool, so the claim a notification causes can come back empty while
                # the message is being stored.  Look once more soon, not in a safety
                # interval.
                log.debug("{queue}: notified but empty; claiming once more in {delay:.2f}s",
                          queue=self.name, delay=self._settings.poll_interval)
                return self._settings.poll_interval
            return self._safety_delay() if self.push_up else self._backoff(None)
        self._attempt = 0
        if outcome is Outcome.STOPPED:
            return 0
        self._full = outcome is Outcome.FULL
        return 0 if self._full or self._woken else self._settings.poll_interval

    def _burst(self) -> None:
        """
        After a full claim: one more claim alongside the poll loop, while
        fewer than C{claims_in_flight} are in flight for this queue and a
        whole batch of slots is free.  It claims once and, if that came
        back full too, hands over to a successor; it never backs off (the
        poll loop alone polls an idle queue).
        """
        settings = self._settings
        if not (self.active and self._bursting + 1 < settings.claims_in_flight
                and self._slots.free >= settings.batch):
            return
        self._bursting += 1
        d = Deferred.fromCoroutine(self._burst_once())
        if not d.called:
            self._bursts.add(d)
            d.addBoth(lambda _: self._bursts.discard(d))

    async def _burst_once(self) -> None:
        try:
            await self._poll_once()
        except ZaqarError as e:  # the poll loop backs off on its own next failure
            log.debug("{queue}: extra claim failed: {reason}", queue=self.name, reason=str(e))
        except Exception:
            log.failure("unexpected error polling {queue}", queue=self.name)
        finally:
            self._bursting -= 1
        if self._full:
            self._full = False
            self._burst()

    def _next_delay(self) -> float:
        settings = self._settings
        policy = Backoff(settings.poll_interval, settings.max_interval, jitter=shortened(self._jitter))
        delay = policy(self._attempt)
        self._attempt += 1
        return delay

    def _safety_delay(self) -> float:
        """
        The wait of an idle queue while push is up, shortened by up to a
        quarter; the first one since push came up by up to all of it, since
        many queues whose push came up together would otherwise make their
        safety polls together, and then in bursts.
        """
        self._attempt = 0
        self._safety_wait = True
        spread, self._spread = self._spread, False
        delay = shortened(self._jitter, by=1.0 if spread else SAFETY_JITTER)(self._safety_interval())
        log.debug("{queue} is empty; push is up, next safety poll in {delay:.1f}s",
                  queue=self.name, delay=delay)
        return delay

    def _backoff(self, reason: str | None) -> float:
        """The delay after an empty claim (C{reason} C{None}) or an unexpected error."""
        if reason is not None:
            return self._failed(Failed(reason))
        delay = self._next_delay()
        log.debug("{queue} is empty; backing off {delay:.2f}s", queue=self.name, delay=delay)
        return delay

    def _failed(self, failure: Failed) -> float:
        """Log a failed poll (see the module docstring) and give the delay before the next."""
        delay = self._next_delay()
        self.backoff_delay, self.idle_delay = delay, 0.0
        error = failure.error
        kind = type(error).__name__ if error is not None else failure.reason
        permanent = error is not None and (refused(error) or isinstance(error, (NotFound, CertificateVerificationFailed)))
        first = self._failing_since is None
        if first:
            self._failing_since = self._clock.seconds()
            self._failed_polls = 0
        self._failed_polls += 1
        fields = dict(queue=self.name, reason=failure.reason, delay=delay, failed_polls=self._failed_polls)
        if permanent and kind != self._failure_kind:
            log.error("{queue}: {reason}; backing off {delay:.2f}s. {advice}",
                      advice=_advice(error), **fields)
        elif first:
            log.warn("{queue}: {reason}; backing off {delay:.2f}s (retries are logged at debug "
                     "until it recovers)", **fields)
        else:
            log.debug("{queue}: {reason}; backing off {delay:.2f}s (failed poll {failed_polls})", **fields)
        self._failure_kind = kind
        return delay

    def _recovered(self) -> None:
        """A claim answered: no error backoff; if polls had been failing, say it is over."""
        self.backoff_delay = 0.0
        if self._failing_since is None:
            return
        log.info("{queue}: recovered after {duration:.1f}s and {failed_polls} failed polls",
                 queue=self.name, duration=self._clock.seconds() - self._failing_since,
                 failed_polls=self._failed_polls)
        self._failing_since = None
        self._failed_polls = 0
        self._failure_kind = None


#: The most a safety wait after the first is shortened by (a share of it; on average by half that).
SAFETY_JITTER = 0.25


def _advice(error: BaseException | None) -> str:
    if isinstance(error, CertificateVerificationFailed):
        return "Zaqar's TLS certificate is refused: check the URL's host, and give its CA as cacert."
    if isinstance(error, NotFound):
        return "The queue (or its dead-letter queue) is gone: create it, or unsubscribe."
    if isinstance(error, Forbidden):
        return "Access is refused: check the user's roles on this project and queue."
    return "The credentials are refused: check the user, the password and the project."
