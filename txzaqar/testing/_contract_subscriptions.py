"""
The contract tests of subscriptions (24-29): a mixin of the suite that
L{txzaqar.testing.contract.zaqar_contract_tests} builds (kept apart so
that no module of the suite is long).  It uses the suite's helpers and
runs on every backend the suite runs on.
"""

from __future__ import annotations

import uuid

from .. import errors
from ..api import _paths
from ..api.subscription import Subscription
from ._contract_mixin import HOOK, ContractMixin

__all__ = ["SubscriptionsContractTests"]


class SubscriptionsContractTests(ContractMixin):
    """Mixed into the contract suite's C{TestCase}; not a test case by itself."""

    # -- 24-29: subscriptions --------------------------------------

    async def test_subscription_lifecycle(self) -> None:
        queue = self.queue()  # subscribing creates the queue
        subscription = await queue.subscribe(HOOK, ttl=600, options={"post_data": "x"})
        self.assertIsInstance(subscription, Subscription)
        self.assertEqual(subscription.subscriber, HOOK)
        self.assertEqual(subscription.ttl, 600)
        self.assertEqual(subscription.options, {"post_data": "x"})
        self.assertIs(subscription.confirmed, False)
        self.assertIsInstance(subscription.age, int)
        self.assertIs(await queue.create(), False, "subscribing created the queue")
        # list and get
        mail = await queue.subscribe("mailto:ops@example.com")
        self.assertEqual(mail.ttl, 3600)
        listed = await queue.subscriptions(limit=1)
        self.assertEqual(sorted(s.id for s in listed), sorted([subscription.id, mail.id]))
        got = await queue.subscription(subscription.id)
        self.assertEqual((got.id, got.subscriber, got.ttl), (subscription.id, HOOK, 600))
        # patch: options are replaced, not merged
        updated = await subscription.update(ttl=900, options={"post_headers": {"a": "b"}})
        self.assertEqual(updated.ttl, 900)
        reloaded = await updated.reload()
        self.assertEqual(reloaded.ttl, 900)
        self.assertEqual(reloaded.options, {"post_headers": {"a": "b"}})
        moved = await reloaded.update(subscriber="https://127.0.0.1:9/other")
        self.assertEqual((await moved.reload()).subscriber, "https://127.0.0.1:9/other")
        # delete
        await subscription.delete()
        await self.fails(subscription.reload(), errors.NotFound, 404, "Not found")
        self.assertEqual([s.id for s in await queue.subscriptions()], [mail.id])
        await subscription.delete()  # idempotent

    async def test_subscribe_unconfirmed_duplicate_same_id(self) -> None:
        queue = self.queue()
        first = await queue.subscribe(HOOK)
        second = await queue.subscribe(HOOK, ttl=120)
        self.assertEqual(second.id, first.id)
        self.assertEqual(len(await queue.subscriptions()), 1)

    async def test_confirm_and_confirmed_duplicate_409(self) -> None:
        queue = self.queue()
        subscription = await queue.subscribe(HOOK)
        await subscription.confirm()
        self.assertIs((await subscription.reload()).confirmed, True)
        await self.fails(queue.subscribe(HOOK), errors.Conflict, 409, "Resource conflict")
        await subscription.confirm(False)
        self.assertIs((await subscription.reload()).confirmed, False)

    async def test_patch_duplicate_subscriber_409(self) -> None:
        queue = self.queue()
        first = await queue.subscribe(HOOK)
        second = await queue.subscribe("mailto:ops@example.com")
        await first.confirm()
        await self.fails(second.update(subscriber=HOOK), errors.Conflict, 409)

    async def test_subscription_missing_404(self) -> None:
        queue = await self.created()
        missing = Subscription(queue, str(uuid.uuid4()))
        await self.fails(queue.subscription(missing.id), errors.NotFound, 404)
        await self.fails(missing.update(ttl=100), errors.NotFound, 404)
        await self.fails(missing.confirm(), errors.NotFound, 404)
        await missing.delete()  # idempotent

    async def test_subscriptions_of_missing_queue(self) -> None:
        self.assertEqual(await self.queue().subscriptions(), [])

    async def test_subscription_bad_requests_400(self) -> None:
        queue = await self.created()
        path = _paths.subscriptions(queue.name).path
        conn = self.client.connection
        await self.fails(conn.post(path, body={"ttl": 100}), errors.BadRequest, 400)
        await self.fails(conn.post(path, body={"subscriber": "ftp://x"}), errors.BadRequest, 400)
        await self.fails(conn.post(path, body={"subscriber": HOOK, "ttl": 10}),
                         errors.BadRequest, 400)
        subscription = await queue.subscribe(HOOK)
        await self.fails(conn.patch(_paths.subscription(subscription.queue.name, subscription.id).path, body={"colour": "red"}),
                         errors.BadRequest, 400, "Unable to update subscription")
        await self.fails(conn.put(_paths.confirm(subscription.queue.name, subscription.id).path, body={"confirmed": "yes"}),
                         errors.BadRequest, 400)

    async def test_subscription_refused_client_side(self) -> None:
        queue = self.queue()
        calls = self.count_requests()
        self.refused(calls, queue.subscribe, "ftp://example.com", field="subscriber")
        self.refused(calls, queue.subscribe, "", field="subscriber")
        self.refused(calls, queue.subscribe, HOOK, ttl=59, field="subscription ttl")
        self.refused(calls, queue.subscribe, HOOK, options=["x"], field="options")
        self.refused(calls, queue.subscriptions, limit=21, field="limit")
        self.refused(calls, queue.subscription, "", field="subscription_id")
        subscription = Subscription(queue, str(uuid.uuid4()))
        self.refused(calls, subscription.update, field="update")
        self.refused(calls, subscription.update, ttl=1, field="subscription ttl")
        self.refused(calls, subscription.confirm, "yes", field="confirmed")
