"""
The README's API tour, continued: "Walking a large queue", "Sharing a
queue with a signed URL" and "The rest of the API, in brief", run against the real Zaqar (helpers and rules as
in L{txzaqar.test.integration.test_readme_code}).
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest, TestCase

import txzaqar
from txzaqar.test import readme
from txzaqar.test.helpers.readme_code import Printed, ReadmeTestCase, comment_of, run_block
from txzaqar.testing import servers


class WalkingTests(ReadmeTestCase):
    """
    Namespace: C{client} (of the README's project, with one queue of 45
    messages, one a poison), C{queue} is not given: the block defines
    C{audit(queue)}, which this test calls; C{print}.
    """

    async def check(self) -> None:
        block = readme.find_block("Walking a large queue", "async def audit(")
        queue = await self.client.create_queue("walked")
        bodies: list[Any] = [{"type": "ok", "n": n} for n in range(30)]
        bodies += [{"type": "poison"}] + [{"type": "ok", "n": n} for n in range(30, 44)]
        ids = await queue.post([{"body": b} for b in bodies])
        printed = Printed()
        namespace: dict[str, Any] = {"client": self.client, "print": printed}
        await run_block(block, namespace, self.url)
        # one queue in the project: its name and the count, the count alone, the HEAD ping
        self.assertEqual(printed.lines, ["walked of 1", "1", "True"])
        marker = await namespace["audit"](queue)
        self.assertEqual(marker, ids[30])  # stopped at the poison message
        rest = await namespace["audit"](queue, saved_marker=marker)
        self.assertEqual(rest, ids[-1])  # resumed after it and walked to the end

    def test_walking(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())


class SharingTests(ReadmeTestCase):
    """
    Namespace: C{queue} (a queue of the README's project on a server with a
    C{[signed_url] secret_key}), C{handle}, C{txzaqar} and C{print}; the
    document's example URL becomes the real server's.
    """

    async def check(self) -> None:
        block = readme.find_block("Sharing a queue with a signed URL", "import datetime, json")
        queue = await self.client.create_queue("wot")
        printed = Printed()
        namespace: dict[str, Any] = {
            "queue": queue, "handle": lambda message: None, "txzaqar": txzaqar, "print": printed,
        }
        await run_block(block, namespace, self.url, {"https://zaqar.example:8888": self.url})
        shared = namespace["shared"]
        self.addCleanup(shared.close)
        [message] = await queue.messages()
        self.assertEqual(message.body, "from a partner")
        self.assertEqual(namespace["subscriber"].channels, frozenset({"wot"}))
        [line] = printed.lines
        self.assertIn("GET", line)

    def test_sharing(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())


class RestOfTheAPITests(ReadmeTestCase):
    """
    "The rest of the API, in brief": the block defines C{more(client,
    admin)}, which this test calls with the README's project client and an
    admin client; every printed line is the comment beside its C{print}.
    """

    async def check(self) -> None:
        block = readme.find_block("The rest of the API, in brief", "async def more(")
        printed = Printed()
        namespace: dict[str, Any] = {"print": printed}
        await run_block(block, namespace, self.url)
        admin = txzaqar.connect(self.url, project_id="readme-ops", roles=["admin"], reactor=reactor)
        self.addCleanup(admin.close)
        await namespace["more"](self.client, admin)
        expected = [line.split(" # ", 1)[1].strip() for line in block.text.splitlines()
                    if line.strip().startswith("print(")]
        self.assertEqual(printed.lines, expected)
        queue = self.client.queue("jobs")
        self.assertEqual(sorted(m.body for m in await queue.messages(include_claimed=True)), [3, 4, 5])
        self.assertEqual(await queue.subscriptions(), [])

    def test_more(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())


class PoolsAndFlavorsTests(TestCase):
    """
    "The rest of the API, in brief", the pools block: run against the
    harness's pooling Zaqar, its example Redis URI replaced by a spare
    database of the harness's Redis.
    """

    timeout = 120

    async def check(self) -> None:
        try:
            zaqar = servers.shared_zaqar(pooling=True)
        except servers.HarnessError as e:
            self.fail(f"could not start a pooling Zaqar: {e}")
        redis = getattr(zaqar, "redis", None)
        if redis is None:
            raise SkipTest("an external pooling Zaqar: no spare Redis database to make a pool of")
        uri = redis.uri(redis.allocate_db())
        block = readme.find_block("The rest of the API, in brief", "async def pools_and_flavors(")
        printed = Printed()
        namespace: dict[str, Any] = {"print": printed}
        await run_block(block, namespace, zaqar.url, {"redis://127.0.0.1:6379?dbid=2": uri})
        admin = txzaqar.connect(zaqar.url, project_id=f"readme-{uuid.uuid4().hex[:8]}",
                                roles=["admin"], reactor=reactor)
        self.addCleanup(admin.close)
        await namespace["pools_and_flavors"](admin)
        self.assertEqual(printed.lines, [comment_of(block, "print(")])
        self.assertNotIn("redis1", [p["name"] for p in await admin.pools()])
        self.assertEqual(await admin.flavors(), [])

    def test_pools_and_flavors(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())
