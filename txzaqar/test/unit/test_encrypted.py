"""
Encrypted queues (L{txzaqar.api._encrypted}) against the in-memory Zaqar, which
returns stand-in ciphertext from claims and pop as Zaqar 23 does: a
Subscriber's callbacks get the bodies as posted, a claim keeps only the
messages it still holds when they are read back, and the fake's model of
the ciphertext.  (The wire contract itself is in
L{txzaqar.testing.contract_encrypted}, run on both backends.)
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from twisted.internet import error as ierror
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.api.claim import Claim
from txzaqar.api.queue import Queue
from txzaqar.errors import EncryptedReadFailed
from txzaqar.testing import memory_client, memory_subscriber
from txzaqar.testing.contract_encrypted import ENCRYPTED_BODIES
from txzaqar.testing.memory.encryption import ciphertext

ENCRYPTED = {"_enable_encrypt_messages": True}


class HookedAgent:
    """An agent that calls C{hook(method, uri)} before passing each request on."""

    def __init__(self, agent: Any, hook: Callable[[bytes, bytes], None]) -> None:
        self.agent = agent
        self.hook = hook

    def request(self, method: bytes, uri: bytes, headers: Any = None, bodyProducer: Any = None) -> Any:
        self.hook(method, uri)
        return self.agent.request(method, uri, headers, bodyProducer)


class EncryptedSubscriberTests(SynchronousTestCase):
    """A Subscriber on an encrypted queue of the fake."""

    def test_callbacks_get_bodies_as_posted(self) -> None:
        """
        Every callback gets the body as posted (never the fake's
        ciphertext), and only messages delivered so are acknowledged: a
        callback seeing anything else fails, which keeps its message.
        """
        clock = Clock()
        sub, client, _fake = memory_subscriber(clock=clock, batch=7, concurrency=10, close_client=False)
        queue = client.queue("secret")
        self.successResultOf(queue.create(ENCRYPTED))
        bodies = ENCRYPTED_BODIES * 3
        ids = self.successResultOf(queue.post([{"body": b} for b in bodies]))
        posted = dict(zip(ids, bodies, strict=True))
        delivered: dict[str, Any] = {}

        def callback(message: Any) -> None:
            delivered[message.id] = message.body
            if message.body != posted[message.id]:
                raise AssertionError(f"{message.id} delivered as {message.body!r}")

        sub.subscribe("secret", callback)
        sub.startService()
        for _ in range(100):
            clock.advance(0.1)
            if len(delivered) >= len(ids):
                break
        self.successResultOf(sub.stopService())
        self.assertEqual(delivered, posted)
        self.assertEqual(sub.stats["acked"], len(ids))
        self.assertEqual(sub.stats["failed"], 0)
        self.assertEqual(self.successResultOf(queue.stats()).total, 0)

    def test_unreadable_claim_is_a_poll_error(self) -> None:
        """
        A claim whose messages cannot be read back is a poll error (the
        claim released); nothing reaches the callback and nothing is deleted.
        """
        clock = Clock()
        client, _fake = memory_client(clock=clock)
        client.connection.retries = 0  # type: ignore[attr-defined]
        sub, _, _ = memory_subscriber(clock=clock, client=client, fake=_fake, close_client=False)
        queue = client.queue("poison")
        self.successResultOf(queue.create(ENCRYPTED))
        self.successResultOf(queue.post({"body": ""}))
        seen: list[Any] = []
        sub.subscribe("poison", seen.append)
        sub.startService()
        clock.advance(1)
        self.successResultOf(sub.stopService())
        self.assertEqual(seen, [])
        self.assertGreaterEqual(sub.stats["poll_errors"], 1)
        stats = self.successResultOf(queue.stats())
        self.assertEqual((stats.total, stats.claimed), (1, 0))


class ReadBackTests(SynchronousTestCase):
    """What a claim on an encrypted queue keeps when its messages are read back."""

    def setUp(self) -> None:
        self.client, self.fake = memory_client()
        self.hooks: list[Callable[[bytes, bytes], None]] = []
        conn: Any = self.client.connection

        def hook(method: bytes, uri: bytes) -> None:
            if method == b"GET" and b"ids=" in uri:
                hooks, self.hooks[:] = list(self.hooks), []
                for h in hooks:
                    h(method, uri)

        conn.agent = HookedAgent(conn.agent, hook)
        self.queue = self.client.queue("q")
        self.successResultOf(self.queue.create(ENCRYPTED))
        self.ids = self.successResultOf(self.queue.post([{"body": f"m{i}"} for i in range(3)]))

    def before_read_back(self, f: Callable[[], Any]) -> None:
        """Run C{f} (synchronously, on the fake) just before the read back is sent."""
        self.hooks.append(lambda _m, _u: self.successResultOf(f()))

    def test_message_gone_before_read_back_is_left_out(self) -> None:
        """A claimed message deleted before it is read back is not in the claim."""
        self.before_read_back(lambda: self.queue.delete_messages([self.ids[1]]))
        claim = self.successResultOf(self.queue.claim(limit=3))
        self.assertEqual([(m.id, m.body) for m in claim], [(self.ids[0], "m0"), (self.ids[2], "m2")])

    def test_claim_expired_before_read_back_keeps_nothing(self) -> None:
        """
        A claim that expired before its messages were read back keeps none
        of them: one is held by another claim, the others are free again.
        """
        other: list[Any] = []

        def expire_and_reclaim() -> Deferred[None]:
            self.fake.clock.advance(61)
            return self.queue.claim(limit=1, ttl=60).addCallback(other.append)

        self.before_read_back(expire_and_reclaim)
        claim = self.successResultOf(self.queue.claim(limit=3, ttl=60))
        [taken] = other
        self.assertEqual([(m.id, m.body) for m in taken], [(self.ids[0], "m0")])
        self.assertEqual(taken.messages[0].claim_id, taken.id)
        self.assertEqual(list(claim), [])
        stats = self.successResultOf(self.queue.stats())
        self.assertEqual((stats.claimed, stats.free), (1, 2))

    def test_reload_failure_keeps_the_claim(self) -> None:
        """A reload that cannot read back fails with EncryptedReadFailed and does not release."""
        self.client.connection.retries = 0  # type: ignore[attr-defined]
        self.successResultOf(self.queue.post([{"body": ""}, {"body": ""}]))
        self.successResultOf(self.queue.delete_messages(self.ids))
        blind = Queue(self.client.connection, "q", encrypted=False)
        claim = self.successResultOf(blind.claim(limit=3))
        self.assertEqual(len(claim), 2)
        e = self.failureResultOf(Claim(self.queue, claim.id).reload(), EncryptedReadFailed).value
        self.assertIs(e.released, False)
        self.assertIsInstance(e.cause, errors.ServiceUnavailable)
        self.assertEqual(self.successResultOf(self.queue.stats()).claimed, 2)

    def test_metadata_unreadable_releases_the_claim(self) -> None:
        """
        When the metadata cannot be read to tell whether a claim's string
        bodies are ciphertext, the claim fails with EncryptedReadFailed
        and is released: nothing is handed out, nothing is lost.
        """
        conn: Any = self.client.connection
        conn.retries = 0
        inner = conn.agent

        class Refusing:
            def request(self, method: bytes, uri: bytes, headers: Any = None, body: Any = None) -> Any:
                if method == b"GET" and uri.endswith(b"/v2/queues/fresh"):
                    return fail(ierror.ConnectionRefusedError())
                return inner.request(method, uri, headers, body)

        conn.agent = Refusing()
        queue = self.client.queue("fresh")
        self.successResultOf(queue.post({"body": "text"}))
        e = self.failureResultOf(queue.claim(), EncryptedReadFailed).value
        self.assertIs(e.released, True)
        self.assertIn("metadata", e.description)
        self.assertIsInstance(e.cause, errors.ConnectionFailed)
        conn.agent = inner
        stats = self.successResultOf(queue.stats())
        self.assertEqual((stats.claimed, stats.free), (0, 1))

    def test_known_unencrypted_queue_hands_out_what_the_server_sent(self) -> None:
        """C{encrypted=False} is trusted: nothing is read back (the caller's word)."""
        known = Queue(self.client.connection, "q", encrypted=False)
        claim = self.successResultOf(known.claim(limit=1))
        [message] = claim
        self.assertIsInstance(message.body, str)
        self.assertNotEqual(message.body, "m0")


class QueueFlagTests(SynchronousTestCase):
    """The C{encrypted} attribute of L{Queue}."""

    def test_bool_or_none(self) -> None:
        client, _ = memory_client()
        for good in (None, True, False):
            self.assertIs(Queue(client.connection, "q", encrypted=good).encrypted, good)
        self.assertRaises(TypeError, Queue, client.connection, "q", encrypted="yes")

    def test_not_part_of_the_value(self) -> None:
        """Queues equal by name stay equal whatever is known of their encryption."""
        client, _ = memory_client()
        self.assertEqual(Queue(client.connection, "q"), Queue(client.connection, "q", encrypted=True))
        self.assertEqual(repr(Queue(client.connection, "q", encrypted=True)), "<Queue [q]>")


class FakeCiphertextTests(SynchronousTestCase):
    """The fake's stand-in ciphertext has the shape of Zaqar's."""

    def test_shape(self) -> None:
        for body in ENCRYPTED_BODIES + ["", "x" * 16]:
            text = ciphertext(body)
            raw = base64.b64decode(text, validate=True)
            self.assertEqual(len(raw) % 16, 0)
            self.assertGreaterEqual(len(raw), 32)
            self.assertNotIn(b"secret", raw)

    def test_fixed_at_post(self) -> None:
        """A message's ciphertext is made once, when it is posted: every claim shows the same."""
        client, fake = memory_client()
        queue = Queue(client.connection, "q", encrypted=False)
        self.successResultOf(client.queue("q").create(ENCRYPTED))
        self.successResultOf(queue.post({"body": {"secret": 1}}))
        first = self.successResultOf(queue.claim())
        self.successResultOf(first.release())
        second = self.successResultOf(queue.claim())
        self.assertEqual([m.body for m in first], [m.body for m in second])
        self.assertIsInstance(first.messages[0].body, str)
