"""
L{txzaqar.api.values}: the values a queue hands out and the splitting of a post.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.api.queue import split_post
from txzaqar.errors import ClientValidationError


class SplitPostTests(SynchronousTestCase):
    def test_by_count(self) -> None:
        chunks = split_post([{"body": i} for i in range(45)], 262144)
        self.assertEqual([len(docs) for docs, _ in chunks], [20, 20, 5])
        bodies = [json.loads(raw) for _, raw in chunks]
        self.assertEqual([m["body"] for b in bodies for m in b["messages"]], list(range(45)))

    def test_by_size(self) -> None:
        big = "x" * 100_000
        chunks = split_post([{"body": big}] * 3, 262144)
        self.assertEqual([len(docs) for docs, _ in chunks], [2, 1])
        self.assertTrue(all(len(raw) <= 262144 for _, raw in chunks))

    def test_exact_fit(self) -> None:
        overhead = len(b'{"messages":[]}')
        doc = {"body": ""}
        one = len(json.dumps(doc, separators=(",", ":")))
        limit = overhead + 2 * one + 1  # two messages and a comma fit exactly
        chunks = split_post([doc] * 3, limit)
        self.assertEqual([len(d) for d, _ in chunks], [2, 1])
        self.assertEqual(len(chunks[0][1]), limit)

    def test_single_message_too_large(self) -> None:
        error = self.assertRaises(ClientValidationError, split_post, [{"body": "x" * 262144}], 262144)
        self.assertIn("at most 262144 bytes", str(error))
