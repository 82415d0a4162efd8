"""
The reliability suite's bookkeeping, server-free: how acknowledgements are
traced through synthetic proxy logs and a redelivery explained, the waits
that end, the regression C{--break} plants and how its run is judged, and
the table the suite prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IAgent
from zope.interface import implementer

from txzaqar import errors
from txzaqar.auth import NoAuth
from txzaqar.http.connection import Connection
from txzaqar.test import readme
from txzaqar.test.reliability.breakage import remove_acknowledgement_retries
from txzaqar.test.reliability.broken import judge
from txzaqar.test.reliability.stack import Report, Waits, WaitTimedOut
from txzaqar.test.reliability.tracing import (
    ACK_LOST,
    ACK_NOT_RETRIED,
    ACKED,
    CLAIM_EXPIRED,
    CLAIM_RELEASED,
    CLAIM_TTL,
    FAILED_UNFAULTED,
    LOST_AFTER_RETRIES,
    LOST_BEFORE_RETRIES,
    LOST_WITH_RETRIES_LEFT,
    NOT_SENT,
    SAME_CLAIM,
    UNEXPLAINED,
    AckTrace,
    Delivery,
    deleted_ids,
    released_claim,
    stable_identity,
)
from txzaqar.testing.faults import FaultSchedule, ProxiedRequest

FIRST = Delivery(("q", 1), "m1", "c1", 10.0)
#: A redelivery after the claim ttl (under another claim).
LATE = Delivery(("q", 1), "m1", "c2", 10.0 + CLAIM_TTL)
#: A redelivery well before the claim ttl.
SOON = Delivery(("q", 1), "m1", "c2", 20.0)
BULK = "/v2/queues/q/messages?ids=m0,m1,m2"


def delete(at: float, fault: str | None, status: int | None, path: str = BULK) -> ProxiedRequest:
    """A DELETE in a proxy's log: received at I{at}, with I{fault}, answered I{status} by Zaqar."""
    return ProxiedRequest(int(at * 10), "DELETE", path, fault, at, b"", status)


def explain(first: Delivery, again: Delivery, log: list[ProxiedRequest]) -> str:
    return AckTrace(log).explain(first, again)


class ParsingTests(SynchronousTestCase):
    def test_deleted_ids(self) -> None:
        """A DELETE names its messages by id (one) or in bulk; other requests name none."""
        self.assertEqual(deleted_ids("DELETE", "/v2/queues/q/messages?ids=a,b"), ["a", "b"])
        self.assertEqual(deleted_ids("DELETE", "/v2/queues/q/messages?ids=a%2Cb&claim_ids=c"), ["a", "b"])
        self.assertEqual(deleted_ids("DELETE", "/v2/queues/q/messages/a?claim_id=c"), ["a"])
        self.assertEqual(deleted_ids("DELETE", "queues/q/messages/a"), ["a"])
        self.assertEqual(deleted_ids("DELETE", "/v2/queues/q/messages?pop=5"), [])
        self.assertEqual(deleted_ids("DELETE", "/v2/queues/q/claims/c"), [])
        self.assertEqual(deleted_ids("DELETE", "/v2/queues/q"), [])
        self.assertEqual(deleted_ids("GET", "/v2/queues/q/messages/a"), [])

    def test_released_claim(self) -> None:
        self.assertEqual(released_claim("DELETE", "/v2/queues/q/claims/c1"), "c1")
        self.assertIsNone(released_claim("PATCH", "/v2/queues/q/claims/c1"))
        self.assertIsNone(released_claim("DELETE", "/v2/queues/q/messages/a"))

    def test_stable_identity(self) -> None:
        """
        An acknowledgement's identity names its messages as the scenario
        does, in any order, whatever ids Zaqar gave them; other requests
        keep the default identity.
        """
        run1 = stable_identity({"x1": "q/0", "y1": "q/1"})
        run2 = stable_identity({"x2": "q/0", "y2": "q/1"})
        self.assertEqual(run1("DELETE", "/v2/queues/q/messages?ids=x1,y1", b""),
                         run2("DELETE", "/v2/queues/q/messages?ids=y2,x2", b""))
        self.assertEqual(run1("DELETE", "/v2/queues/q/messages/x1?claim_id=c1", b""),
                         run2("DELETE", "/v2/queues/q/messages/x2?claim_id=c2", b""))
        self.assertNotEqual(run1("DELETE", "/v2/queues/q/messages?ids=x1", b""),
                            run1("DELETE", "/v2/queues/q/messages?ids=y1", b""))
        self.assertNotEqual(run1("DELETE", "/v2/queues/q/messages?ids=x1", b""),
                            run1("DELETE", "/v2/queues/r/messages?ids=x1", b""))
        schedule = FaultSchedule(1, 0.5)
        self.assertEqual(run1("POST", "/v2/queues/q/claims", b"{}"), schedule.identity("POST", "/v2/queues/q/claims", b"{}"))


