"""
L{txzaqar.api._paging.Listing}: a page at a time, bounded guards against
the marker quirk of Zaqar 23.0.1 on Redis, resuming from a marker.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.api import _paging
from txzaqar.api._paging import Listing
from txzaqar.http.connection import Response
from txzaqar.test.helpers.paging import QuirkyPages


class ListingTests(SynchronousTestCase):
    def listing(self, conn: QuirkyPages, limit: int, **kw: Any) -> Listing[str]:
        return Listing(conn, "queues", "queues", "name", limit,  # type: ignore[arg-type]
                       lambda item: item["name"], **kw)

    def take(self, listing: Listing[str], n: int | None = None) -> list[str]:
        async def walk() -> list[str]:
            got: list[str] = []
            async for name in listing:
                got.append(name)
                if n is not None and len(got) == n:
                    break
            return got

        return self.successResultOf(Deferred.fromCoroutine(walk()))

    def test_nothing_sent_until_iterated(self) -> None:
        conn = QuirkyPages(["a", "b"])
        self.listing(conn, 10)
        self.assertEqual(conn.calls, [])

    def test_one_page_at_a_time_and_nothing_after_break(self) -> None:
        """2,000 items, pages of 20: breaking after 50 made 3 requests, and no more follow."""
        names = [f"q{i:04}" for i in range(2000)]
        conn = QuirkyPages(names)
        listing = self.listing(conn, 20)
        self.assertEqual(self.take(listing, 50), names[:50])
        self.assertEqual(len(conn.calls), 3)
        self.assertEqual(listing.pages, 3)
        self.assertLessEqual(len(listing._buffer), 20)
        self.assertEqual(listing.marker, names[49])
        self.successResultOf(Deferred.fromCoroutine(listing.aclose()))
        self.assertEqual(self.take(listing), [])
        self.assertEqual(len(conn.calls), 3)

    def test_walks_everything_in_bounded_memory(self) -> None:
        names = [f"q{i:04}" for i in range(2000)]
        conn = QuirkyPages(names)
        listing = self.listing(conn, 20)
        self.assertEqual(self.take(listing), names)
        self.assertEqual(len(conn.calls), 101)  # 100 full pages and the empty one
        # the loop guards hold two pages of ids, not every id seen
        self.assertLessEqual(len(listing._first_ids) + len(listing._previous_ids), 40)

    def test_limit_one_never_loops(self) -> None:
        names = list("abcde")
        conn = QuirkyPages(names)
        self.assertEqual(self.take(self.listing(conn, 1)), names)
        self.assertEqual(conn.calls[0]["limit"], 2, "a first page of 1 would put the marker at rank 0")
        self.assertLessEqual(len(conn.calls), 6)

    def test_vanished_marker_restart_repeats_nothing(self) -> None:
        """The marker was deleted: the server starts from the top again, and what was seen is skipped."""
        names = list("abcdef")
        conn = QuirkyPages(names)
        listing = self.listing(conn, 2)
        self.assertEqual(self.take(listing, 2), ["a", "b"])
        del names[1]
        self.assertEqual(self.take(listing), ["c", "d", "e", "f"])

    def test_server_ignoring_the_marker_never_loops(self) -> None:
        """Every page is the first one again: the listing ends after the second."""

        class FirstPageForever(QuirkyPages):
            def get(self, path: str, params: dict[str, Any], operation: str | None = None) -> Deferred[Response]:
                return super().get(path, dict(params, marker=None), operation)

        conn = FirstPageForever(list("abcdef"))
        self.assertEqual(self.take(self.listing(conn, 2)), ["a", "b"])
        self.assertEqual(len(conn.calls), 2)

    def test_resume_from_marker(self) -> None:
        names = [f"q{i:03}" for i in range(100)]
        first = self.listing(QuirkyPages(names), 20)
        self.assertEqual(self.take(first, 33), names[:33])
        rest = self.listing(QuirkyPages(names), 20, marker=first.marker)
        self.assertEqual(self.take(rest), names[33:])

    def test_resume_from_rank_0_marker(self) -> None:
        """The server restarts at the marker's own item; the listing skips it."""
        names = list("abcde")
        self.assertEqual(self.take(self.listing(QuirkyPages(names), 2, marker="a")), list("bcde"))

    def test_max_items(self) -> None:
        conn = QuirkyPages(list("abcdefgh"))
        self.assertEqual(self.take(self.listing(conn, 3, max_items=4)), list("abcd"))
        self.assertEqual(len(conn.calls), 2)

    def test_count(self) -> None:
        listing = self.listing(QuirkyPages(list("abc"), count=3), 10, with_count=True)
        self.assertIsNone(listing.count)
        self.take(listing, 1)
        self.assertEqual(listing.count, 3)

    def test_count_left_out_is_zero(self) -> None:
        conn = QuirkyPages([])
        listing = self.listing(conn, 10, with_count=True)
        self.assertEqual(self.take(listing), [])
        self.assertEqual(listing.count, 0)
        self.assertIs(conn.calls[0]["with_count"], True)

    def test_no_count_unless_asked(self) -> None:
        conn = QuirkyPages(list("ab"), count=2)
        listing = self.listing(conn, 10)
        self.take(listing)
        self.assertIsNone(listing.count)
        self.assertNotIn("with_count", conn.calls[0])


class PagingTests(SynchronousTestCase):
    def collect(self, conn: QuirkyPages, limit: int, **kw: Any) -> list[str]:
        d = Deferred.fromCoroutine(_paging.collect(conn, "queues", "queues", "name", limit, **kw))  # type: ignore[arg-type]
        return [item["name"] for item in self.successResultOf(d)]

    def test_limit_one_gets_everything_once(self) -> None:
        names = [f"q{i}" for i in range(5)]
        conn = QuirkyPages(names)
        self.assertEqual(self.collect(conn, 1), names)
        self.assertLessEqual(len(conn.calls), 6)

    def test_every_page_size(self) -> None:
        names = [f"q{i:02}" for i in range(23)]
        for limit in range(1, 21):
            self.assertEqual(self.collect(QuirkyPages(names), limit), names)

    def test_unknown_marker_restart_does_not_loop(self) -> None:
        conn = QuirkyPages(["a", "b", "c"])
        self.assertEqual(self.collect(conn, 2, marker="gone"), ["a", "b", "c"])

    def test_max_items(self) -> None:
        self.assertEqual(self.collect(QuirkyPages(list("abcdef")), 2, max_items=3), ["a", "b", "c"])
