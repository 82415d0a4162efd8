"""
L{SubscriberSettings}: every option of a L{txzaqar.subscriber.Subscriber},
documented and checked in one place.

The library's keywords (C{Subscriber(client, batch=...)}) build one; the
daemon builds one from its own option parsing
(L{txzaqar.daemon._subscriber_options}), with the same checks (each
field's C{CHECK}).  Every refusal is a L{ClientValidationError} naming the
field and the bound.
"""

from __future__ import annotations

import math
from typing import Any

import attr

from .._support import validation as v
from ..errors import ClientValidationError

#: C{metadata} key of a field: its check (a L{WholeNumber} or L{Seconds}).
CHECK = "txzaqar.check"


@attr.s(frozen=True, auto_attribs=True)
class WholeNumber:
    """
    An attrs validator: an C{int} (not a C{bool}) from C{low} to C{high}.
    """

    #: The field named by the error.
    name: str
    #: The smallest allowed value.
    low: int
    #: The largest allowed value.
    high: int

    def __call__(self, instance: Any, attribute: Any, value: Any) -> None:
        v.integer(self.name, value, self.low, self.high)


@attr.s(frozen=True, auto_attribs=True)
class Seconds:
    """
    An attrs validator: a positive number of seconds (C{None} too when
    C{optional}).
    """

    #: The field named by the error.
    name: str
    #: Whether C{None} is allowed too.
    optional: bool = False

    def __call__(self, instance: Any, attribute: Any, value: Any) -> None:
        if self.optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or not math.isfinite(value):
            raise ClientValidationError(self.name, f"must be a finite, positive number of seconds, not {value!r}")