class ExplainTests(SynchronousTestCase):
    def test_one_faulted_one_successful_delete_is_unexplained(self) -> None:
        """A redelivery after a faulted DELETE and a successful retry of it: Zaqar deleted it, so unexplained."""
        log = [delete(11.0, "refused", None), delete(11.2, None, 204)]
        self.assertEqual(explain(FIRST, LATE, log), UNEXPLAINED)

    def test_forwarded_fault_with_success_is_unexplained(self) -> None:
        """An attempt Zaqar answered 2xx counts as done even if the proxy dropped the answer."""
        log = [delete(11.0, "reset_after", 204), delete(11.2, "refused", None), delete(11.5, "refused", None)]
        self.assertEqual(explain(FIRST, LATE, log), UNEXPLAINED)

    def test_all_retries_faulted_is_ack_lost(self) -> None:
        """Every attempt (the first and both retries) faulted, then the claim expired: ack lost."""
        log = [delete(11.0, "refused", None), delete(11.2, "reset_before", None), delete(11.6, "unavailable", None)]
        self.assertEqual(explain(FIRST, LATE, log), ACK_LOST)

    def test_fewer_attempts_than_retries_is_not_retried(self) -> None:
        """Attempts all faulted but fewer than the library makes: the acknowledgement was not retried."""
        self.assertEqual(explain(FIRST, LATE, [delete(11.0, "refused", None)]), ACK_NOT_RETRIED)
        log = [delete(11.0, "refused", None), delete(11.2, "unavailable", None)]
        self.assertEqual(explain(FIRST, LATE, log), ACK_NOT_RETRIED)
        self.assertEqual(AckTrace(log, attempts=2).explain(FIRST, LATE), ACK_LOST)

    def test_unfaulted_failures_are_unexplained(self) -> None:
        """Attempts that failed without a fault (Zaqar's own 503) do not explain a redelivery."""
        log = [delete(11.0, "refused", None), delete(11.2, None, 503), delete(11.6, None, None)]
        self.assertEqual(explain(FIRST, LATE, log), UNEXPLAINED)

    def test_ack_lost_but_redelivered_too_soon(self) -> None:
        """A lost acknowledgement explains a redelivery only once the claim expired (or was released)."""
        log = [delete(11.0, "refused", None), delete(11.2, "reset_before", None), delete(11.6, "unavailable", None)]
        self.assertEqual(explain(FIRST, SOON, log), UNEXPLAINED)
        released = [*log, delete(12.0, None, 204, "/v2/queues/q/claims/c1")]
        self.assertEqual(explain(FIRST, SOON, released), ACK_LOST)

    def test_none_sent_is_claim_expired(self) -> None:
        """No DELETE named the message, redelivered after the claim ttl: claim expired; before it: unexplained."""
        self.assertEqual(explain(FIRST, LATE, []), CLAIM_EXPIRED)
        self.assertEqual(explain(FIRST, SOON, []), UNEXPLAINED)

    def test_released(self) -> None:
        """The first claim was released (Zaqar answered its DELETE) before the redelivery: claim released."""
        log = [delete(11.0, None, 204, "/v2/queues/q/claims/c1")]
        self.assertEqual(explain(FIRST, SOON, log), CLAIM_RELEASED)
        refused = [delete(11.0, "refused", None, "/v2/queues/q/claims/c1")]
        self.assertEqual(explain(FIRST, SOON, refused), UNEXPLAINED)
        after = [delete(25.0, None, 204, "/v2/queues/q/claims/c1")]
        self.assertEqual(explain(FIRST, SOON, after), UNEXPLAINED)

    def test_same_claim(self) -> None:
        """A second delivery under the same claim is a violation, whatever the log says."""
        again = Delivery(("q", 1), "m1", "c1", 100.0)
        self.assertEqual(explain(FIRST, again, []), SAME_CLAIM)

    def test_only_its_own_attempts_count(self) -> None:
        """DELETEs of other messages, before the delivery or after the redelivery, are not its acknowledgement."""
        log = [
            delete(5.0, None, 204),  # before the first delivery
            delete(11.0, None, 204, "/v2/queues/q/messages?ids=m3,m4"),  # other messages
            delete(75.0, None, 204),  # after the redelivery
        ]
        self.assertEqual(explain(FIRST, LATE, log), CLAIM_EXPIRED)
        single = [delete(11.0, None, 204, "/v2/queues/q/messages/m1")]
        self.assertEqual(explain(FIRST, LATE, single), UNEXPLAINED)


