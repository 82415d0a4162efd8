"""
Property-based tests (Hypothesis) of the public API on the in-memory Zaqar
(issue 12): for every generated queue name, body, ttl, delay, claim ttl,
grace, limit, reserved metadata value and id, the client either raises
L{ClientValidationError} and sends nothing, or the server accepts it; and
an input the API reference allows (L{DOCUMENTED}) must not be refused.
For inputs generated from the documented rules only (L{VALID_SCENARIOS}:
queue names C{[A-Za-z0-9_-]{1,64}}, any JSON body without lone surrogates
up to the post size, ttls, delays, claims and metadata in range) the
client must send them and the server store them: read back equal, or the
test fails.

The scenarios (L{txzaqar.test.helpers.properties}) are shared with
L{txzaqar.test.integration.test_properties_real}, which runs each input
against the fake and a real Zaqar and compares the two.

The Hypothesis profile (L{txzaqar.test.helpers.profiles}) is C{ci}
(derandomized, so every run generates the same inputs);
C{TXZAQAR_HYPOTHESIS_PROFILE=small} runs a tenth of them (the other
Pythons' unit runs), C{=dev} draws new ones each run and C{=thorough}
draws many more.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from twisted.trial.unittest import SynchronousTestCase

from txzaqar._support import validation as v
from txzaqar.errors import ClientValidationError
from txzaqar.test.helpers.properties import (
    ACCEPTED,
    COUNTS,
    SCENARIOS,
    VALID_SCENARIOS,
    over_refused,
    queue_name_scenario,
    run_on_memory,
    valid_queue_name_scenario,
)


def summary(kind: str, counts: Counter[str]) -> str:
    total = sum(counts.values())
    refused = counts["refused"]
    accepted = sum(n for k, n in counts.items() if k in ACCEPTED)
    return (f"{kind}: {total} generated, {refused} refused client-side, {accepted} accepted, "
            f"{total - refused - accepted} other ({dict(counts)})")


class MemoryPropertyTests(SynchronousTestCase):
    """Every scenario on the in-memory Zaqar."""

    def check(self, kind: str) -> None:
        scenario, strategy = SCENARIOS[kind]
        counts: Counter[str] = Counter()

        @given(strategy)
        def example(value: Any) -> None:
            result = run_on_memory(scenario, value)
            counts[result] += 1
            self.assertIn(result, ACCEPTED | {"refused"}, f"{kind}: {value!r:.200} -> {result}")
            self.assertFalse(over_refused(kind, value, result), f"{kind}: {value!r:.200} is valid, and refused")

        example()
        COUNTS.update({f"{kind} {k}": n for k, n in counts.items()})
        print(summary(kind, counts))
        self.assertTrue(counts["refused"] and sum(counts[k] for k in ACCEPTED), counts)

    def test_queue_names(self) -> None:
        self.check("queue names")

    def test_bodies(self) -> None:
        self.check("bodies")

    def test_ttls_and_delays(self) -> None:
        self.check("ttls and delays")

    def test_claims(self) -> None:
        self.check("claims")

    def test_limits(self) -> None:
        self.check("limits")

    def test_reserved_metadata(self) -> None:
        self.check("reserved metadata")

    def test_ids(self) -> None:
        self.check("ids")


class MemoryValidInputTests(SynchronousTestCase):
    """
    Every documented-valid input on the in-memory Zaqar: accepted, stored
    and read back equal (a refusal is a failure too).
    """

    def check(self, kind: str) -> None:
        scenario, strategy = VALID_SCENARIOS[kind]
        counts: Counter[str] = Counter()

        @given(strategy)
        def example(value: Any) -> None:
            result = run_on_memory(scenario, value)
            counts[result] += 1
            self.assertEqual(result, "ok", f"{kind}: {value!r:.200}")

        example()
        COUNTS.update({f"{kind} {k}": n for k, n in counts.items()})
        print(summary(kind, counts))

    def test_queue_names(self) -> None:
        self.check("valid queue names")

    def test_bodies(self) -> None:
        self.check("valid bodies")

    def test_large_bodies(self) -> None:
        """Up to the post size as sent: non-ASCII text is sent as UTF-8, not six-byte escapes."""
        self.check("valid large bodies")

    def test_ttls_and_delays(self) -> None:
        self.check("valid ttls and delays")

    def test_claims(self) -> None:
        self.check("valid claims")

    def test_metadata(self) -> None:
        self.check("valid metadata")

    def test_over_refusal_is_caught(self) -> None:
        """A client that refuses one valid input fails the check (what the scenarios above miss)."""
        original = v.queue_name

        def refuses_dashes(value: Any) -> Any:
            if isinstance(value, str) and "-" in value:
                raise ClientValidationError("queue name", "no dashes (a deliberately wrong rule)")
            return original(value)

        self.patch(v, "queue_name", refuses_dashes)
        self.assertEqual(run_on_memory(valid_queue_name_scenario, "a-b"), "refused")
        self.assertEqual(run_on_memory(queue_name_scenario, "a-b"), "refused")
        self.assertTrue(over_refused("queue names", "a-b", "refused"))
        self.assertRaises(self.failureException, self.check, "valid queue names")
