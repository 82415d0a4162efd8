"""
The bad inputs of issue 12 that got through, each refused (or handled)
now, against the in-memory Zaqar: a bad value raises
L{ClientValidationError} and sends nothing.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar.auth import NoAuth
from txzaqar.connection import Connection
from txzaqar.errors import AuthenticationFailed, ClientValidationError, IdentityUnavailable
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.recording import Recorded
from txzaqar.testing import MEMORY_URL, memory_client, memory_subscriber


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


class BodyJSONTests(Recorded):
    def test_nan_and_infinity(self) -> None:
        """C{NaN} and C{Infinity} are not JSON: refused, not sent as non-standard JSON."""
        queue = self.client.queue("q")
        for value in (math.nan, math.inf, -math.inf, {"a": [1, math.nan]}):
            self.assertRefused(queue.post, "messages", {"body": value})

    def test_connection_body(self) -> None:
        """A body the connection encodes itself is held to the same rule."""
        d = self.client.connection.post("queues/q/claims", body={"ttl": math.nan})
        self.failureResultOf(d, ClientValidationError)
        self.assertEqual(self.recorder.requests, [])

    def test_finite_floats_pass(self) -> None:
        queue = self.client.queue("q")
        [mid] = self.successResultOf(queue.post({"body": {"f": 1.5, "e": 1e300}}))
        self.assertEqual(self.successResultOf(queue.message(mid)).body, {"f": 1.5, "e": 1e300})


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


class AdminNameTests(Recorded):
    """
    C{client.pool("bad name")} was reported as accepted: it is, rightly.
    Zaqar takes any pool or flavor name that is one path segment (a space,
    C{%} or C{é} too: C{test_admin_real.test_name_is_one_path_segment}
    round-trips C{"f 1%41"} through a real server), and the client sends it
    percent-encoded, never as a raw space in a URL.  What cannot be one
    segment is refused.
    """

    def test_refused(self) -> None:
        for name in ("", "a/b", "a?b", "a#b", 5, None, "bad name", "p\u00e9", "x" * 65, "a.b", "%41"):
            self.assertRefused(self.client.pool, "pool name", name)
            self.assertRefused(self.client.flavor, "flavor name", name)
            self.assertRefused(self.client.create_pool, "pool name", name, "redis://x", 1)
            self.assertRefused(self.client.create_flavor, "flavor name", name, ["p"])
            self.assertRefused(self.client.create_flavor, "pool", "f", [name])
            if name is not None:  # no flavor
                self.assertRefused(self.client.create_pool, "flavor", "p", "redis://x", 1, flavor=name)

    def test_accepted(self) -> None:
        """The rule does not over-refuse: one character, every allowed kind, 64 characters."""
        for name in ("a", "A-b_9", "x" * 64):
            self.assertEqual(self.client.pool(name).name, name)
            self.assertEqual(self.client.flavor(name).name, name)


class SubscriberOptionTests(SynchronousTestCase):
    def test_ack_delay(self) -> None:
        """C{ack_delay} is a finite number of seconds, 0 or more."""
        client, _ = memory_client()
        for value in (-1, -0.5, "x", math.nan, math.inf, None, True):
            e = self.assertRaises(ClientValidationError, Subscriber, client, ack_delay=value)
            self.assertIn("ack_delay", str(e))
        self.assertEqual(Subscriber(client, ack_delay=0).settings.ack_delay, 0.0)
        self.assertEqual(Subscriber(client, ack_delay=2).settings.ack_delay, 2.0)


class TimeoutTests(SynchronousTestCase):
    def test_connect_timeout(self) -> None:
        """C{connect(timeout=-1)} is refused at once, not with an AssertionError later."""
        for value in (-1, 0, math.nan, math.inf, "30", True):
            e = self.assertRaises(ClientValidationError, txzaqar.connect, "http://127.0.0.1:1",
                                  project_id="p", reactor=Clock(), timeout=value)
            self.assertIn("timeout", str(e))

    def test_connection_timeout(self) -> None:
        client, fake = memory_client()
        self.assertRaises(ClientValidationError, Connection, client.connection.agent, fake.clock,
                          NoAuth("p"), url=MEMORY_URL, timeout=-1)
        self.assertEqual(Connection(client.connection.agent, fake.clock, NoAuth("p"), timeout=2).timeout, 2.0)


class MaxItemsTests(Recorded):
    def test_max_items_zero_or_negative(self) -> None:
        """C{messages(max_items=0)} (and -1) is refused (already fixed before issue 12; kept)."""
        queue = self.client.queue("q")
        self.successResultOf(queue.post({"body": 1}))
        for value in (0, -1):
            self.assertRefused(queue.messages, "max_items", max_items=value)
            self.assertRefused(queue.subscriptions, "max_items", max_items=value)
        self.assertEqual(len(self.successResultOf(queue.messages(max_items=1))), 1)


class MessageHashTests(SynchronousTestCase):
    def test_hash_with_dict_body(self) -> None:
        """A message with a dict (or list) body is hashable; equal messages hash alike."""
        client, _ = memory_client()
        queue = client.queue("q")
        self.successResultOf(queue.post([{"body": {"a": [1]}}, {"body": [1, 2]}]))
        messages = self.successResultOf(queue.messages())
        again = self.successResultOf(queue.messages())
        self.assertEqual(len({*messages, *again}), 2)
        self.assertEqual(hash(messages[0]), hash(again[0]))


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


class _FlakyIdentity(NoAuth):
    """Identity fails C{failures} times with C{error}, then answers."""

    def __init__(self, error: Exception, failures: int) -> None:
        super().__init__("test")
        self.error = error
        self.failures = failures
        self.calls = 0

    def headers(self) -> Deferred[dict[str, str]]:
        self.calls += 1
        if self.calls <= self.failures:
            return fail(self.error)
        return succeed(dict(self._headers))


class IdentityRetryTests(Recorded):
    def test_post_retried_after_identity_unavailable(self) -> None:
        """
        A POST whose Keystone call failed is retried: nothing reached Zaqar,
        and exactly one message is stored.
        """
        auth = _FlakyIdentity(IdentityUnavailable("Identity service timed out", "no answer"), 1)
        self.client.connection.authenticator = auth
        queue = self.client.queue("q")
        d = queue.post({"body": 1})
        self.fake.clock.advance(1)  # the retry's backoff
        [mid] = self.successResultOf(d)
        self.assertEqual(auth.calls, 2)
        self.assertEqual([r.method for r in self.recorder.requests], ["POST"])
        self.assertEqual([m.id for m in self.successResultOf(queue.messages())], [mid])

    def test_refused_credentials_not_retried(self) -> None:
        """Keystone refusing the credentials is not retried: it will not change."""
        auth = _FlakyIdentity(AuthenticationFailed("Authentication failed", "no"), 1)
        self.client.connection.authenticator = auth
        d = self.client.queue("q").post({"body": 1})
        self.failureResultOf(d, AuthenticationFailed)
        self.assertEqual(auth.calls, 1)
        self.assertEqual(self.recorder.requests, [])


class PullOnlyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.sub, self.client, self.fake = memory_subscriber(batch=5, stop_timeout=30, poll_interval=1)
        self.queue = self.client.queue("pull")
        self.successResultOf(self.queue.post([{"body": i} for i in range(3)]))

    def tearDown(self) -> None:
        d = self.sub.stopService()
        self.fake.clock.advance(60)
        self.successResultOf(d)

    def stats(self) -> Any:
        return self.successResultOf(self.queue.stats())

    def test_unsubscribe_without_reader_releases_at_once(self) -> None:
        """
        Unsubscribing a pull-only queue no reader took messages from
        releases its claim at once (not after C{stop_timeout}), and no later
        reader is handed those messages.
        """
        self.sub.subscribe("pull")
        self.sub.startService()
        self.fake.clock.advance(1)
        self.assertEqual(self.stats().claimed, 3)
        d = self.sub.unsubscribe("pull")
        self.successResultOf(d)  # without advancing the clock
        self.assertEqual((self.stats().claimed, self.stats().free), (0, 3))
        # a later reader (of another pull-only queue) is not handed the old messages
        self.sub.subscribe("other")
        nxt = Deferred.fromCoroutine(self.sub.listen().__anext__())
        self.assertNoResult(nxt)
        nxt.cancel()
        self.failureResultOf(nxt)

    def test_listen_without_pull_subscription_ends(self) -> None:
        """C{listen()} with no queue subscribed without a callback ends at once."""
        self.sub.subscribe("pull", callback=lambda m: None)
        self.sub.startService()
        d = Deferred.fromCoroutine(self.sub.listen().__anext__())
        self.failureResultOf(d, StopAsyncIteration)

    def test_listen_ends_when_last_pull_queue_unsubscribed(self) -> None:
        self.successResultOf(self.client.queue("empty").create())
        self.sub.subscribe("empty")
        self.sub.startService()
        d = Deferred.fromCoroutine(self.sub.listen().__anext__())
        self.assertNoResult(d)
        self.successResultOf(self.sub.unsubscribe("empty"))
        self.failureResultOf(d, StopAsyncIteration)
