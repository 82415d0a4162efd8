"""
The contract tests of names and bodies as Zaqar documents them (issue 18):
a queue's own post size limit, C{configure} on a queue not created yet,
detailed listings, popped messages, claim renewal of a claim read back,
and lone surrogates, which the client refuses and the server cannot
store.  A mixin of the suite that
L{txzaqar.testing.contract.zaqar_contract_tests} builds (kept apart to keep
that module readable); it runs on every backend the suite runs on.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SkipTest

from .. import errors
from ..api.message import MessageStatus

__all__ = ["ValidationContractTests"]

#: Thirty messages of 101 bytes each, encoded: over 2000 bytes per 20.
THIRTY_SMALL = [{"body": "x" * 90} for _ in range(30)]


class ValidationContractTests:
    """Mixed into the contract suite's C{TestCase}; not a test case by itself."""

    # the suite's helpers, for the type checker
    #: The client under test (the suite's).
    client: Any
    #: The suite's C{name(tag)}: a queue name no other test uses.
    name: Any
    #: The suite's C{queue(tag, client)}: a queue with a unique name, deleted in cleanup.
    queue: Any
    #: The suite's C{created(tag, metadata)}: such a queue, created.
    created: Any
    #: The suite's C{fresh_project()}: a client on a project no other test uses.
    fresh_project: Any
    #: The suite's C{count_requests(client)}: the requests a client sends from now on.
    count_requests: Any
    #: The suite's C{fails(d, cls, code, title)}: await C{d}, which must fail so.
    fails: Any
    #: The suite's C{refused(calls, f, *args, field=...)}: C{f} refuses at once, sending nothing.
    refused: Any
    #: C{TestCase.assertEqual}, from the test case this is mixed into.
    assertEqual: Any
    #: C{TestCase.assertIn}, from the test case this is mixed into.
    assertIn: Any
    #: C{TestCase.assertIsNone}, from the test case this is mixed into.
    assertIsNone: Any
    #: C{TestCase.assertTrue}, from the test case this is mixed into.
    assertTrue: Any
    #: C{TestCase.addCleanup}, from the test case this is mixed into.
    addCleanup: Any
    #: Whether the backend has Zaqar 23.0.1's quirks.
    server_quirks: bool

    async def test_quirk_dotted_names_listed_cut(self) -> None:
        """
        Quirk 12 of L{txzaqar.testing.quirks}, why the client allows no dot in a queue name: Zaqar 23.0.1 takes
        one (a raw PUT), but on Redis lists the name cut at its first dot.
        """
        if not self.server_quirks:
            raise SkipTest("asserts a Zaqar 23.0.1 server quirk this backend does not claim to have")
        client = self.fresh_project()
        for name in ("a.b", "v1.2.3"):
            await client.connection.put(f"queues/{name}")
            self.addCleanup(client.connection.delete, f"queues/{name}")
        self.assertEqual([q.name for q in await client.queues()], ["a", "v1"])

    async def test_queue_post_size_honoured(self) -> None:
        """
        After C{configure(max_messages_post_size=2000)}, thirty small
        messages fail as one request of 20 (400), and post through a
        L{Queue} that knows the limit (given, or from a detailed listing).
        """
        queue = await self.created()
        await queue.configure(max_messages_post_size=2000)
        await self.fails(queue.post(THIRTY_SMALL), errors.BadRequest, 400)
        small = self.client.queue(queue.name, max_post_size=2000)
        calls = self.count_requests()
        self.assertEqual(len(await small.post(THIRTY_SMALL)), 30)
        self.assertEqual(len([c for c in calls if c[0] == "POST"]), 2)
        self.assertEqual((await queue.stats()).total, 30)

    async def test_detailed_listing_carries_metadata(self) -> None:
        """C{queues(detailed=True)} gives each queue its metadata (C{metadata_snapshot}) and its post size."""
        client = self.fresh_project()
        queue = client.queue(self.name())
        self.addCleanup(queue.delete)
        await queue.create({"colour": "blue"})
        await queue.configure(max_messages_post_size=2000)
        [listed] = await client.queues(detailed=True)
        self.assertEqual((listed.name, listed.max_post_size), (queue.name, 2000))
        snapshot = listed.metadata_snapshot
        self.assertEqual((snapshot.content["colour"], snapshot.max_messages_post_size), ("blue", 2000))
        self.assertEqual(snapshot.default_message_ttl, 3600)
        self.assertEqual(len(await listed.post(THIRTY_SMALL)), 30)
        [plain] = await client.queues()
        self.assertIsNone(plain.metadata_snapshot)

    async def test_configure_creates_the_queue(self) -> None:
        """A metadata PATCH of a missing queue is a 404: configure creates the queue first."""
        queue = self.queue()
        await self.fails(queue.update_metadata({"a": 1}), errors.NotFound, 404)
        metadata = await queue.configure(default_message_ttl=120)
        self.assertEqual(metadata.default_message_ttl, 120)
        self.assertEqual((await queue.metadata()).default_message_ttl, 120)
        [mid] = await queue.post({"body": "x"})
        self.assertEqual((await queue.message(mid)).ttl, 120)

    async def test_popped_messages_are_deleted(self) -> None:
        """Popped messages report C{MessageStatus.DELETED}; they are gone from the queue."""
        queue = self.queue()
        await queue.post([{"body": 1}, {"body": 2}])
        [claimed] = await queue.claim(limit=1)
        self.assertEqual(claimed.status, MessageStatus.CLAIMED)
        [popped] = await queue.pop()
        self.assertEqual((popped.body, popped.status), (2, MessageStatus.DELETED))
        await self.fails(popped.reload(), errors.NotFound, 404)

    async def test_claim_read_back_renews_truthfully(self) -> None:
        """
        A claim from C{get_claim} does not know its grace (the server does
        not show it): renewing it sends none, and the renewed claim shows
        the server's default that then applies (a message that would
        expire first lives claim ttl + 60).
        """
        queue = self.queue()
        [mid] = await queue.post({"body": 1, "ttl": 60})
        claim = await queue.claim(ttl=100, grace=300)
        self.assertEqual((await queue.message(mid)).ttl, 400)
        again = await queue.get_claim(claim.id)
        self.assertIsNone(again.grace)
        renewed = await again.patch(ttl=500)
        self.assertEqual((renewed.ttl, renewed.grace), (500, 60))
        self.assertEqual((await queue.message(mid)).ttl, 560)

    async def test_lone_surrogate(self) -> None:
        """
        The client refuses a lone surrogate before sending; sent anyway, the
        server cannot store it and answers 503 "try again", storing nothing.
        """
        queue = await self.created()
        calls = self.count_requests()
        self.refused(calls, queue.post, {"body": "\ud800"}, field="message 0")
        self.refused(calls, queue.update_metadata, {"k": "\udc00"}, field="metadata")
        raw = b'{"messages":[{"body":"\\ud800"}]}'
        response = await self.client.connection.request(
            "POST", f"queues/{queue.name}/messages", body=raw, idempotent=False, ok=(503,))
        self.assertEqual(response.code, 503)
        self.assertEqual(response.json["title"], "Service temporarily unavailable")
        self.assertIn("Please try again", response.json["description"])
        self.assertEqual(await queue.messages(), [])
        [mid] = await queue.post({"body": "\U0001f600"})
        self.assertEqual((await queue.message(mid)).body, "\U0001f600")
