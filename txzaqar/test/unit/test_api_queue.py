"""
L{txzaqar.api.queue.Queue} against the in-memory Zaqar: names, metadata, ids and sizes checked before anything is sent, and what C{configure} does.
"""

from __future__ import annotations

import math

from txzaqar import errors
from txzaqar.api.queue import Metadata
from txzaqar.test.helpers.recording import Recorded


class QueueNameTests(Recorded):
    def test_trailing_newline(self) -> None:
        """C{"a\\n"} is refused: the name pattern's C{$} matched before the newline."""
        self.assertRefused(lambda: self.client.queue("a\n"), "queue name")
        self.assertRefused(lambda: self.client.queue("a\n").create(), "queue name")

    def test_dead_letter_queue_trailing_newline(self) -> None:
        queue = self.client.queue("q")
        self.assertRefused(lambda: queue.configure(dead_letter_queue="x\n"), "queue name")


class MetadataJSONTests(Recorded):
    def test_create_with_an_object(self) -> None:
        """Metadata that is not JSON is a L{ClientValidationError}, not a raw C{TypeError}."""
        self.assertRefused(lambda: self.client.queue("q").create({"x": object()}), "metadata")

    def test_update_with_a_set(self) -> None:
        queue = self.client.queue("q")
        self.successResultOf(queue.create())
        self.assertRefused(lambda: queue.update_metadata({"x": {1}}), "metadata")
        self.assertRefused(lambda: queue.set_metadata({"x": {1}}), "metadata")

    def test_metadata_nan(self) -> None:
        self.assertRefused(lambda: self.client.queue("q").create({"x": math.nan}), "metadata")


class ClaimIdTests(Recorded):
    def test_claim_id_must_be_a_string(self) -> None:
        """C{claim_id=5} is refused, not sent."""
        queue = self.client.queue("q")
        self.assertRefused(lambda: queue.delete_message("m", claim_id=5), "claim_id")  # type: ignore[arg-type]
        self.assertRefused(lambda: queue.delete_message("m", claim_id=""), "claim_id")
        self.assertRefused(lambda: queue.delete_message("m", claim_id="a/b"), "claim_id")


class PathIdTests(Recorded):
    def test_control_characters_and_spaces(self) -> None:
        """
        An id that goes into a URL path may hold no space or control
        character (a raw C{ValueError: Invalid URI} before; found by the
        differential property tests).
        """
        queue = self.client.queue("q")
        for value in ("\x1f", "a b", "a\n", "\x7f", " "):
            self.assertRefused(queue.subscription, "subscription_id", value)
            self.assertRefused(queue.get_claim, "claim_id", value)
            self.assertRefused(queue.message, "message_id", value)
            self.assertRefused(queue.delete_message, "claim_id", "m", claim_id=value)


class MaxItemsTests(Recorded):
    def test_max_items_zero_or_negative(self) -> None:
        """C{messages(max_items=0)} (and -1) is refused (already fixed before issue 12; kept)."""
        queue = self.client.queue("q")
        self.successResultOf(queue.post({"body": 1}))
        for value in (0, -1):
            self.assertRefused(queue.messages, "max_items", max_items=value)
            self.assertRefused(queue.subscriptions, "max_items", max_items=value)
        self.assertEqual(len(self.successResultOf(queue.messages(max_items=1))), 1)


class DeadLetterQueueTests(Recorded):
    def test_configure_creates_the_dead_letter_queue(self) -> None:
        """C{configure(dead_letter_queue="x")} creates C{x}, as the README tour expects."""
        queue = self.client.queue("jobs")
        self.successResultOf(queue.create())
        metadata = self.successResultOf(queue.configure(max_claim_count=2, dead_letter_queue="jobs-dead"))
        self.assertEqual(metadata.dead_letter_queue, "jobs-dead")
        names = [q.name for q in self.successResultOf(self.client.queues())]
        self.assertIn("jobs-dead", names)

    def test_moved_messages_are_listed(self) -> None:
        """A message moved after C{max_claim_count} claims is found in the dead-letter queue."""
        queue = self.client.queue("jobs")
        self.successResultOf(queue.create())
        self.successResultOf(queue.configure(max_claim_count=1, dead_letter_queue="jobs-dead"))
        [mid] = self.successResultOf(queue.post({"body": "poison"}))
        for _ in range(3):
            claim = self.successResultOf(queue.claim(ttl=60, grace=60))
            if claim:
                self.successResultOf(claim.release())
        dead = self.successResultOf(self.client.queue("jobs-dead").messages(include_claimed=True))
        self.assertEqual([m.id for m in dead], [mid])

    def test_other_settings_create_nothing(self) -> None:
        queue = self.client.queue("jobs")
        self.successResultOf(queue.create())
        self.successResultOf(queue.configure(max_claim_count=2))
        self.assertEqual([r.method for r in self.recorder.requests], ["PUT", "PATCH"])