class OutcomeTests(SynchronousTestCase):
    def test_each_delivery_its_own_acknowledgement(self) -> None:
        """Each delivery's acknowledgement is the attempts until the message's next delivery."""
        again = Delivery(("q", 1), "m1", "c2", 80.0)
        other = Delivery(("q", 2), "m2", "c1", 10.0)
        log = [
            delete(11.0, "refused", None), delete(11.2, "refused", None), delete(11.6, "refused", None),
            delete(81.0, None, 204),
        ]
        outcomes = AckTrace(log).outcomes([again, FIRST, other])
        self.assertEqual([(d, a.outcome) for d, a in outcomes],
                         [(FIRST, LOST_AFTER_RETRIES), (other, ACKED), (again, ACKED)])
        self.assertEqual(outcomes[0][1].describe(), "3 attempts: refused, refused, refused")
        self.assertEqual(AckTrace(log).redeliveries([FIRST, other, again]), {ACK_LOST: 1})

    def test_lost_before_retries_and_never_sent(self) -> None:
        """One faulted attempt only is lost before its retries ran out; no attempt, never sent."""
        other = Delivery(("q", 5), "m5", "c1", 10.0)
        outcomes = AckTrace([delete(11.0, "unavailable", None)]).outcomes([FIRST, other])
        self.assertEqual([a.outcome for _, a in outcomes], [LOST_BEFORE_RETRIES, NOT_SENT])
        self.assertEqual(outcomes[0][1].describe(), "1 attempt: unavailable")

    def test_failed_unfaulted(self) -> None:
        log = [delete(11.0, None, 503), delete(11.2, None, 503), delete(11.6, None, None)]
        [(_, ack)] = AckTrace(log).outcomes([FIRST])
        self.assertEqual((ack.outcome, ack.describe()), (FAILED_UNFAULTED, "3 attempts: 503, 503, no answer"))

    def test_settled_before(self) -> None:
        """Deliveries too recent for their retries to be over can be left out."""
        late = Delivery(("q", 7), "m7", "c3", 50.0)
        self.assertEqual([d for d, _ in AckTrace([]).outcomes([FIRST, late], settled_before=40.0)], [FIRST])


