"""
Unit tests of the pieces that need no server: validation, post
splitting, loop-proof paging.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import _paging
from txzaqar import _validation as v
from txzaqar.connection import Response
from txzaqar.errors import ClientValidationError
from txzaqar.queue import split_post


class ValidationTests(SynchronousTestCase):
    def test_queue_names(self) -> None:
        for good in ("q", "a.b-c_D9", "x" * 64):
            self.assertEqual(v.queue_name(good), good)
        for bad, words in (("", "empty"), ("x" * 65, "at most 64"), ("a/b", "letters"),
                           ("sp ace", "letters"), (3, "string")):
            error = self.assertRaises(ClientValidationError, v.queue_name, bad)
            self.assertEqual(error.field, "queue name")
            self.assertIn(words, str(error))

    def test_integer_bounds(self) -> None:
        error = self.assertRaises(ClientValidationError, v.integer, "claim ttl", 59, 60, 43200)
        self.assertIn("60 to 43200", str(error))
        self.assertRaises(ClientValidationError, v.integer, "claim ttl", True, 0, 10)
        self.assertRaises(ClientValidationError, v.integer, "claim ttl", "60", 0, 100)

    def test_id_lists(self) -> None:
        self.assertRaises(ClientValidationError, v.string_list, "ids", "abc")
        self.assertRaises(ClientValidationError, v.string_list, "ids", ["a", ""])
        self.assertEqual(v.string_list("ids", ("a", "b")), ["a", "b"])


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


class PagingConnection:
    """Serves pages the way a Redis-backed Zaqar 23.0.1 does, quirks included."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.calls: list[dict[str, Any]] = []

    def get(self, path: str, params: dict[str, Any]) -> Deferred[Response]:
        self.calls.append(params)
        limit, marker = params["limit"], params.get("marker")
        rank = self.names.index(marker) if marker in self.names else None
        start = rank + 1 if rank else 0  # the server's bug: rank 0 restarts
        page = self.names[start:start + limit]
        links = [{"rel": "next", "href": f"/v2/queues?marker={page[-1]}&limit={limit}"}] if page else []
        body = {"queues": [{"name": n} for n in page], "links": links}
        return succeed(Response(200, {}, b"", body))


class PagingTests(SynchronousTestCase):
    def collect(self, conn: PagingConnection, limit: int, **kw: Any) -> list[str]:
        d = Deferred.fromCoroutine(_paging.collect(conn, "queues", "queues", "name", limit, **kw))  # type: ignore[arg-type]
        return [item["name"] for item in self.successResultOf(d)]

    def test_limit_one_gets_everything_once(self) -> None:
        names = [f"q{i}" for i in range(5)]
        conn = PagingConnection(names)
        self.assertEqual(self.collect(conn, 1), names)
        self.assertLessEqual(len(conn.calls), 6)

    def test_every_page_size(self) -> None:
        names = [f"q{i:02}" for i in range(23)]
        for limit in range(1, 21):
            self.assertEqual(self.collect(PagingConnection(names), limit), names)

    def test_unknown_marker_restart_does_not_loop(self) -> None:
        conn = PagingConnection(["a", "b", "c"])
        self.assertEqual(self.collect(conn, 2, marker="gone"), ["a", "b", "c"])

    def test_max_items(self) -> None:
        self.assertEqual(self.collect(PagingConnection(list("abcdef")), 2, max_items=3), ["a", "b", "c"])
