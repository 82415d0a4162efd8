"""
The contract tests of encrypted queues (C{_enable_encrypt_messages}): a
mixin of the suite that L{txzaqar.testing.contract.zaqar_contract_tests}
builds.  On the wire Zaqar 23.0.1 returns the ciphertext from claims, claim
reads, pop and stats (quirk 5 of L{txzaqar.testing.quirks}), which the in-memory fake models; through
the client, claims give the bodies as posted and pop is refused.  It uses
the suite's helpers (C{self.client}, C{created}, C{count_requests}) and
runs on every backend the suite runs on.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from twisted.trial.unittest import SkipTest

from ..api import _paths
from ..api.queue import Queue
from ..errors import EncryptedPopRefused, EncryptedReadFailed

__all__ = ["ENCRYPTED_BODIES", "EncryptedContractTests"]

#: Bodies of several JSON kinds, none of which Zaqar's decryption turns into something else.
ENCRYPTED_BODIES: list[Any] = [
    {"secret": 1, "list": [1, 2]}, "two", 3, [1, "x"], None, True, 2.5, "h\u00e9llo \u2603",
    {"\u00e9": {"nested": ["\u2603"]}}, -7, "a longer string, long enough for more than one block",
]


class EncryptedContractTests:
    """Mixed into the contract suite's C{TestCase}; not a test case by itself."""

    # the suite's helpers, for the type checker
    #: The client under test (the suite's).
    client: Any
    #: The suite's C{created(tag, metadata)}: a queue with a unique name, created, deleted in cleanup.
    created: Any
    #: The suite's C{count_requests(client)}: the requests a client sends from now on.
    count_requests: Any
    #: Whether the backend has Zaqar 23.0.1's quirks.
    server_quirks: bool
    #: C{TestCase.assertEqual}, from the test case this is mixed into.
    assertEqual: Any
    #: C{TestCase.assertNotEqual}, from the test case this is mixed into.
    assertNotEqual: Any
    #: C{TestCase.assertIs}, from the test case this is mixed into.
    assertIs: Any
    #: C{TestCase.assertIn}, from the test case this is mixed into.
    assertIn: Any
    #: C{TestCase.assertIsInstance}, from the test case this is mixed into.
    assertIsInstance: Any
    #: C{TestCase.assertTrue}, from the test case this is mixed into.
    assertTrue: Any
    #: C{TestCase.addCleanup}, from the test case this is mixed into.
    addCleanup: Any
    #: C{TestCase.fail}, from the test case this is mixed into.
    fail: Any

    async def encrypted_queue(self) -> Any:
        """A new queue with C{_enable_encrypt_messages}."""
        return await self.created("enc", metadata={"_enable_encrypt_messages": True})

    def assert_ciphertext(self, body: Any, posted: Any) -> None:
        """C{body} has the shape of Zaqar's ciphertext: base64 of an IV and whole AES blocks."""
        self.assertIsInstance(body, str)
        self.assertNotEqual(body, posted)
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            self.fail(f"not base64: {body!r}")
        self.assertEqual(len(raw) % 16, 0, body)
        self.assertTrue(len(raw) >= 32, body)

    def no_retries(self) -> None:
        """The client's connection does not retry (a 503 fails at once), until cleanup."""
        conn = self.client.connection
        self.addCleanup(setattr, conn, "retries", conn.retries)
        conn.retries = 0

    async def test_encrypted_wire_claim_pop_stats_ciphertext(self) -> None:
        """
        Quirk 5 of L{txzaqar.testing.quirks}, on the wire: claims, claim reads, pop and stats return the
        ciphertext; GET by ids decrypts and names the claim in each href.
        """
        queue = await self.encrypted_queue()
        posted = [{"secret": 1}, "two", [3]]
        ids = await queue.post([{"body": b} for b in posted])
        conn = self.client.connection
        claimed = await conn.post(_paths.claims(queue.name).path, params={"limit": 2}, body={})
        claim_id = claimed.location.rstrip("/").rsplit("/", 1)[-1]
        wire = {m["id"]: m["body"] for m in claimed.json["messages"]}
        self.assertEqual(sorted(wire), sorted(ids[:2]))
        for mid, body in wire.items():
            self.assert_ciphertext(body, posted[ids.index(mid)])
        read = await conn.get(_paths.claim(queue.name, claim_id).path)
        self.assertEqual({m["id"]: m["body"] for m in read.json["messages"]}, wire)
        by_id = await conn.get(_paths.messages(queue.name).path, params={"ids": ids[:2]})
        self.assertEqual({m["id"]: m["body"] for m in by_id.json["messages"]},
                         {ids[0]: posted[0], ids[1]: posted[1]})
        self.assertTrue(all(m["href"].endswith(f"?claim_id={claim_id}") for m in by_id.json["messages"]))
        stats = await queue.stats()
        assert stats.newest is not None
        self.assert_ciphertext(stats.newest["body"], posted[2])
        popped = await conn.delete(_paths.messages(queue.name).path, params={"pop": 1}, idempotent=False)
        [message] = popped.json["messages"]
        self.assertEqual(message["id"], ids[2])
        self.assert_ciphertext(message["body"], posted[2])

    async def test_encrypted_claim_gives_bodies_as_posted(self) -> None:
        """A claim, its reload and get_claim give the bodies as posted, under the claim's id."""
        queue = await self.encrypted_queue()
        ids = await queue.post([{"body": b} for b in ENCRYPTED_BODIES])
        posted = dict(zip(ids, ENCRYPTED_BODIES, strict=True))
        claim = await queue.claim(limit=20)
        self.assertEqual({m.id: m.body for m in claim}, posted)
        self.assertEqual({m.claim_id for m in claim}, {claim.id})
        self.assertEqual({m.id: m.body for m in await claim.reload()}, posted)
        self.assertEqual({m.id: m.body for m in await queue.get_claim(claim.id)}, posted)
        for message in claim:
            await message.delete()
        self.assertEqual((await queue.stats()).total, 0)

    async def test_encrypted_pop_refused_nothing_popped(self) -> None:
        """Pop on an encrypted queue fails with EncryptedPopRefused; the messages stay."""
        queue = await self.encrypted_queue()
        ids = await queue.post([{"body": "kept"}, {"body": {"kept": 2}}])
        for q in (queue, Queue(self.client.connection, queue.name, encrypted=True)):
            calls = self.count_requests()
            try:
                await q.pop(2)
            except EncryptedPopRefused as e:
                self.assertIn("ciphertext", str(e))
                self.assertEqual(e.queue_name, queue.name)
            else:
                self.fail("pop on an encrypted queue was not refused")
            self.assertEqual(list(calls), [] if q.encrypted else [("GET", f"queues/{queue.name}")])
        self.assertEqual([m.id for m in await queue.messages()], ids)

    async def test_unencrypted_claims_and_pops_cost(self) -> None:
        """
        On an unencrypted queue a claim with no string body costs one
        request; one with a string body reads the metadata too, unless the
        queue is known not to be encrypted; pop reads the metadata first.
        """
        queue = await self.created("plain")
        await queue.post([{"body": {"n": i}} for i in range(2)])
        calls = self.count_requests()
        claim = await queue.claim(limit=1)
        self.assertEqual([m.body for m in claim], [{"n": 0}])
        self.assertEqual([c[0] for c in calls], ["POST"])
        await queue.post({"body": "text"})
        calls = self.count_requests()
        self.assertEqual([m.body for m in await queue.claim(limit=1)], [{"n": 1}])
        self.assertEqual([m.body for m in await queue.claim(limit=1)], ["text"])
        self.assertEqual(list(calls)[1:], [("POST", f"queues/{queue.name}/claims"),
                                           ("GET", f"queues/{queue.name}")])
        await queue.post([{"body": "a"}, {"body": "b"}])
        known = Queue(self.client.connection, queue.name, encrypted=False)
        calls = self.count_requests()
        self.assertEqual([m.body for m in await known.claim(limit=1)], ["a"])
        self.assertEqual([m.body for m in await known.pop()], ["b"])
        self.assertEqual([c[0] for c in calls], ["POST", "DELETE"])
        await queue.post({"body": "c"})
        calls = self.count_requests()
        self.assertEqual([m.body for m in await queue.pop()], ["c"])
        self.assertEqual([c[0] for c in calls], ["GET", "DELETE"])

    async def test_encrypted_claims_read_metadata_once(self) -> None:
        """A Queue remembers that its queue is encrypted: later claims only read back."""
        queue = await self.encrypted_queue()
        await queue.post([{"body": {"n": 1}}, {"body": {"n": 2}}])
        calls = self.count_requests()
        self.assertEqual([m.body for m in await queue.claim(limit=1)], [{"n": 1}])
        self.assertEqual([m for m, _ in calls], ["POST", "GET", "GET"])
        calls = self.count_requests()
        self.assertEqual([m.body for m in await queue.claim(limit=1)], [{"n": 2}])
        self.assertEqual([m for m, _ in calls], ["POST", "GET"])

    async def test_encrypted_unreadable_message_left_in_claim(self) -> None:
        """
        Zaqar cannot decrypt an empty string body (every read of it is a
        503): the claim delivers the others and leaves it claimed;
        a claim of only such messages fails with EncryptedReadFailed and is
        released.
        """
        self.no_retries()
        queue = await self.encrypted_queue()
        ids = await queue.post([{"body": "a"}, {"body": ""}, {"body": {"b": 1}}])
        claim = await queue.claim(limit=3)
        self.assertEqual({m.id: m.body for m in claim}, {ids[0]: "a", ids[2]: {"b": 1}})
        stats = await queue.stats()
        self.assertEqual((stats.claimed, stats.free), (3, 0))
        await claim.release()
        for message in claim:
            await queue.delete_message(message.id)
        try:
            await queue.claim(limit=3)
        except EncryptedReadFailed as e:
            self.assertIs(e.released, True)
            self.assertEqual(e.cause.code, 503)
            self.assertIn("ciphertext", str(e))
        else:
            self.fail("a claim of an unreadable message did not fail")
        stats = await queue.stats()
        self.assertEqual((stats.claimed, stats.free), (0, 1))

    async def test_encryption_turned_off_reads_ciphertext(self) -> None:
        """
        Encryption is decided when a message is posted, decryption when it
        is read: after C{enable_encrypt_messages=False} even GET returns the
        ciphertext of what was posted before (the client cannot help it).
        """
        queue = await self.encrypted_queue()
        [mid] = await queue.post({"body": {"a": 1}})
        await queue.configure(enable_encrypt_messages=False)
        self.assert_ciphertext((await queue.message(mid)).body, {"a": 1})

    async def test_quirk_encrypted_string_that_is_a_pickle(self) -> None:
        """
        Quirk 13 of L{txzaqar.testing.quirks}: Zaqar unpickles a decrypted string body: on an encrypted queue the
        string C{"N."} reads back as C{None} (not modelled by the fake).
        """
        if not self.server_quirks:
            raise SkipTest("asserts a Zaqar 23.0.1 server quirk this backend does not claim to have")
        queue = await self.encrypted_queue()
        [mid] = await queue.post({"body": "N."})
        self.assertIs((await queue.message(mid)).body, None)