class QueueNameRuleTests(Recorded):
    """Zaqar's documented rule, C{[A-Za-z0-9_-]{1,64}}: no dot (Redis listings cut names at it)."""

    def test_dots_refused(self) -> None:
        for name in ("a.b", "v1.2.3", ".x", ".", "x."):
            self.assertRefused(self.client.create_queue, "queue name", name)
            self.assertRefused(self.client.queue, "queue name", name)
            self.assertRefused(self.client.queue("q").configure, "dead_letter_queue", dead_letter_queue=name)

    def test_not_over_refused(self) -> None:
        for name in ("a", "A-b_9", "x" * 64, "-", "_", "0"):
            queue = self.successResultOf(self.client.create_queue(name))
            self.assertEqual(queue.name, name)
        self.assertEqual(sorted(self.fake.queue_names("test")), sorted(["a", "A-b_9", "x" * 64, "-", "_", "0"]))

    def test_other_characters_refused(self) -> None:
        for name in ("p\u00e9", "\u0661", "a b", "a\n", "x" * 65, "a+b", "a~b"):
            self.assertRefused(self.client.create_queue, "queue name", name)


class MaxPostSizeTests(Recorded):
    """A queue's own C{_max_messages_post_size} is honoured when the Queue knows it."""

    def test_post_within_the_queues_limit(self) -> None:
        self.successResultOf(self.client.queue("q").configure(max_messages_post_size=2000))
        messages = [{"body": "x" * 90} for _ in range(30)]  # 101 bytes each, encoded
        self.failureResultOf(self.client.queue("q").post(messages), errors.BadRequest)
        before = len(self.recorder.requests)
        ids = self.successResultOf(self.client.queue("q", max_post_size=2000).post(messages))
        self.assertEqual(len(ids), 30)
        self.assertEqual(len(self.recorder.requests) - before, 2)  # 19 messages (1933 bytes), then 11

    def test_detailed_listing_knows_it(self) -> None:
        self.successResultOf(self.client.queue("small").configure(max_messages_post_size=2000))
        self.successResultOf(self.client.create_queue("big", {"owner": "me"}))
        queues = {q.name: q for q in self.successResultOf(self.client.queues(detailed=True))}
        self.assertEqual((queues["small"].max_post_size, queues["big"].max_post_size), (2000, 262144))
        snapshot = queues["big"].metadata_snapshot
        assert snapshot is not None
        self.assertIsInstance(snapshot, Metadata)
        self.assertEqual(snapshot.content["owner"], "me")
        self.assertEqual(snapshot.max_messages_post_size, 262144)
        self.assertEqual(queues["small"].metadata_snapshot.max_messages_post_size, 2000)  # type: ignore[union-attr]
        ids = self.successResultOf(queues["small"].post([{"body": "x" * 90} for _ in range(30)]))
        self.assertEqual(len(ids), 30)
        plain = self.successResultOf(self.client.queues())
        self.assertEqual([q.metadata_snapshot for q in plain], [None, None])

    def test_bad_sizes_refused(self) -> None:
        for bad in (0, -1, 262145, "2000", True, 2000.0):
            self.assertRefused(self.client.queue, "max_post_size", "q", max_post_size=bad)
        self.assertEqual(self.client.queue("q", max_post_size=1).max_post_size, 1)
        self.assertEqual(self.client.queue("q", max_post_size=262144).max_post_size, 262144)


class ConfigureTests(Recorded):
    def test_configure_creates_the_queue(self) -> None:
        """Zaqar answers 404 to a metadata PATCH of a missing queue: configure creates it."""
        metadata = self.successResultOf(self.client.queue("new").configure(max_claim_count=3, dead_letter_queue="dlq"))
        self.assertEqual(metadata.max_claim_count, 3)
        self.assertEqual(self.fake.queue_names("test"), ["dlq", "new"])
        self.assertEqual(self.fake.metadata("test", "new"), {"_max_claim_count": 3, "_dead_letter_queue": "dlq"})

    def test_configure_an_existing_queue_sends_no_create(self) -> None:
        self.successResultOf(self.client.create_queue("q"))
        before = len(self.recorder.requests)
        self.successResultOf(self.client.queue("q").configure(default_message_ttl=120))
        self.assertEqual([r.method for r in self.recorder.requests[before:]], ["PATCH"])
