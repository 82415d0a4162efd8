"""
Acknowledgements traced through a L{FaultProxy}'s log.

Every delivery a scenario's handler sees is a L{Delivery}.  Its
I{acknowledgement} is every DELETE that named its message (one by id,
C{/messages/ID}, or in bulk, C{/messages?ids=A,B}) from the delivery until
the message's next delivery: the first attempt and the library's retries
(L{Acknowledgement}).  From it L{AckTrace.explain} says why a message was
delivered again, and L{AckTrace.outcomes} what became of every
acknowledgement of a run; a scenario fails on the reasons and outcomes in
L{FAILING_REASONS} and L{FAILING_OUTCOMES}.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

import attr

from txzaqar.testing.faults import ProxiedRequest, request_identity

#: The claim ttl of the scenarios' Subscribers (Zaqar's minimum).
CLAIM_TTL = 60
#: Seconds a redelivery may come before C{CLAIM_TTL} has passed since the
#: first delivery and still be the claim's expiry (the claim was made
#: before its messages reached the handler: a slow answer, a trickle).
EXPIRY_SLACK = 5.0
#: The attempts the library makes at one request before giving up: the
#: first and C{Connection}'s 2 retries.
ATTEMPTS = 3

# What became of one acknowledgement:
#: Zaqar answered one of its attempts with a 2xx: the message is deleted.
ACKED = "acknowledged"
#: Each of its attempts (all the library makes) was faulted by the proxy.
LOST_AFTER_RETRIES = "lost after its retries"
#: No attempt was answered 2xx, and the library made fewer than it should.
LOST_BEFORE_RETRIES = "lost before its retries ran out"
#: Every attempt made, none 2xx, but one failed without a fault (Zaqar's own error).
FAILED_UNFAULTED = "failed without a fault"
#: No DELETE named the message.
NOT_SENT = "never sent"

#: What a scenario's failure calls acknowledgements L{LOST_BEFORE_RETRIES}
#: (the line C{--break} must make the suite print).
LOST_WITH_RETRIES_LEFT = "acknowledgements lost before their retries ran out"

#: Outcomes that fail a scenario: the README's "no acknowledgement was lost
#: before its retries ran out", and every processed message acknowledged.
FAILING_OUTCOMES = (LOST_BEFORE_RETRIES, NOT_SENT)

# Why a message was delivered again:
#: Its acknowledgement was lost after its retries (and its claim expired or was released).
ACK_LOST = "ack lost"
#: No acknowledgement was sent and its claim was released.
CLAIM_RELEASED = "claim released"
#: No acknowledgement was sent and its claim's ttl had passed.
CLAIM_EXPIRED = "claim expired"
#: Redelivered under the claim it was delivered with (a violation).
SAME_CLAIM = "same claim"
#: Its acknowledgement was lost with retries left.
ACK_NOT_RETRIED = "ack not retried"
#: Anything else: e.g. an acknowledgement Zaqar answered 2xx, or a redelivery too soon.
UNEXPLAINED = "unexplained"

#: Reasons that fail a scenario.
FAILING_REASONS = (SAME_CLAIM, ACK_NOT_RETRIED, UNEXPLAINED)


@attr.s(frozen=True, auto_attribs=True)
class Delivery:
    """One call of a scenario's handler."""

    #: what the scenario calls the message (stable from run to run).
    key: tuple[str, int]
    #: Zaqar's message id.
    id: str
    #: the claim it came with.
    claim_id: str | None
    #: when the handler saw it (the reactor's C{seconds()}, as the proxy's log).
    at: float

    @property
    def name(self) -> str:
        """C{QUEUE/I}: the key as text."""
        return f"{self.key[0]}/{self.key[1]}"


def deleted_ids(method: str, path: str) -> list[str]:
    """
    The message ids a request deletes: C{DELETE .../messages/ID} (one) or
    C{DELETE .../messages?ids=A,B} (bulk); C{[]} for any other request.
    """
    if method != "DELETE":
        return []
    parts = urlsplit(path)
    segments = parts.path.rstrip("/").split("/")
    if len(segments) >= 2 and segments[-2] == "messages":
        return [unquote(segments[-1])]
    if segments[-1] == "messages":
        return [i for value in parse_qs(parts.query).get("ids", []) for i in value.split(",") if i]
    return []


def released_claim(method: str, path: str) -> str | None:
    """The claim id a C{DELETE .../claims/ID} releases, else C{None}."""
    segments = urlsplit(path).path.rstrip("/").split("/")
    if method == "DELETE" and len(segments) >= 2 and segments[-2] == "claims":
        return unquote(segments[-1])
    return None


def succeeded(entry: ProxiedRequest) -> bool:
    """Whether Zaqar answered the request with a 2xx (whatever the proxy did to the answer)."""
    return entry.upstream_status is not None and 200 <= entry.upstream_status < 300


def stable_identity(names: Mapping[str, str]) -> Callable[[str, str, bytes], str]:
    """
    A L{FaultSchedule} C{identify} that names the messages a DELETE
    acknowledges by I{names} (message id to the scenario's name for it,
    the same in every run) instead of Zaqar's ids (new in every run), so
    that a seed faults the same acknowledgements in every run; other
    requests as L{request_identity}.
    """

    def identify(method: str, path: str, body: bytes) -> str:
        ids = deleted_ids(method, path)
        if not ids:
            return request_identity(method, path, body)
        queue = urlsplit(path).path.rstrip("/").split("/messages")[0]
        return f"{method} {queue} acknowledging {','.join(sorted(names.get(i, i) for i in ids))}"

    return identify


