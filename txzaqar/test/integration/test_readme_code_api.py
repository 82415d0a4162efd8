"""
The README's API tour, continued: "Walking a large queue" and "Sharing a
queue with a signed URL", run against the real Zaqar (helpers and rules as
in L{txzaqar.test.integration.test_readme_code}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

import txzaqar
from txzaqar.test import readme
from txzaqar.test.integration.test_readme_code import Printed, ReadmeTestCase, run_block


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
