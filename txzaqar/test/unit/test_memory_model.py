"""
Unit tests of the in-memory Zaqar's layers on their own: the model
(L{txzaqar.testing.memory.model}) with no HTTP and time on a L{Clock}, the
limits table (L{txzaqar.testing.memory.checks}) and the wire's answers to
the model's refusals (L{txzaqar.testing.memory.wire}).  Everything seen
through HTTP is in C{test_memory_zaqar}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.testing.memory.checks import BOUNDS, ValidationFailed, check_metadata
from txzaqar.testing.memory.model import ZaqarState
from txzaqar.testing.memory.records import (
    ClaimNotFound,
    MessageClaimed,
    NewMessage,
    NoSuchClaim,
    NoSuchMetadataKey,
    NoSuchSubscription,
    SubscriptionExists,
    patched_metadata,
)
from txzaqar.testing.memory.wire import error_for


class ModelTests(SynchronousTestCase):
    """L{ZaqarState} on its own: no HTTP, time on a L{Clock}."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.state = ZaqarState(self.clock)

    def post(self, queue: str, *bodies: Any, ttl: int = 3600) -> list[str]:
        return self.state.post_messages("p", queue, [NewMessage(body=b, ttl=ttl) for b in bodies], "c")

    def test_expired_messages_are_dropped(self) -> None:
        self.state.create_queue("p", "q", None)
        self.post("q", 1, ttl=60)
        self.post("q", 2, ttl=120)
        self.clock.advance(60)
        self.assertEqual(self.state.message_bodies("p", "q"), [2])

    def test_claim_takes_free_messages_and_expires(self) -> None:
        self.state.create_queue("p", "q", None)
        self.post("q", 1, 2, 3)
        claim, claimed = self.state.claim("p", "q", limit=2, ttl=60, grace=60)
        assert claim is not None
        self.assertEqual([m.body for m in claimed], [1, 2])
        _, second = self.state.claim("p", "q", limit=5, ttl=60, grace=60)
        self.assertEqual([m.body for m in second], [3])
        self.clock.advance(60)
        self.assertIsNone(claimed[0].shown_claim(self.state.now()))
        self.assertRaises(NoSuchClaim, self.state.get_claim, "p", "q", claim.id)

    def test_dead_letter_move_keeps_the_claim(self) -> None:
        self.state.create_queue("p", "q", {"_max_claim_count": 1, "_dead_letter_queue": "dlq"})
        self.state.create_queue("p", "dlq", None)
        [mid] = self.post("q", "x")
        self.state.claim("p", "q", limit=1, ttl=60, grace=60)
        self.clock.advance(60)
        self.assertEqual(self.state.claim("p", "q", limit=1, ttl=60, grace=60), (None, []))
        self.assertEqual(self.state.message_bodies("p", "dlq"), ["x"])
        [moved] = self.state.messages_by_id("p", "dlq", [mid])
        self.assertTrue(moved.claimed(self.state.now()))
        self.clock.advance(60)
        self.assertFalse(moved.claimed(self.state.now()))

    def test_delete_under_a_claim(self) -> None:
        self.state.create_queue("p", "q", None)
        [mid] = self.post("q", 1)
        claim, _ = self.state.claim("p", "q", limit=1, ttl=60, grace=60)
        assert claim is not None
        self.assertRaises(MessageClaimed, self.state.delete_message, "p", "q", mid, None)
        self.assertRaises(ClaimNotFound, self.state.delete_message, "p", "q", mid, "not-a-uuid")
        self.state.delete_message("p", "q", mid, claim.id)
        self.assertEqual(self.state.message_bodies("p", "q"), [])

    def test_patched_metadata(self) -> None:
        self.assertEqual(patched_metadata({"a": 1}, [("add", "b", 2), ("remove", "a", None)]), {"b": 2})
        self.assertEqual(patched_metadata({}, [("replace", "_max_claim_count", 3)]),
                         {"_max_claim_count": 3})
        e = self.assertRaises(NoSuchMetadataKey, patched_metadata, {}, [("remove", "k", None)])
        self.assertEqual((e.op, e.key), ("remove", "k"))

    def test_subscription_conflict(self) -> None:
        sid = self.state.create_subscription("p", "q", "http://a", 60, {})
        self.assertEqual(self.state.create_subscription("p", "q", "http://a", 60, {}), sid)
        self.state.confirm_subscription("p", "q", sid, True)
        self.assertRaises(SubscriptionExists, self.state.create_subscription, "p", "q", "http://a", 60, {})
        self.clock.advance(60)
        self.assertRaises(NoSuchSubscription, self.state.subscription, "p", "q", sid)


class ChecksTests(SynchronousTestCase):
    """The limits table and the wire's answers to the model's refusals."""

    def test_bound_texts(self) -> None:
        e = self.assertRaises(ValidationFailed, BOUNDS["claim ttl"].check, 59)
        self.assertEqual(str(e), "The TTL for a claim may not exceed 43200 seconds, and must be at "
                                 "least 60 seconds long.")
        BOUNDS["claim ttl"].check(60)
        BOUNDS["subscription ttl"].check(10**9)

    def test_metadata_fields(self) -> None:
        check_metadata({"_default_message_delay": 900, "_enable_encrypt_messages": True})
        e = self.assertRaises(ValidationFailed, check_metadata, {"_enable_encrypt_messages": "yes"})
        self.assertEqual(str(e), "_enable_encrypt_messages must be boolean.")
        e = self.assertRaises(ValidationFailed, check_metadata,
                              {"_retry_policy": {"retry_backoff_function": "cubic"}})
        self.assertEqual(str(e), "invalid retry_backoff_function.")

    def test_model_errors_on_the_wire(self) -> None:
        e = error_for(NoSuchClaim("p", "q", "c"))
        self.assertEqual((e.code, e.title, e.description),
                         (404, "Not found", "Claim c does not exist in queue q for project p"))
        self.assertEqual(error_for(MessageClaimed()).code, 403)