@attr.s(frozen=True, auto_attribs=True)
class Acknowledgement:
    """The DELETE attempts that named one delivered message before its next delivery."""

    attempts: tuple[ProxiedRequest, ...]
    #: how many attempts the library makes before giving up.
    expected: int = ATTEMPTS

    @property
    def outcome(self) -> str:
        """L{ACKED}, L{LOST_AFTER_RETRIES}, L{LOST_BEFORE_RETRIES}, L{FAILED_UNFAULTED} or L{NOT_SENT}."""
        if not self.attempts:
            return NOT_SENT
        if any(succeeded(e) for e in self.attempts):
            return ACKED
        if len(self.attempts) < self.expected:
            return LOST_BEFORE_RETRIES
        if all(e.fault is not None for e in self.attempts):
            return LOST_AFTER_RETRIES
        return FAILED_UNFAULTED

    def describe(self) -> str:
        """E.g. C{1 attempt: refused} or C{3 attempts: refused, unavailable, 503}."""
        what = [e.fault or (str(e.upstream_status) if e.upstream_status else "no answer") for e in self.attempts]
        return f"{len(what)} attempt{'' if len(what) == 1 else 's'}: {', '.join(what) or 'none'}"


class AckTrace:
    """
    The acknowledgement attempts and claim releases in a proxy's log, by
    message and claim id.

    @param log: the proxy's L{ProxiedRequest}s (all of them: a log cut by
        C{log_limit} makes attempts look missing).
    @param attempts: how many attempts the library makes at a DELETE.
    @param claim_ttl: the Subscribers' claim ttl.
    """

    def __init__(self, log: Iterable[ProxiedRequest], attempts: int = ATTEMPTS,
                 claim_ttl: float = CLAIM_TTL) -> None:
        self.attempts = attempts
        self.claim_ttl = claim_ttl
        self._by_id: dict[str, list[ProxiedRequest]] = defaultdict(list)
        self._released: dict[str, float] = {}  # claim id -> when Zaqar first released it
        for entry in log:
            for message_id in deleted_ids(entry.method, entry.path):
                self._by_id[message_id].append(entry)
            claim = released_claim(entry.method, entry.path)
            if claim is not None and succeeded(entry):
                self._released[claim] = min(entry.received, self._released.get(claim, math.inf))

    def acknowledgement(self, delivery: Delivery, until: float = math.inf) -> Acknowledgement:
        """The DELETEs naming I{delivery}'s message from its delivery until I{until}."""
        attempts = tuple(e for e in self._by_id.get(delivery.id, ()) if delivery.at <= e.received < until)
        return Acknowledgement(attempts, self.attempts)

    def explain(self, first: Delivery, again: Delivery) -> str:
        """
        Why I{again} delivered I{first}'s message again: L{ACK_LOST} (every
        attempt of its acknowledgement faulted, then its claim expired or
        was released), L{CLAIM_RELEASED} or L{CLAIM_EXPIRED} (no
        acknowledgement was sent), or, failing the scenario, L{SAME_CLAIM},
        L{ACK_NOT_RETRIED} or L{UNEXPLAINED}.
        """
        if first.claim_id is not None and first.claim_id == again.claim_id:
            return SAME_CLAIM
        outcome = self.acknowledgement(first, again.at).outcome
        if outcome == LOST_BEFORE_RETRIES:
            return ACK_NOT_RETRIED
        if outcome not in (LOST_AFTER_RETRIES, NOT_SENT):
            return UNEXPLAINED  # Zaqar deleted it, or failed to without a fault
        released = first.claim_id is not None and self._released.get(first.claim_id, math.inf) < again.at
        expired = again.at - first.at >= self.claim_ttl - EXPIRY_SLACK
        if outcome == LOST_AFTER_RETRIES:
            return ACK_LOST if released or expired else UNEXPLAINED
        if released:
            return CLAIM_RELEASED
        return CLAIM_EXPIRED if expired else UNEXPLAINED

    def redeliveries(self, deliveries: Iterable[Delivery]) -> Counter[str]:
        """The reason (L{explain}) of every delivery after a message's first, counted."""
        last: dict[tuple[str, int], Delivery] = {}
        reasons: Counter[str] = Counter()
        for d in sorted(deliveries, key=lambda d: d.at):
            if d.key in last:
                reasons[self.explain(last[d.key], d)] += 1
            last[d.key] = d
        return reasons

    def outcomes(self, deliveries: Iterable[Delivery], settled_before: float = math.inf,
                 ) -> list[tuple[Delivery, Acknowledgement]]:
        """
        Every delivery made before I{settled_before} with its
        acknowledgement (its attempts until the message's next delivery).
        """
        ordered = sorted(deliveries, key=lambda d: d.at)
        following: dict[int, float] = {}
        after: dict[tuple[str, int], float] = {}
        for index in range(len(ordered) - 1, -1, -1):
            following[index] = after.get(ordered[index].key, math.inf)
            after[ordered[index].key] = ordered[index].at
        return [(d, self.acknowledgement(d, following[i])) for i, d in enumerate(ordered) if d.at < settled_before]
