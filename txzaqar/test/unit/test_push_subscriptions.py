"""
L{txzaqar.push._subscriptions.Subscriptions} alone: a L{Clock}, frames
recorded instead of sent, replies played by the test.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.push import _frames
from txzaqar.push._subscriptions import RENEW_AFTER, Subscriptions


def reply(action: str, queue: str, status: int, body: Any) -> _frames.Reply:
    """Zaqar's reply to C{action} for C{queue}, parsed as the source parses it."""
    frame = {"request": {"action": action, "body": {"queue_name": queue}, "headers": {}, "api": "v2"},
             "body": body, "headers": {"status": status}}
    parsed = _frames.parse(json.dumps(frame).encode())
    assert isinstance(parsed, _frames.Reply), parsed
    return parsed


class SubscriptionsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.told: list[tuple[str, ...]] = []
        self.subscriptions = Subscriptions(
            self.clock, 100, lambda action, body: self.sent.append((action, dict(body))),
            up=lambda: self.told.append(("up",)), fail=lambda reason: self.told.append(("fail", reason)),
            wake=lambda q: self.told.append(("wake", q)), push_up=lambda q: self.told.append(("push_up", q)),
            push_down=lambda q, reason: self.told.append(("push_down", q, reason)),
        )

    def created(self, queue: str, subscription_id: str) -> None:
        self.subscriptions.created(reply(_frames.SUBSCRIPTION_CREATE, queue, 201,
                                         {"subscription_id": subscription_id}))

    def test_nothing_sent_before_connected(self) -> None:
        self.subscriptions.watch("b")
        self.subscriptions.watch("a")
        self.assertEqual(self.sent, [])
        self.subscriptions.connected()
        self.assertEqual(self.sent, [(_frames.SUBSCRIPTION_CREATE, {"queue_name": q, "ttl": 100}) for q in "ab"])
        self.created("a", "s-a")
        self.assertEqual(self.told, [("up",), ("push_up", "a")])
        self.assertEqual(self.subscriptions.queues_up, frozenset({"a"}))

    def test_connected_without_queues_is_up(self) -> None:
        self.subscriptions.connected()
        self.assertEqual((self.sent, self.told), ([], [("up",)]))

    def test_renewal_after_three_quarters_of_the_ttl(self) -> None:
        self.subscriptions.watch("a")
        self.subscriptions.connected()
        self.created("a", "s1")
        self.sent.clear()
        self.clock.advance(100 * RENEW_AFTER - 0.1)
        self.assertEqual(self.sent, [])
        self.clock.advance(0.1)
        self.assertEqual(self.sent, [(_frames.SUBSCRIPTION_DELETE, {"queue_name": "a", "subscription_id": "s1"}),
                                     (_frames.SUBSCRIPTION_CREATE, {"queue_name": "a", "ttl": 100})])
        self.created("a", "s2")
        self.assertEqual(self.told[-1], ("wake", "a"))

    def test_resubscribes_after_a_new_connection(self) -> None:
        self.subscriptions.watch("a")
        self.subscriptions.connected()
        self.created("a", "s1")
        self.subscriptions.forget()
        self.subscriptions.down("connection lost")
        self.assertEqual(self.told[-1], ("push_down", "a", "connection lost"))
        self.assertEqual(self.subscriptions.queues_up, frozenset())
        self.assertEqual(self.clock.getDelayedCalls(), [])  # the renewal went with the connection
        self.sent.clear()
        self.subscriptions.connected()
        self.assertEqual(self.sent, [(_frames.SUBSCRIPTION_CREATE, {"queue_name": "a", "ttl": 100})])
        self.created("a", "s2")
        self.assertEqual(self.told[-1], ("push_up", "a"))

    def test_refused_subscription_fails(self) -> None:
        self.subscriptions.watch("a")
        self.subscriptions.connected()
        self.subscriptions.created(reply(_frames.SUBSCRIPTION_CREATE, "a", 503, {"error": "no"}))
        self.assertEqual(self.told, [("fail", "subscription of a refused: 503 no")])

    def test_unwatch_deletes(self) -> None:
        self.subscriptions.watch("a")
        self.subscriptions.connected()
        self.created("a", "s1")
        self.sent.clear()
        self.subscriptions.unwatch("a")
        self.assertEqual(self.sent, [(_frames.SUBSCRIPTION_DELETE, {"queue_name": "a", "subscription_id": "s1"})])
        self.assertFalse(self.subscriptions.watches("a"))
        self.clock.advance(1000)
        self.assertEqual(len(self.sent), 1)
