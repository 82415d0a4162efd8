"""
Readiness: whether a L{Subscriber} is doing its job, as
L{Subscriber.health} tells it (and C{/readyz} and the sd_notify watchdog
read it).

The rule (L{Readiness.assess}).  A subscriber is ready when it runs (and
is not stopping), its last authentication did not fail, and every
subscribed queue is I{fresh}:

 - a successful poll (a claim that answered, empty or not) of the queue
   ended less than C{max_interval + HEALTH_SLACK} seconds ago: a healthy
   queue is polled at least every C{max_interval} (the longest backoff);
   while push notifications for the queue flow, its idle polls come every
   C{safety_interval}, and the bound is the longer of the two;
 - while a claim of the queue is in flight, that bound grows by the
   request timeout (a slow answer is not yet a failure);
 - a queue with no claim in flight while no slot is free (the
   C{concurrency} slots are busy with callbacks, or reserved by claims of
   other queues) waits for a slot: it does not poll, by design, and
   counts as fresh;
 - a queue that has not had a successful poll since it was subscribed is
   not fresh: before the first poll the subscriber is not ready.

The last authentication failed when the last claim failed with
L{AuthenticationFailed} (credentials refused; its subclass
L{IdentityUnavailable}: Keystone unreachable) or L{Unauthorized} (a 401
even after re-authenticating); any successful claim clears it.

The reasons name queues and error classes only: no message body, no
server text, no secret.
"""

from __future__ import annotations

import attr
from twisted.internet.interfaces import IReactorTime

from ..errors import AuthenticationFailed, Unauthorized

#: Seconds added to a queue's expected poll interval before it counts as
#: stale: room for jitter, retries of a request and a busy reactor.
HEALTH_SLACK = 10.0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Health:
    """
    Whether a subscriber is ready, and if not, why.
    """

    #: C{True} when every rule of L{txzaqar.subscriber.readiness} holds.
    ready: bool
    #: One line per rule broken (empty when ready).
    reasons: tuple[str, ...] = ()


def describe_error(error: BaseException) -> str:
    """A short, secret-free name of C{error}: its class, and its HTTP status if it has one."""
    code = getattr(error, "code", None)
    name = type(error).__name__
    return f"{name} ({code})" if isinstance(code, int) else name


class _QueuePolls:
    """The polls of one queue, as far as readiness cares."""

    def __init__(self) -> None:
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.claim_started: float | None = None


class Readiness:
    """
    The record of polls of a subscriber's queues, and the rule that reads it.

    @param clock: the subscriber's clock.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._queues: dict[str, _QueuePolls] = {}
        self._auth_error: str | None = None

    def _polls(self, queue: str) -> _QueuePolls:
        polls = self._queues.get(queue)
        if polls is None:
            polls = self._queues[queue] = _QueuePolls()
        return polls

    def forget(self, queue: str) -> None:
        """C{queue} is no longer subscribed: forget its polls."""
        self._queues.pop(queue, None)

    def last_successes(self) -> dict[str, float | None]:
        """C{{queue: when}}: the clock's time of each queue's last successful poll (C{None}: none yet)."""
        return {queue: polls.last_success for queue, polls in self._queues.items()}

    def claim_started(self, queue: str) -> None:
        """A claim request for C{queue} is being sent."""
        self._polls(queue).claim_started = self._clock.seconds()

    def poll_succeeded(self, queue: str) -> None:
        """A claim for C{queue} answered (empty or not)."""
        polls = self._polls(queue)
        polls.last_success = self._clock.seconds()
        polls.last_error = polls.claim_started = None
        self._auth_error = None

    def poll_failed(self, queue: str, error: BaseException) -> None:
        """A claim for C{queue} (or configuring the queue first) failed with C{error}."""
        polls = self._polls(queue)
        polls.last_error = describe_error(error)
        polls.claim_started = None
        if isinstance(error, (AuthenticationFailed, Unauthorized)):
            self._auth_error = polls.last_error

    def assess(self, queues: list[str], running: bool, slots_free: int | dict[str, int],
               max_interval: float, request_timeout: float,
               intervals: dict[str, float] | None = None) -> Health:
        """
        L{Health} by the rule of this module.

        @param queues: the subscribed queue names.
        @param running: whether the subscriber runs and is not stopping.
        @param slots_free: how many callback slots are free now, or
            C{{queue: free}} (queues with slots of their own).
        @param max_interval: the subscriber's longest backoff.
        @param request_timeout: the connection's timeout for one request.
        @param intervals: C{{queue: seconds}}: queues polled less often
            than every C{max_interval} (push is up: the safety interval).
        """
        if not running:
            return Health(False, ("the subscriber is not running",))
        reasons = []
        if self._auth_error is not None:
            reasons.append(f"authentication failed: {self._auth_error}")
        now = self._clock.seconds()
        for queue in sorted(queues):
            polls = self._polls(queue)
            error = f" (last error: {polls.last_error})" if polls.last_error else ""
            if polls.last_success is None:
                reasons.append(f"{queue}: no successful poll yet{error}")
                continue
            bound = max(max_interval, (intervals or {}).get(queue, 0.0)) + HEALTH_SLACK
            if polls.claim_started is not None:
                bound += request_timeout
            elif (slots_free.get(queue, 0) if isinstance(slots_free, dict) else slots_free) <= 0:
                continue  # waiting for a slot, not polling: busy, not stale
            age = now - polls.last_success
            if age > bound:
                reasons.append(f"{queue}: no successful poll for {age:.0f}s (expected within "
                               f"{bound:.0f}s){error}")
        return Health(not reasons, tuple(reasons))