@implementer(IAgent)
class RefusingAgent:
    """Refuses every connection (nothing sent, so any request may be retried), and counts the requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []

    def request(self, method: bytes, uri: bytes, headers: Any = None, bodyProducer: Any = None) -> Deferred[Any]:
        self.requests.append((method, uri))
        d: Deferred[Any] = Deferred()
        d.errback(ConnectionRefusedError())
        return d


class BreakageTests(SynchronousTestCase):
    def attempts(self, method: str, path: str, **kwargs: Any) -> int:
        """How many times a L{Connection} (2 retries) sends a request that is always refused."""
        agent = RefusingAgent()
        clock = Clock()
        conn = Connection(agent, clock, NoAuth("p"), url="http://zaqar.test:8888", retries=2)
        d = conn.request(method, path, **kwargs)
        clock.pump([1] * 10)
        self.failureResultOf(d, errors.ConnectionFailed)
        return len(agent.requests)

    def test_acknowledgements_sent_once(self) -> None:
        """With the retries removed a DELETE of messages is sent once; every other request keeps its retries."""
        self.assertEqual(self.attempts("DELETE", "queues/q/messages", params={"ids": ["a", "b"]}), 3)
        undo = remove_acknowledgement_retries()
        self.addCleanup(undo)
        self.assertEqual(self.attempts("DELETE", "queues/q/messages", params={"ids": ["a", "b"]}), 1)
        self.assertEqual(self.attempts("DELETE", "queues/q/messages/a"), 1)
        self.assertEqual(self.attempts("DELETE", "queues/q/claims/c"), 3)
        self.assertEqual(self.attempts("GET", "queues/q/stats"), 3)
        undo()
        self.assertEqual(self.attempts("DELETE", "queues/q/messages/a"), 3)


class JudgeTests(SynchronousTestCase):
    def test_judge(self) -> None:
        """The broken run must fail (exit 1) naming the acknowledgements lost with retries left."""
        named = f"FAILED: Subscribers: 30 {LOST_WITH_RETRIES_LEFT} (fewer than 3 attempts): q/0\nFAILED\n"
        self.assertIsNone(judge(1, "table\n" + named))
        self.assertIn("PASSED", judge(0, "PASSED\n") or "")
        self.assertIn("no FAILED line", judge(1, "FAILED: Subscribers: 3 messages never processed\nFAILED\n") or "")
        self.assertIn("exited 2", judge(2, named) or "")


class WaitsTests(SynchronousTestCase):
    def test_until(self) -> None:
        """C{until} fires once the condition holds; past its deadline it fails naming what it waited for."""
        clock = Clock()
        waits = Waits(clock)
        state = {"ok": False}
        d = Deferred.fromCoroutine(waits.until(lambda: state["ok"], 10, "the thing"))
        clock.advance(5)
        self.assertNoResult(d)
        self.assertEqual(waits.current, "the thing")
        state["ok"] = True
        clock.advance(0.2)
        self.successResultOf(d)
        self.assertEqual(waits.current, "nothing")
        d = Deferred.fromCoroutine(waits.until(lambda: False, 10, "the other thing"))
        clock.pump([0.2] * 49)
        self.assertNoResult(d)
        clock.pump([0.2] * 2)
        failure = self.failureResultOf(d, WaitTimedOut)
        self.assertEqual(str(failure.value), "gave up after 10 s waiting for the other thing")

    def test_on(self) -> None:
        """C{on} gives a Deferred's result, or cancels it at the deadline and fails naming what it waited for."""
        clock = Clock()
        waits = Waits(clock)
        ready: Deferred[int] = Deferred()
        d = Deferred.fromCoroutine(waits.on(ready, 5, "the answer"))
        ready.callback(42)
        self.assertEqual(self.successResultOf(d), 42)
        hung: Deferred[int] = Deferred()
        d = Deferred.fromCoroutine(waits.on(hung, 5, "Zaqar to stop"))
        clock.advance(5)
        self.assertEqual(str(self.failureResultOf(d, WaitTimedOut).value), "gave up after 5 s waiting for Zaqar to stop")


class ReportTests(SynchronousTestCase):
    def test_table_and_failures(self) -> None:
        """One reStructuredText table per scenario; a failed check is kept."""
        report = Report()
        report.add("A", "messages", 1200)
        report.add("A", "lost", "0")
        report.add("B", "took", "3 s")
        report.check(True, "fine")
        report.check(False, "B: broken")
        lines = report.table().splitlines()
        self.assertEqual(lines[1].strip(), "A")
        self.assertEqual(lines[3].split(), ["messages", "1,200"])
        self.assertIn("B", [line.strip() for line in lines])
        self.assertEqual(set(lines[0]), {"=", " "})
        self.assertEqual(report.failures, ["B: broken"])


def _usage(module: str) -> str:
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return " ".join(out.split())


class ReadmeBlockTests(SynchronousTestCase):
    def test_options_exist(self) -> None:
        """Every option of the README's Reliability commands is one the command takes."""
        block = readme.find_block("Reliability", "python3 -m tox -e faults")
        commands = block.commands()
        self.assertEqual(len(commands), 5, commands)
        checked = 0
        for command in commands:
            module = "txzaqar.test.reliability"
            found = re.search(r"-m (txzaqar\.test\.reliability(?:\.soak)?)", command)
            if found:
                module = found.group(1)
            else:
                self.assertTrue(command.startswith("python3 -m tox -e faults"), command)
            usage = _usage(module)
            for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", command):
                self.assertIn(option, usage, command)
                checked += 1
        self.assertGreaterEqual(checked, 7)