@attr.s(frozen=True, auto_attribs=True)
class PerSecond:
    """An attrs validator: a finite, positive rate (per second)."""

    #: The field named by the error.
    name: str

    def __call__(self, instance: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or not math.isfinite(value):
            raise ClientValidationError(self.name, f"must be a finite, positive number per second, not {value!r}")


def _delay(instance: Any, attribute: Any, value: Any) -> None:
    """A finite number of seconds, C{0} or more (C{0}: acknowledge at once)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise ClientValidationError(
            attribute.name if attribute is not None else "delay",
            f"must be a finite number of seconds, 0 or more, not {value!r}",
        )


def _finite(instance: Any, attribute: Any, value: Any) -> None:
    """Not C{inf}: a timer is set for it."""
    if not math.isfinite(value):
        raise ClientValidationError(attribute.name, f"must be a finite number of seconds, not {value!r}")


def check_intervals(poll_interval: float, max_interval: float) -> None:
    """
    @raise ClientValidationError: C{max_interval} is below C{poll_interval}.
    """
    if max_interval < poll_interval:
        raise ClientValidationError(
            "max_interval", f"{max_interval} is below poll_interval ({poll_interval})"
        )


def _max_not_below_poll(instance: Any, attribute: Any, value: Any) -> None:
    check_intervals(instance.poll_interval, value)


def check_threads(threads: int, concurrency: int) -> None:
    """
    @raise ClientValidationError: C{threads} is above C{concurrency} (at
        most C{concurrency} callbacks run at once, so more threads would
        never be used).
    """
    if threads > concurrency:
        raise ClientValidationError(
            "threads", f"{threads} is above concurrency ({concurrency}): at most concurrency "
            "callbacks run at once"
        )


def _threads_within_concurrency(instance: Any, attribute: Any, value: Any) -> None:
    check_threads(value, instance.concurrency)


def _setting(default: Any, check: Any, *more: Any) -> Any:
    return attr.ib(default=default, validator=[check, *more], metadata={CHECK: check})


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class SubscriberSettings:
    """
    The options of a L{txzaqar.subscriber.Subscriber}, each documented
    here once and checked when the settings are made, in this order:
    C{Subscriber(client, batch=5)} builds C{SubscriberSettings(batch=5)}
    (or takes one as C{settings=}), and reads them as C{subscriber.settings}
    (C{subscriber.batch} too, read-only).  Where callbacks run, and how
    timeouts and stopping treat them, is told by the L{Subscriber}.

    @raise ClientValidationError: a value out of its bounds, C{max_interval}
        below C{poll_interval}, or C{threads} above C{concurrency}.
    """

    #: The most messages one claim asks for (1 to 20).
    batch: int = _setting(10, WholeNumber("batch", 1, v.MAX_CLAIM_OR_POP))
    #: Claim ttl in seconds (60 to 43200); claims are renewed every
    #: C{claim_ttl / 2} while their callbacks run.
    claim_ttl: int = _setting(60, WholeNumber("claim ttl", *v.CLAIM_TTL))
    #: Claim grace in seconds (60 to 43200).
    grace: int = _setting(60, WholeNumber("claim grace", *v.CLAIM_GRACE))
    #: The most callbacks running at once, over all queues; also the most
    #: messages held claimed.
    concurrency: int = _setting(10, WholeNumber("concurrency", 1, 10_000))
    #: Seconds between polls when a claim was not full, and the first backoff step.
    poll_interval: float = _setting(1.0, Seconds("poll_interval"))
    #: The longest backoff, in seconds.
    max_interval: float = _setting(30.0, Seconds("max_interval"), _max_not_below_poll)
    #: Seconds after which a callback counts as timed out (on the reactor
    #: thread its Deferred is cancelled; in a thread, see the
    #: L{txzaqar.subscriber.Subscriber}), or C{None} for no limit.
    callback_timeout: float | None = _setting(None, Seconds("callback_timeout", optional=True))
    #: How long stopping (and C{unsubscribe}) waits for callbacks in flight
    #: before releasing their messages, in seconds.
    stop_timeout: float = _setting(30.0, Seconds("stop_timeout"))
    #: The longest a successful message waits to be deleted together with
    #: others, in seconds (0: at once).
    ack_delay: float = attr.ib(default=1.0, validator=_delay)
    #: Whether stopping closes the client.  The client belongs to whoever
    #: made it: by default (C{False}) the Subscriber never closes it, and
    #: can be stopped and started again.  C{True} when the client was made
    #: for this Subscriber alone (the daemon's is); such a Subscriber
    #: cannot start again once stopped.
    close_client: bool = False
    #: The most claim requests in flight at once for one queue while it has
    #: a backlog (1 to 20); the extra ones only start after a full claim,
    #: and only with free slots for a whole batch, so prefetch stays
    #: bounded by C{concurrency} (default 1: one claim at a time).
    claims_in_flight: int = _setting(1, WholeNumber("claims_in_flight", 1, 20))
    #: How many threads run plain callbacks (0 to C{concurrency}; default 0:
    #: plain callbacks run on the reactor thread).  C{concurrency} still
    #: bounds how many messages are claimed; with fewer threads, the other
    #: callbacks wait for one.
    threads: int = _setting(0, WholeNumber("threads", 0, 10_000), _threads_within_concurrency)
    #: Seconds a plain callback may hold the reactor thread before the
    #: (one) warning naming C{threads}; C{None}: never.
    blocking_warning: float | None = _setting(0.1, Seconds("blocking_warning", optional=True))
    #: Seconds between polls of an idle queue while push notifications for
    #: it flow (the safety net for a lost notification).
    safety_interval: float = _setting(300.0, Seconds("safety_interval"), _finite)
    #: The most safety polls per second over all queues, on average: with
    #: more than C{safety_interval * safety_rate} queues, each queue's
    #: safety interval grows to C{queues / safety_rate} seconds, so that
    #: idle requests stay bounded however many queues there are (default
    #: 4: up to 1,200 queues keep the 300 s).
    safety_rate: float = _setting(4.0, PerSecond("safety_rate"))
    #: Seconds between listings of the project's queues while there are
    #: pattern subscriptions (L{Subscriber.psubscribe}): a queue created
    #: later is consumed within this long.
    discovery_interval: float = _setting(30.0, Seconds("discovery_interval"), _finite)

    def __attrs_post_init__(self) -> None:
        # Checked as given, so that an error quotes the caller's value;
        # kept as floats.
        for name in ("poll_interval", "max_interval", "callback_timeout", "stop_timeout", "ack_delay",
                     "blocking_warning", "safety_interval", "safety_rate", "discovery_interval"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))


#: The names of the options (the fields of L{SubscriberSettings}), in order.
OPTION_NAMES = tuple(field.name for field in attr.fields(SubscriberSettings))


#: The check of C{max_claim_count}.
MAX_CLAIM_COUNT = WholeNumber("max_claim_count", 1, v.MAX_INT64)


def dead_lettering(dead_letter_queue: str | None, max_claim_count: int | None) -> dict[str, Any] | None:
    """
    The queue settings of C{subscribe(..., dead_letter_queue=,
    max_claim_count=)}, or C{None} without them.

    @raise ClientValidationError: one without the other, a bad queue name
        or count.
    """
    if dead_letter_queue is None and max_claim_count is None:
        return None
    if dead_letter_queue is None or max_claim_count is None:
        raise ClientValidationError(
            "dead_letter_queue",
            "give dead_letter_queue and max_claim_count together "
            "(the server ignores one without the other)",
        )
    v.queue_name(dead_letter_queue)
    MAX_CLAIM_COUNT(None, None, max_claim_count)
    return {"max_claim_count": max_claim_count, "dead_letter_queue": dead_letter_queue}
