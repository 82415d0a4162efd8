"""
Differential property tests (issue 12): each input Hypothesis generates
for the scenarios of L{txzaqar.test.unit.test_properties} goes to the
in-memory Zaqar and to a real Zaqar 23.0.1, and the two outcomes are
compared.  Either the client refuses the input (and sends nothing) on
both, or both servers accept it; where they differ, the difference is a
named quirk of L{QUIRKS} or the test fails.  A documented-valid input
refused on both is a failure too, and the documented-valid scenarios
(L{RealValidInputTests}) must be accepted and read back equal on both.

Hypothesis runs in a thread (its examples are synchronous); each example
drives the reactor with C{blockingCallFromThread}.  The number of examples
is bounded (L{EXAMPLES} per scenario) and derandomized, so the run is the
same every time and stays well under a minute.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from typing import Any

from hypothesis import given, settings
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import blockingCallFromThread, deferToThread
from twisted.trial.unittest import TestCase

import txzaqar
from txzaqar.test.helpers.profiles import PROFILE
from txzaqar.test.helpers.properties import (
    ACCEPTED,
    SCENARIOS,
    VALID_SCENARIOS,
    over_refused,
    run_on_memory,
)
from txzaqar.testing import RecordingAgent, servers


def blocking(f: Any, *args: Any) -> str:
    """From Hypothesis' thread: call C{f(*args)} on the reactor thread and wait for its Deferred."""
    the_reactor: Any = reactor
    return str(blockingCallFromThread(the_reactor, f, *args))


#: examples per scenario against the real server ($TXZAQAR_PROPERTY_EXAMPLES for more)
EXAMPLES = int(os.environ.get("TXZAQAR_PROPERTY_EXAMPLES", "40"))

#: documented-valid examples per scenario against the real server
#: ($TXZAQAR_VALID_EXAMPLES for more): each must be accepted and read back equal
VALID_EXAMPLES = int(os.environ.get("TXZAQAR_VALID_EXAMPLES", "10"))

#: (scenario, outcome on the fake, outcome on the real server) -> the
#: quirk that explains the difference
QUIRKS: dict[tuple[str, str, str], str] = {}


class RealPropertyTests(TestCase):
    """Every scenario, on the fake and on a real Zaqar, compared."""

    timeout = 300

    def setUp(self) -> None:
        try:
            server = servers.shared_zaqar()
        except servers.HarnessError as e:
            self.fail(f"could not start Zaqar: {e}")
        self.client = txzaqar.connect(server.url, project_id=f"props-{uuid.uuid4().hex}")
        self.recorder = RecordingAgent(self.client.connection.agent)
        self.client.connection.agent = self.recorder
        self.addCleanup(self.client.close)

    def check(self, kind: str) -> Deferred[None]:
        scenario, strategy = SCENARIOS[kind]
        counts: Counter[str] = Counter()
        differences: list[str] = []

        def on_real(value: Any) -> Deferred[str]:
            return Deferred.fromCoroutine(scenario(self.client, self.recorder, value))

        @settings(max_examples=EXAMPLES, derandomize=PROFILE in ("ci", "small"))
        @given(strategy)
        def example(value: Any) -> None:
            memory = blocking(lambda: succeed(run_on_memory(scenario, value)))
            real = blocking(on_real, value)
            counts["generated"] += 1
            if memory == real:
                counts["refused" if real == "refused" else "accepted" if real in ACCEPTED else real] += 1
                self.assertIn(real, ACCEPTED | {"refused"}, f"{kind}: {value!r:.200} -> {real} on both")
                self.assertFalse(over_refused(kind, value, real), f"{kind}: {value!r:.200} is valid, and refused")
                return
            quirk = QUIRKS.get((kind, memory, real))
            if quirk is None:
                differences.append(f"{value!r:.120}: fake {memory}, real {real}")
                raise AssertionError(f"{kind}: {value!r:.200}: the fake answers {memory}, the real server {real}")
            counts[f"differed ({quirk})"] += 1

        def report(_: None) -> None:
            print(f"{kind} (real): {counts['generated']} generated, {counts['refused']} refused client-side, "
                  f"{counts['accepted']} accepted, "
                  f"{sum(n for k, n in counts.items() if k.startswith('differed'))} differed (named quirk); "
                  f"{dict(counts)}")

        return deferToThread(example).addCallback(report)

    def test_queue_names(self) -> Deferred[None]:
        return self.check("queue names")

    def test_bodies(self) -> Deferred[None]:
        return self.check("bodies")

    def test_ttls_and_delays(self) -> Deferred[None]:
        return self.check("ttls and delays")

    def test_claims(self) -> Deferred[None]:
        return self.check("claims")

    def test_limits(self) -> Deferred[None]:
        return self.check("limits")

    def test_reserved_metadata(self) -> Deferred[None]:
        return self.check("reserved metadata")

    def test_ids(self) -> Deferred[None]:
        return self.check("ids")



class RealValidInputTests(TestCase):
    """
    Inputs Zaqar's API reference allows, on the fake and on a real Zaqar:
    the client must send each, and each server must store it and give it
    back equal (a refusal, an error or a change is a failure, or a named
    quirk of L{QUIRKS}).
    """

    timeout = 120

    def setUp(self) -> None:
        try:
            server = servers.shared_zaqar()
        except servers.HarnessError as e:
            self.fail(f"could not start Zaqar: {e}")
        self.client = txzaqar.connect(server.url, project_id=f"valid-{uuid.uuid4().hex}")
        self.recorder = RecordingAgent(self.client.connection.agent)
        self.client.connection.agent = self.recorder
        self.addCleanup(self.client.close)

    def check(self, kind: str) -> Deferred[None]:
        scenario, strategy = VALID_SCENARIOS[kind]
        counts: Counter[str] = Counter()

        def on_real(value: Any) -> Deferred[str]:
            return Deferred.fromCoroutine(scenario(self.client, self.recorder, value))

        @settings(max_examples=VALID_EXAMPLES, derandomize=PROFILE in ("ci", "small"))
        @given(strategy)
        def example(value: Any) -> None:
            memory = blocking(lambda: succeed(run_on_memory(scenario, value)))
            real = blocking(on_real, value)
            counts[real] += 1
            if memory == real == "ok":
                return
            quirk = QUIRKS.get((kind, memory, real))
            if quirk is None:
                raise AssertionError(f"{kind}: {value!r:.200}: valid, but the fake answers {memory}, "
                                     f"the real server {real}")
            counts[f"differed ({quirk})"] += 1

        def report(_: None) -> None:
            print(f"{kind} (real): {sum(counts.values())} generated; {dict(counts)}")

        return deferToThread(example).addCallback(report)

    def test_queue_names(self) -> Deferred[None]:
        return self.check("valid queue names")

    def test_bodies(self) -> Deferred[None]:
        return self.check("valid bodies")

    def test_large_bodies(self) -> Deferred[None]:
        return self.check("valid large bodies")

    def test_ttls_and_delays(self) -> Deferred[None]:
        return self.check("valid ttls and delays")

    def test_claims(self) -> Deferred[None]:
        return self.check("valid claims")

    def test_metadata(self) -> Deferred[None]:
        return self.check("valid metadata")
