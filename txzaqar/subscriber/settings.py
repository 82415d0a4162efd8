"""
L{SubscriberSettings}: every option of a L{txzaqar.subscriber.Subscriber},
checked in one place.

The same checks serve the library (C{Subscriber(batch=...)} builds a
L{SubscriberSettings}) and the daemon (C{twistd zaqar-listen} builds one
with L{SubscriberSettings.from_command_line}).  Every refusal is a
L{ClientValidationError} naming the field and the bound; from the command
line its C{description} is the one line the daemon prints, naming the
option (C{--batch must be from 1 to 20, not 0}).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import attr

from .._support import validation as v
from ..errors import ClientValidationError

#: C{metadata} key of a field: the C{zaqar-listen} option that sets it.
OPTION = "txzaqar.option"
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

    def parse(self, option: str, text: Any) -> int:
        """
        The value of C{--option text}, checked.

        @raise ClientValidationError: with the daemon's line for it.
        """
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise ClientValidationError(
                f"--{option}", f"--{option} must be a whole number from {self.low} to {self.high}, not {text!r}"
            ) from None
        try:
            self(None, None, value)
        except ClientValidationError:
            raise ClientValidationError(
                f"--{option}", f"--{option} must be from {self.low} to {self.high}, not {value}"
            ) from None
        return value


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

    def parse(self, option: str, text: Any) -> float | None:
        """
        The value of C{--option text}, checked; on the command line a
        number of seconds is also finite (C{inf} is refused).

        @raise ClientValidationError: with the daemon's line for it.
        """
        if self.optional and text is None:
            return None
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise ClientValidationError(
                f"--{option}", f"--{option} must be a number of seconds, not {text!r}"
            ) from None
        try:
            self(None, None, value)
            if math.isinf(value):
                raise ClientValidationError(self.name, "must be finite")
        except ClientValidationError:
            raise ClientValidationError(
                f"--{option}", f"--{option} must be a positive number of seconds, not {text}"
            ) from None
        return value


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


def _setting(default: Any, check: Any, option: str | None = None, *more: Any) -> Any:
    return attr.ib(default=default, validator=[check, *more], metadata={OPTION: option, CHECK: check})


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class SubscriberSettings:
    """
    The options of a L{txzaqar.subscriber.Subscriber} (see it for what
    each one does), checked when it is made, in this order.

    @raise ClientValidationError: a value out of its bounds, or
        C{max_interval} below C{poll_interval}.
    """

    #: The most messages one claim asks for.
    batch: int = _setting(10, WholeNumber("batch", 1, v.MAX_CLAIM_OR_POP), "batch")
    #: Claim ttl, in seconds.
    claim_ttl: int = _setting(60, WholeNumber("claim ttl", *v.CLAIM_TTL), "claim-ttl")
    #: Claim grace, in seconds.
    grace: int = _setting(60, WholeNumber("claim grace", *v.CLAIM_GRACE), "grace")
    #: The most callbacks running at once, over all queues.
    concurrency: int = _setting(10, WholeNumber("concurrency", 1, 10_000), "concurrency")
    #: Seconds between polls when a claim was not full, and the first backoff step.
    poll_interval: float = _setting(1.0, Seconds("poll_interval"), "poll-interval")
    #: The longest backoff, in seconds.
    max_interval: float = _setting(30.0, Seconds("max_interval"), "max-interval", _max_not_below_poll)
    #: Seconds after which a callback counts as failed, or C{None} for no limit.
    callback_timeout: float | None = _setting(
        None, Seconds("callback_timeout", optional=True), "callback-timeout"
    )
    #: How long stopping waits for callbacks in flight, in seconds.
    stop_timeout: float = _setting(30.0, Seconds("stop_timeout"), "stop-timeout")
    #: The longest a successful message waits to be deleted together with others, in seconds.
    ack_delay: float = attr.ib(default=1.0, validator=_delay)
    #: Whether stopping closes the client (only for a client made for the
    #: Subscriber alone: the daemon's, see L{from_command_line}).
    close_client: bool = False
    #: The most claim requests in flight at once for one queue with a backlog.
    claims_in_flight: int = _setting(1, WholeNumber("claims_in_flight", 1, 20))
    #: How many threads run plain callbacks (0: the reactor thread).
    threads: int = _setting(0, WholeNumber("threads", 0, 10_000), "threads", _threads_within_concurrency)
    #: Seconds a plain callback may hold the reactor thread before the warning, or C{None}.
    blocking_warning: float | None = _setting(0.1, Seconds("blocking_warning", optional=True))
    #: Seconds between polls of an idle queue while push notifications for it flow.
    safety_interval: float = _setting(300.0, Seconds("safety_interval"), "safety-interval", _finite)

    def __attrs_post_init__(self) -> None:
        # Checked as given, so that an error quotes the caller's value;
        # kept as floats.
        for name in ("poll_interval", "max_interval", "callback_timeout", "stop_timeout", "ack_delay",
                     "blocking_warning", "safety_interval"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    @classmethod
    def from_command_line(cls, options: Mapping[str, Any]) -> SubscriberSettings:
        """
        Settings from the options of C{zaqar-listen} (C{options["batch"]},
        C{options["claim-ttl"]}, ..., as text or numbers), checked in the
        order of the fields; the others keep their defaults, except
        C{close_client}, which is C{True}: the daemon makes its client for
        its Subscriber alone.

        @raise ClientValidationError: C{field} is the option (C{--batch})
            and C{description} the daemon's one line about it.
        """
        values: dict[str, Any] = {}
        for field in attr.fields(cls):
            option = field.metadata.get(OPTION)
            if option is None:
                continue
            values[field.name] = field.metadata[CHECK].parse(option, options[option])
            if field.name == "max_interval":
                try:
                    _max_not_below_poll(SimpleNamespace(**values), field, values["max_interval"])
                except ClientValidationError:
                    raise ClientValidationError(
                        "--max-interval",
                        f"--max-interval ({values['max_interval']:g}) must not be below "
                        f"--poll-interval ({values['poll_interval']:g})",
                    ) from None
            if field.name == "threads":
                try:
                    check_threads(values["threads"], values["concurrency"])
                except ClientValidationError:
                    raise ClientValidationError(
                        "--threads",
                        f"--threads ({values['threads']}) must not be above --concurrency "
                        f"({values['concurrency']}): at most --concurrency handlers run at once",
                    ) from None
        return cls(**values, close_client=True)

    def command_line(self) -> dict[str, Any]:
        """The values of the fields that C{zaqar-listen} options set, by option name."""
        return {
            field.metadata[OPTION]: getattr(self, field.name)
            for field in attr.fields(type(self))
            if field.metadata.get(OPTION) is not None
        }


def _option(name: str) -> Any:
    return property(lambda self: getattr(self.settings, name), doc=f"C{{settings.{name}}}")


class SettingsAttributes:
    """
    The options of a L{txzaqar.subscriber.Subscriber}, as read-only
    attributes of it: each is the same field of its C{settings} (a
    L{SubscriberSettings}).
    """

    #: The L{SubscriberSettings}.
    settings: SubscriberSettings

    #: The most messages one claim asks for.
    batch = _option("batch")
    #: Claim ttl, in seconds.
    claim_ttl = _option("claim_ttl")
    #: Claim grace, in seconds.
    grace = _option("grace")
    #: The most callbacks running at once, over all queues.
    concurrency = _option("concurrency")
    #: Seconds between polls when a claim was not full, and the first backoff step.
    poll_interval = _option("poll_interval")
    #: The longest backoff, in seconds.
    max_interval = _option("max_interval")
    #: Seconds after which a callback counts as failed, or C{None} for no limit.
    callback_timeout = _option("callback_timeout")
    #: How long L{stopService} waits for callbacks in flight, in seconds.
    stop_timeout = _option("stop_timeout")
    #: The longest a successful message waits to be deleted together with others, in seconds.
    ack_delay = _option("ack_delay")
    #: Whether L{stopService} closes the client.
    close_client = _option("close_client")
    #: The most claim requests in flight at once for one queue with a backlog.
    claims_in_flight = _option("claims_in_flight")
    #: How many threads run plain callbacks (0: the reactor thread).
    threads = _option("threads")
    #: Seconds a plain callback may hold the reactor thread before the warning, or C{None}.
    blocking_warning = _option("blocking_warning")
    #: Seconds between polls of an idle queue while push notifications for it flow.
    safety_interval = _option("safety_interval")


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


def dead_lettering_from_command_line(dead_letter_queue: str | None, max_claim_count: Any) -> int | None:
    """
    Check C{--dead-letter-queue} and C{--max-claim-count}.

    @return: the count as an C{int} (C{None} without them).
    @raise ClientValidationError: C{description} is the daemon's one line.
    """
    if (dead_letter_queue is None) != (max_claim_count is None):
        raise ClientValidationError(
            "--dead-letter-queue", "give --dead-letter-queue and --max-claim-count together"
        )
    if dead_letter_queue is None:
        return None
    try:
        v.queue_name(dead_letter_queue)
    except ClientValidationError as e:
        raise ClientValidationError(
            "--dead-letter-queue", f"--dead-letter-queue: {e.description}"
        ) from None
    return MAX_CLAIM_COUNT.parse("max-claim-count", max_claim_count)
