"""
The contract tests of claims (20-23): claiming, reading, renewing and releasing, dead-letter moves: a mixin of the suite that
L{txzaqar.testing.contract.zaqar_contract_tests} builds (kept apart so
that no module of the suite is long).  It uses the suite's helpers and
runs on every backend the suite runs on.
"""

from __future__ import annotations

import uuid

from .. import errors
from ..api import _paths
from ..api.claim import Claim
from ..api.message import MessageStatus
from ._contract_mixin import ContractMixin, server_quirk

__all__ = ["ClaimsContractTests"]


class ClaimsContractTests(ContractMixin):
    """Mixed into the contract suite's C{TestCase}; not a test case by itself."""

    # -- 20-23: claims ---------------------------------------------

    async def test_claim_lifecycle(self) -> None:
        queue = self.queue()
        ids = await queue.post([{"body": i, "ttl": 600} for i in range(4)])
        claim = await queue.claim(limit=3, ttl=90, grace=60)
        self.assertIsInstance(claim, Claim)
        self.assertTrue(claim)
        self.assertEqual(len(claim), 3)
        self.assertEqual([m.id for m in claim], ids[:3])
        self.assertEqual(claim.ttl, 90)
        self.assertEqual(claim.href, f"/v2/queues/{queue.name}/claims/{claim.id}")
        for message in claim:
            self.assertEqual(message.status, MessageStatus.CLAIMED)
            self.assertEqual(message.claim_id, claim.id)
            self.assertIn(f"claim_id={claim.id}", message.href)
        # GET the claim
        got = await queue.get_claim(claim.id)
        self.assertEqual(got.id, claim.id)
        self.assertEqual(got.ttl, 90)
        self.assertIsInstance(got.age, int)
        self.assertEqual(sorted(m.id for m in got), sorted(ids[:3]))
        # The claimed message reads as claimed.
        self.assertEqual((await queue.message(ids[0])).status, MessageStatus.CLAIMED)
        self.assertEqual((await queue.message(ids[3])).status, MessageStatus.FREE)
        # Another claim gets only what is left.
        rest = await queue.claim()
        self.assertEqual([m.id for m in rest], ids[3:])
        # Delete a message under its claim.
        await claim.messages[0].delete()
        await self.fails(queue.message(ids[0]), errors.NotFound, 404)
        # PATCH the claim
        renewed = await claim.patch(ttl=200)
        self.assertEqual((renewed.ttl, renewed.grace), (200, 60))
        self.assertEqual((await renewed.reload()).ttl, 200)
        # DELETE the claim: its messages are free again.
        await renewed.release()
        await self.fails(queue.get_claim(claim.id), errors.NotFound, 404, "Not found")
        self.assertEqual((await queue.message(ids[1])).status, MessageStatus.FREE)
        again = await queue.claim(limit=2)
        self.assertEqual([m.id for m in again], ids[1:3])
        await renewed.release()  # idempotent

    async def test_claim_defaults(self) -> None:
        queue = self.queue()
        await queue.post([{"body": i} for i in range(12)])
        claim = await queue.claim()
        self.assertEqual(len(claim), 10, "the default claim limit is 10")
        self.assertEqual((await claim.reload()).ttl, 300)

    async def test_claim_empty_queue_is_falsy(self) -> None:
        """Claims answer 204 when nothing is claimable: an empty claim."""
        for queue in (await self.created(), self.queue()):
            claim = await queue.claim()
            self.assertFalse(claim)
            self.assertEqual(len(claim), 0)
            self.assertIsNone(claim.id)
            await claim.release()
            self.assertIs(await claim.patch(ttl=100), claim)

    async def test_claim_patch_keeps_grace(self) -> None:
        """
        Renewing a claim keeps its grace (the server would reset it to 60):
        a message that would expire before the claim lives claim ttl + grace.
        """
        queue = self.queue()
        [mid] = await queue.post({"body": 1, "ttl": 60})
        claim = await queue.claim(ttl=100, grace=300)
        self.assertEqual((await queue.message(mid)).ttl, 400)
        renewed = await claim.patch(ttl=500)
        self.assertEqual(renewed.grace, 300)
        self.assertEqual((await queue.message(mid)).ttl, 800)
        grace = await renewed.patch(ttl=1000, grace=120)
        self.assertEqual(grace.grace, 120)
        self.assertEqual((await queue.message(mid)).ttl, 1120)

    async def test_claim_release_makes_messages_claimable(self) -> None:
        queue = self.queue()
        ids = await queue.post([{"body": 1}, {"body": 2}])
        first = await queue.claim()
        self.assertFalse(await queue.claim())
        await first.release()
        second = await queue.claim()
        self.assertEqual([m.id for m in second], ids)
        self.assertNotEqual(second.id, first.id)

    @server_quirk
    async def test_quirk_claim_after_release_takes_later_claims_messages(self) -> None:
        """
        Quirk 10 of L{txzaqar.testing.quirks}: on Redis a claim scans from the oldest
        message and, after the first free one, takes every later message
        even if another live claim holds it (C{claim_messages.lua}
        assumes claims are released in order).  So after releasing an
        older claim, a new claim also takes the messages of a newer,
        still valid claim: they are delivered twice.
        """
        queue = self.queue()
        ids = await queue.post([{"body": 1}, {"body": 2}])
        older = await queue.claim(limit=1)
        newer = await queue.claim(limit=1)
        self.assertEqual(([m.id for m in older], [m.id for m in newer]), (ids[:1], ids[1:]))
        await older.release()
        third = await queue.claim()
        self.assertEqual([m.id for m in third], ids)
        still = await newer.reload()
        self.assertEqual([m.id for m in still], ids[1:], "the newer claim still lists it")
        self.assertEqual((await queue.message(ids[1])).claim_id, third.id)

    async def test_delete_claimed_message_without_claim_403(self) -> None:
        queue = self.queue()
        [mid] = await queue.post({"body": 1})
        claim = await queue.claim()
        e = await self.fails(queue.delete_message(mid), errors.Forbidden, 403, "Unable to delete")
        self.assertIn("claim", e.description)
        self.assertEqual((await queue.message(mid)).claim_id, claim.id)

    async def test_delete_with_wrong_claim_400(self) -> None:
        queue = self.queue()
        [claimed, free] = await queue.post([{"body": 1}, {"body": 2}])
        await queue.claim(limit=1)
        await self.fails(queue.delete_message(claimed, claim_id=str(uuid.uuid4())),
                         errors.BadRequest, 400, "Unable to delete")
        await self.fails(queue.delete_message(free, claim_id=str(uuid.uuid4())),
                         errors.BadRequest, 400, "Unable to delete")

    async def test_claim_missing_404(self) -> None:
        queue = await self.created()
        await self.fails(queue.get_claim(str(uuid.uuid4())), errors.NotFound, 404)
        await self.fails(Claim(queue, str(uuid.uuid4())).patch(ttl=100), errors.NotFound, 404)
        await Claim(queue, str(uuid.uuid4())).release()  # idempotent

    async def test_claim_patch_empty_body_400(self) -> None:
        queue = self.queue()
        await queue.post({"body": 1})
        claim = await queue.claim()
        e = await self.fails(self.client.connection.patch(_paths.claim(claim.queue.name, str(claim.id)).path),
                             errors.BadRequest, 400, "Invalid request body")
        self.assertIn("empty", e.description)

    async def test_claim_bad_ttl_400(self) -> None:
        queue = await self.created()
        await self.fails(
            self.client.connection.post(_paths.claims(queue.name).path, body={"ttl": 59}),
            errors.BadRequest, 400, "Invalid API request")
        await self.fails(
            self.client.connection.post(_paths.claims(queue.name).path, body={"ttl": None}),
            errors.BadRequest, 400, "Invalid request body")

    async def test_claims_collection_get_405(self) -> None:
        queue = await self.created()
        await self.fails(self.client.connection.get(_paths.claims(queue.name).path),
                         errors.MethodNotAllowed, 405)

    async def test_claim_refused_client_side(self) -> None:
        queue = self.queue()
        calls = self.count_requests()
        self.refused(calls, queue.claim, ttl=59, field="claim ttl")
        self.refused(calls, queue.claim, ttl=43201, field="claim ttl")
        self.refused(calls, queue.claim, grace=59, field="claim grace")
        self.refused(calls, queue.claim, grace=43201, field="claim grace")
        self.refused(calls, queue.claim, limit=21, field="limit")
        self.refused(calls, queue.claim, limit=0, field="limit")
        self.refused(calls, queue.claim, ttl=True, field="claim ttl")
        claim = Claim(queue, str(uuid.uuid4()))
        self.refused(calls, claim.patch, ttl=30, field="claim ttl")
        self.refused(calls, claim.patch, grace=50000, field="claim grace")
        self.refused(calls, queue.get_claim, "", field="claim_id")

    async def test_dead_letter_queue(self) -> None:
        """
        With C{max_claim_count=1} a message claimed once is moved to the
        dead letter queue on the next claim attempt, which claims nothing.
        """
        dlq = await self.created("dlq")
        queue = await self.created()
        metadata = await queue.configure(max_claim_count=1, dead_letter_queue=dlq.name)
        self.assertEqual((metadata.max_claim_count, metadata.dead_letter_queue), (1, dlq.name))
        [mid] = await queue.post({"body": "poison", "ttl": 600})
        first = await queue.claim()
        self.assertEqual([m.id for m in first], [mid])
        await first.release()
        self.assertEqual([m.id for m in await queue.messages()], [mid])
        second = await queue.claim()
        self.assertFalse(second, "the moved message is left out of the claim")
        self.assertEqual((await queue.stats()).total, 0)
        self.assertEqual(await queue.messages(include_claimed=True), [])
        self.assertEqual((await dlq.stats()).total, 1)
        [moved] = await dlq.messages(include_claimed=True)
        self.assertEqual((moved.id, moved.body), (mid, "poison"))
        if moved.claim_id:
            # Zaqar leaves it under the claim that moved it (a claim of
            # the source queue): releasing that claim frees it.
            await Claim(queue, moved.claim_id).release()
        [visible] = await dlq.messages()
        self.assertEqual((visible.id, visible.status), (mid, MessageStatus.FREE))
        dead = await dlq.claim()
        self.assertEqual([m.id for m in dead], [mid])

    @server_quirk
    async def test_quirk_3_dlq_moved_message_stays_claimed(self) -> None:
        """
        Quirk 11 of L{txzaqar.testing.quirks}: the message moved to the dead letter queue keeps the
        id of the claim attempt that moved it (which answered 204 and so
        is known only from the message), stays hidden in the DLQ until
        that claim goes, and the claim belongs to the source queue.
        """
        dlq = await self.created("dlq")
        queue = await self.created(metadata={"_max_claim_count": 1,
                                             "_dead_letter_queue": dlq.name})
        [mid] = await queue.post({"body": "poison"})
        first = await queue.claim()
        await first.release()
        self.assertFalse(await queue.claim())
        self.assertEqual(await dlq.messages(), [])
        [moved] = await dlq.messages(include_claimed=True)
        self.assertEqual(moved.status, MessageStatus.CLAIMED)
        self.assertNotEqual(moved.claim_id, first.id)
        await self.fails(dlq.get_claim(moved.claim_id), errors.NotFound, 404)
        hidden = await queue.get_claim(moved.claim_id)
        self.assertEqual([m.id for m in hidden], [mid])
        await first.release()
        self.assertEqual(await dlq.messages(), [], "releasing the first claim does not help")
        await hidden.release()
        self.assertEqual([m.id for m in await dlq.messages()], [mid])
