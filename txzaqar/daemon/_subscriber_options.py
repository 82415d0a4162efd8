"""
The Subscriber's options of C{twistd zaqar-listen}: their rows of the
command line, and the L{SubscriberSettings} the daemon builds from them.

The checks are the settings' own (each field's
L{txzaqar.subscriber.settings.CHECK}); what is the daemon's is the text:
a number given as text, and a refusal as the one line the daemon prints,
naming the option (C{--batch must be from 1 to 20, not 0}).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attr

from .._support import validation as v
from ..errors import ClientValidationError
from ..subscriber.settings import (
    CHECK,
    MAX_CLAIM_COUNT,
    PerSecond,
    Seconds,
    SubscriberSettings,
    WholeNumber,
    check_intervals,
    check_threads,
)

#: The options that set a field of L{SubscriberSettings} (the field is the
#: option's name with C{_} for C{-}); the others keep their defaults.
SETTINGS_OPTIONS = frozenset({
    "batch", "claim-ttl", "grace", "concurrency", "poll-interval", "max-interval", "callback-timeout",
    "stop-timeout", "threads", "safety-interval", "safety-rate", "discovery-interval",
})

#: The Subscriber's options (but C{--safety-interval} and C{--safety-rate}, push options), as
#: C{usage.Options.optParameters} rows.
SUBSCRIBER_PARAMETERS = [
    ["batch", "b", "10", "the most messages one claim asks for (1-20)"],
    ["claim-ttl", None, "60", "claim ttl in seconds (60-43200); renewed at half"],
    ["grace", None, "60", "claim grace in seconds (60-43200)"],
    ["concurrency", "c", "10", "the most handlers running at once"],
    ["threads", None, None, "threads running plain (blocking) handlers; 0 runs them on the "
                            "reactor thread, where they must not block [default: 10, or "
                            "--concurrency if lower]"],
    ["poll-interval", None, "1", "seconds between polls, and the first backoff step"],
    ["max-interval", None, "30", "the longest backoff in seconds while idle or failing: an "
                                 "idle queue is polled only this often (see --push)"],
    ["callback-timeout", None, None, "seconds after which a handler counts as timed out (one "
                                     "warning): an async handler is cancelled and its message "
                                     "released; a handler in a thread cannot be stopped: its "
                                     "message stays claimed until it returns, then is deleted "
                                     "if it succeeded, else released [default: none, no limit]"],
    ["stop-timeout", None, "30", "seconds to wait for running handlers when stopping"],
    ["discovery-interval", None, "30", "with --queue-pattern, seconds between two listings of the "
                                       "project's queues: a queue created later is consumed within "
                                       "this long"],
    ["dead-letter-queue", None, None, "move messages claimed --max-claim-count times here; "
                                      "sets the queue's metadata, so it applies to every "
                                      "consumer of the queue [default: none]"],
    ["max-claim-count", None, None, "claims before a message is dead-lettered (with "
                                    "--dead-letter-queue) [default: none]"],
]


def whole_number(check: WholeNumber, option: str, text: Any) -> int:
    """
    The value of C{--option text}, checked by C{check}.

    @raise ClientValidationError: with the daemon's line for it.
    """
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ClientValidationError(
            f"--{option}", f"--{option} must be a whole number from {check.low} to {check.high}, not {text!r}"
        ) from None
    try:
        check(None, None, value)
    except ClientValidationError:
        raise ClientValidationError(
            f"--{option}", f"--{option} must be from {check.low} to {check.high}, not {value}"
        ) from None
    return value


def seconds(check: Seconds, option: str, text: Any) -> float | None:
    """
    The value of C{--option text}, checked by C{check}; on the command
    line a number of seconds is also finite (C{inf} is refused).

    @raise ClientValidationError: with the daemon's line for it.
    """
    if check.optional and text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ClientValidationError(
            f"--{option}", f"--{option} must be a number of seconds, not {text!r}"
        ) from None
    try:
        check(None, None, value)
        if math.isinf(value):
            raise ClientValidationError(check.name, "must be finite")
    except ClientValidationError:
        raise ClientValidationError(
            f"--{option}", f"--{option} must be a positive number of seconds, not {text}"
        ) from None
    return value


def per_second(check: PerSecond, option: str, text: Any) -> float:
    """
    The value of C{--option text}, checked by C{check}.

    @raise ClientValidationError: with the daemon's line for it.
    """
    try:
        value = float(text)
        check(None, None, value)
    except (TypeError, ValueError, ClientValidationError):
        raise ClientValidationError(
            f"--{option}", f"--{option} must be a finite, positive number per second, not {text!r}"
        ) from None
    return value


def _parse(check: Any, option: str, text: Any) -> Any:
    if isinstance(check, WholeNumber):
        return whole_number(check, option, text)
    if isinstance(check, PerSecond):
        return per_second(check, option, text)
    return seconds(check, option, text)


def settings_from_command_line(options: Mapping[str, Any]) -> SubscriberSettings:
    """
    Settings from the options of C{zaqar-listen} (C{options["batch"]},
    C{options["claim-ttl"]}, ..., as text or numbers; see
    L{SETTINGS_OPTIONS}), checked in the order of the fields; the others
    keep their defaults, except C{close_client}, which is C{True}: the
    daemon makes its client for its Subscriber alone.

    @raise ClientValidationError: C{field} is the option (C{--batch})
        and C{description} the daemon's one line about it.
    """
    values: dict[str, Any] = {}
    for field in attr.fields(SubscriberSettings):
        option = field.name.replace("_", "-")
        if option not in SETTINGS_OPTIONS:
            continue
        values[field.name] = _parse(field.metadata[CHECK], option, options[option])
        if field.name == "max_interval":
            try:
                check_intervals(values["poll_interval"], values["max_interval"])
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
    return SubscriberSettings(**values, close_client=True)


def command_line(settings: SubscriberSettings) -> dict[str, Any]:
    """The values of the fields of C{settings} that C{zaqar-listen} options set, by option name."""
    return {
        field.name.replace("_", "-"): getattr(settings, field.name)
        for field in attr.fields(SubscriberSettings)
        if field.name.replace("_", "-") in SETTINGS_OPTIONS
    }


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
    return whole_number(MAX_CLAIM_COUNT, "max-claim-count", max_claim_count)
