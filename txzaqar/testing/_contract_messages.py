"""
The contract tests of messages: posting (13), listing (14), reading, bulk deleting and popping (15-19): a mixin of the suite that
L{txzaqar.testing.contract.zaqar_contract_tests} builds (kept apart so
that no module of the suite is long).  It uses the suite's helpers and
runs on every backend the suite runs on.
"""

from __future__ import annotations

import uuid

import attr

from .. import errors
from ..api import _paths
from ..api.message import MessageStatus
from ._contract_mixin import MAX_POST_SIZE, ContractMixin, server_quirk

__all__ = ["MessagesContractTests"]


class MessagesContractTests(ContractMixin):
    """Mixed into the contract suite's C{TestCase}; not a test case by itself."""

    # -- 13: post ------------------------------------------------------

    async def test_post_and_get_one(self) -> None:
        queue = self.queue()  # posting creates the queue
        ids = await queue.post({"body": {"event": "created", "n": [1, 2]}, "ttl": 120})
        self.assertEqual(len(ids), 1)
        message = await queue.message(ids[0])
        self.assertEqual(message.id, ids[0])
        self.assertEqual(message.body, {"event": "created", "n": [1, 2]})
        self.assertEqual(message.ttl, 120)
        self.assertIsInstance(message.age, int)
        self.assertEqual(message.href, f"/v2/queues/{queue.name}/messages/{ids[0]}")
        self.assertEqual(message.status, MessageStatus.FREE)
        self.assertIsNone(message.claim_id)
        self.assertIs(await queue.create(), False, "the post created the queue")

    async def test_post_bodies_and_default_ttl(self) -> None:
        queue = self.queue()
        bodies = ["text", 42, 1.5, [1, "two"], {"nested": {"k": None}}, True]
        ids = await queue.post([{"body": b} for b in bodies], ttl=300)
        self.assertEqual(len(set(ids)), len(bodies))
        messages = await queue.get_messages(ids)
        self.assertEqual({m.id: m.body for m in messages}, dict(zip(ids, bodies, strict=True)))
        self.assertEqual({m.ttl for m in messages}, {300})
        # Without a ttl the queue default applies.
        [plain] = await queue.post({"body": 0})
        self.assertEqual((await queue.message(plain)).ttl, 3600)

    async def test_post_45_messages(self) -> None:
        """Posting 45 messages in one call stores 45 messages using at least 3 requests."""
        queue = self.queue()
        calls = self.count_requests()
        ids = await queue.post([{"body": {"n": i}} for i in range(45)])
        self.assertEqual(len(ids), 45)
        self.assertEqual(len(set(ids)), 45)
        self.assertGreaterEqual(len(self.posts(calls, queue)), 3)
        self.assertEqual((await queue.stats()).total, 45)
        listed = await queue.messages(limit=20)
        self.assertEqual([m.id for m in listed], ids, "stored in order")
        self.assertEqual([m.body["n"] for m in listed], list(range(45)))

    async def test_post_over_size_limit_is_split(self) -> None:
        """A batch over the size limit is split, and every message is stored."""
        queue = self.queue()
        calls = self.count_requests()
        bodies = [c * 100_000 for c in "abc"]
        ids = await queue.post([{"body": b} for b in bodies])
        self.assertGreaterEqual(len(self.posts(calls, queue)), 2)
        self.assertEqual(len(ids), 3)
        messages = {m.id: m.body for m in await queue.get_messages(ids)}
        self.assertEqual([messages[i] for i in ids], bodies)

    async def test_post_single_message_over_limit_refused_client_side(self) -> None:
        """A single message over the limit is refused client-side with a clear error."""
        queue = self.queue()
        calls = self.count_requests()
        e = self.refused(calls, queue.post, {"body": "x" * MAX_POST_SIZE}, field="messages")
        self.assertIn(str(MAX_POST_SIZE), e.description)
        self.assertIn("bytes", e.description)
        self.assertIn(str(MAX_POST_SIZE), str(e))
        self.assertEqual((await queue.stats()).total, 0)

    async def test_post_over_queue_post_size_400(self) -> None:
        """The queue's own C{_max_messages_post_size} is enforced by the server."""
        queue = await self.created(metadata={"_max_messages_post_size": 1000})
        await self.fails(queue.post({"body": "y" * 2000}), errors.BadRequest, 400,
                         "Invalid API request")
        smaller = attr.evolve(queue, max_post_size=1000)
        calls = self.count_requests()
        self.refused(calls, smaller.post, {"body": "y" * 2000}, field="messages")
        ids = await smaller.post([{"body": "z" * 400} for _ in range(4)])
        self.assertGreaterEqual(len(self.posts(calls, queue)), 2)
        self.assertEqual((await queue.stats()).total, 4)
        self.assertEqual(len(ids), 4)

    async def test_post_refused_client_side(self) -> None:
        queue = self.queue()
        calls = self.count_requests()
        self.refused(calls, queue.post, [], field="messages")
        self.refused(calls, queue.post, [{"no": "body"}], field="messages")
        self.refused(calls, queue.post, [{"body": 1, "colour": "x"}], field="messages")
        self.refused(calls, queue.post, "body", field="messages")
        self.refused(calls, queue.post, {"body": 1, "ttl": 59}, field="message ttl")
        self.refused(calls, queue.post, {"body": 1, "ttl": 1209601}, field="message ttl")
        self.refused(calls, queue.post, {"body": 1}, ttl="60", field="message ttl")
        self.refused(calls, queue.post, {"body": 1, "delay": 901}, field="message delay")
        self.refused(calls, queue.post, {"body": 1}, delay=-1, field="message delay")

    async def test_post_bad_ttl_400(self) -> None:
        queue = self.queue()
        await self.fails(
            self.client.connection.post(_paths.messages(queue.name).path,
                                        body={"messages": [{"body": 1, "ttl": 59}]}),
            errors.BadRequest, 400, "Invalid API request")

    async def test_post_empty_list_400(self) -> None:
        queue = self.queue()
        await self.fails(
            self.client.connection.post(_paths.messages(queue.name).path, body={"messages": []}),
            errors.BadRequest, 400)

    async def test_post_missing_body_400(self) -> None:
        queue = self.queue()
        e = await self.fails(
            self.client.connection.post(_paths.messages(queue.name).path,
                                        body={"messages": [{"ttl": 60}]}),
            errors.BadRequest, 400, "Invalid request body")
        self.assertIn("body", e.description)

    async def test_bad_query_parameter_400(self) -> None:
        queue = await self.created()
        e = await self.fails(
            self.client.connection.get(_paths.messages(queue.name).path, params={"limit": "many"}),
            errors.BadRequest, 400, "Invalid parameter")
        self.assertIn("limit", e.description)

    # -- 14: list --------------------------------------------------

    async def test_list_messages_paging(self) -> None:
        queue = self.queue()
        ids = await queue.post([{"body": i} for i in range(7)])
        calls = self.count_requests()
        listed = await queue.messages(limit=2)
        self.assertEqual([m.id for m in listed], ids)
        self.assertLessEqual(len(calls), 6)
        self.assertEqual([m.id for m in await queue.messages(limit=1)], ids)
        self.assertEqual([m.id for m in await queue.messages(max_items=3)], ids[:3])

    async def test_list_messages_missing_queue(self) -> None:
        self.assertEqual(await self.queue().messages(), [])

    async def test_list_echo(self) -> None:
        """The server hides a client's own messages unless C{echo} is true."""
        queue = self.queue()
        ids = await queue.post([{"body": 1}, {"body": 2}])
        self.assertEqual([m.id for m in await queue.messages()], ids)
        self.assertEqual(await queue.messages(echo=False), [])
        other = self.sibling(roles=["admin"], client_id=str(uuid.uuid4()))
        seen = await other.queue(queue.name).messages(echo=False)
        self.assertEqual([m.id for m in seen], ids)

    async def test_list_hides_claimed_unless_include_claimed(self) -> None:
        """Paging with include_claimed (the client defends against quirk 2 of L{txzaqar.testing.quirks})."""
        queue = self.queue()
        ids = await queue.post([{"body": i} for i in range(5)])
        claim = await queue.claim(limit=2)
        self.assertEqual([m.id for m in claim], ids[:2])
        free = await queue.messages(limit=2)
        self.assertEqual([m.id for m in free], ids[2:])
        self.assertTrue(all(m.status is MessageStatus.FREE for m in free))
        everything = await queue.messages(limit=2, include_claimed=True)
        self.assertEqual([m.id for m in everything], ids)
        self.assertEqual([m.status for m in everything],
                         [MessageStatus.CLAIMED] * 2 + [MessageStatus.FREE] * 3)
        self.assertEqual({m.claim_id for m in everything[:2]}, {claim.id})
        self.assertIn(f"claim_id={claim.id}", everything[0].href)

    @server_quirk
    async def test_quirk_8_2_include_claimed_without_marker_503(self) -> None:
        """Quirk 2 of L{txzaqar.testing.quirks}: include_claimed=true without a marker gives 503."""
        queue = self.queue()
        await queue.post({"body": 1})
        await self.fails(
            self.client.connection.get(_paths.messages(queue.name).path,
                                       params={"include_claimed": True, "echo": True},
                                       idempotent=False),
            errors.ServiceUnavailable, 503, "Service temporarily unavailable")

    async def test_delayed_messages(self) -> None:
        """Delayed messages are hidden from lists and claims unless include_delayed."""
        queue = await self.created(metadata={"_default_message_delay": 30})
        [delayed] = await queue.post({"body": "later"})
        [now] = await queue.post({"body": "now", "delay": 0})
        self.assertEqual([m.id for m in await queue.messages()], [now])
        self.assertEqual({m.id for m in await queue.messages(include_delayed=True)},
                         {delayed, now})
        self.assertEqual((await queue.message(delayed)).body, "later")
        claim = await queue.claim()
        self.assertEqual([m.id for m in claim], [now])
        self.assertEqual((await queue.stats()).total, 2)

    @server_quirk
    async def test_quirk_8_4_delay_ignored_without_default_delay(self) -> None:
        """Quirk 4 of L{txzaqar.testing.quirks}: a per-message delay is dropped on a queue without a default delay."""
        queue = self.queue()
        [mid] = await queue.post({"body": 1, "delay": 600})
        self.assertEqual([m.id for m in await queue.messages()], [mid])
        await self.client.connection.post(  # even an out-of-range delay
            _paths.messages(queue.name).path, body={"messages": [{"body": 2, "delay": 901}]})
        self.assertEqual(len(await queue.messages()), 2)

    async def test_encrypted_queue_reads_plaintext(self) -> None:
        """C{_enable_encrypt_messages}: GET and list return the body as posted."""
        queue = await self.created()
        metadata = await queue.configure(enable_encrypt_messages=True)
        self.assertIs(metadata.enable_encrypt_messages, True)
        ids = await queue.post([{"body": {"secret": 1}}, {"body": "two"}])
        self.assertEqual([m.body for m in await queue.messages()], [{"secret": 1}, "two"])
        self.assertEqual((await queue.message(ids[0])).body, {"secret": 1})
        self.assertEqual([m.body for m in await queue.get_messages(ids)], [{"secret": 1}, "two"])

    # -- 15-19: get many, bulk delete, pop, get/delete one ---------------

    async def test_get_many(self) -> None:
        queue = self.queue()
        ids = await queue.post([{"body": i} for i in range(25)])
        calls = self.count_requests()
        missing = str(uuid.uuid4())
        found = await queue.get_messages(ids + [missing])
        self.assertEqual(sorted(m.id for m in found), sorted(ids))
        self.assertGreaterEqual(len(calls), 2, "20 ids per request")
        self.assertEqual({m.id: m.body for m in found}, dict(zip(ids, range(25), strict=True)))
        self.assertEqual(await queue.get_messages([missing]), [])

    async def test_get_many_none_found_404(self) -> None:
        queue = await self.created()
        await self.fails(
            self.client.connection.get(_paths.messages(queue.name).path,
                                       params={"ids": [str(uuid.uuid4())]}),
            errors.NotFound, 404)

    async def test_get_many_too_many_ids_400(self) -> None:
        queue = await self.created()
        await self.fails(
            self.client.connection.get(_paths.messages(queue.name).path,
                                       params={"ids": [str(uuid.uuid4()) for _ in range(21)]}),
            errors.BadRequest, 400)

    async def test_bulk_delete(self) -> None:
        queue = self.queue()
        ids = await queue.post([{"body": i} for i in range(25)])
        calls = self.count_requests()
        await queue.delete_messages(ids[:22])
        self.assertGreaterEqual(len([c for c in calls if c[0] == "DELETE"]), 2)
        self.assertEqual([m.id for m in await queue.messages()], ids[22:])
        await queue.delete_messages(ids[:22])  # idempotent

    async def test_bulk_delete_ids_and_pop_400(self) -> None:
        queue = await self.created()
        await self.fails(
            self.client.connection.delete(_paths.messages(queue.name).path,
                                          params={"ids": [str(uuid.uuid4())], "pop": 1}),
            errors.BadRequest, 400)
        await self.fails(self.client.connection.delete(_paths.messages(queue.name).path),
                         errors.BadRequest, 400)

    async def test_pop(self) -> None:
        queue = self.queue()
        ids = await queue.post([{"body": i} for i in range(3)])
        popped = await queue.pop(2)
        self.assertEqual([m.id for m in popped], ids[:2])
        self.assertEqual([m.body for m in popped], [0, 1])
        self.assertEqual([m.id for m in await queue.messages()], ids[2:])
        self.assertEqual([m.id for m in await queue.pop(5)], ids[2:])
        self.assertEqual(await queue.pop(), [], "pop of an empty queue is 200 with nothing")
        self.assertEqual(await self.queue().pop(), [], "and of a missing queue too")

    async def test_get_missing_message_404(self) -> None:
        queue = await self.created()
        e = await self.fails(queue.message(str(uuid.uuid4())), errors.NotFound, 404, "Not found")
        self.assertIn("does not exist", e.description)
        await self.fails(queue.message("not-even-a-uuid"), errors.NotFound, 404)

    async def test_message_reload_and_delete(self) -> None:
        queue = self.queue()
        [mid] = await queue.post({"body": "me"})
        message = await queue.message(mid)
        reloaded = await message.reload()
        self.assertEqual((reloaded.id, reloaded.body), (mid, "me"))
        self.assertEqual(reloaded, attr.evolve(message, age=reloaded.age))
        await message.delete()
        await self.fails(message.reload(), errors.NotFound, 404)
        await message.delete()  # idempotent
        await queue.delete_message(str(uuid.uuid4()))  # a missing message too
        await self.queue().delete_message(str(uuid.uuid4()))  # and a missing queue

    async def test_message_ids_refused_client_side(self) -> None:
        queue = self.queue()
        calls = self.count_requests()
        self.refused(calls, queue.message, "", field="message_id")
        self.refused(calls, queue.message, "a/b", field="message_id")
        self.refused(calls, queue.get_messages, "abc", field="message_ids")
        self.refused(calls, queue.delete_messages, ["ok", ""], field="message_ids")
        self.refused(calls, queue.delete_message, "x?y", field="message_id")
        self.refused(calls, queue.pop, 0, field="count")
        self.refused(calls, queue.pop, 21, field="count")
        self.refused(calls, queue.messages, limit=21, field="limit")
        self.refused(calls, queue.messages, limit=0, field="limit")
        self.refused(calls, self.client.queues, limit=21, field="limit")
