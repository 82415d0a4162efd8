"""
The contract tests of lazy listings, their parameters, C{HEAD /v2/ping}
and acting with a pre-signed URL: a mixin of the suite that
L{txzaqar.testing.contract.zaqar_contract_tests} builds (kept apart to
keep that module readable).  It uses the suite's helpers (C{self.client},
C{created}, C{sibling}, C{fresh_project}, C{count_requests}, C{fails},
C{refused}) and runs on every backend the suite runs on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from .. import errors
from ..auth import SignedURLAuth
from ..errors import NotAllowedBySignedURL
from ..interfaces import IListing
from .fixed_auth import FixedHeadersAuth
from .recording import RecordingAgent

__all__ = ["ListingContractTests"]


class ListingContractTests:
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
    #: The suite's C{sibling(...)}: another client on the same endpoint (another project, roles or
    #: authenticator).
    sibling: Any
    #: The suite's C{fresh_project()}: a client on a project no other test uses.
    fresh_project: Any
    #: The suite's C{count_requests(client)}: the requests a client sends from now on.
    count_requests: Any
    #: The suite's C{fails(d, cls, code, title)}: await C{d}, which must fail so.
    fails: Any
    #: The suite's C{refused(calls, f, *args, field=...)}: C{f} refuses at once, sending nothing.
    refused: Any
    #: Whether the backend has Zaqar 23.0.1's quirks.
    server_quirks: bool
    #: C{TestCase.assertEqual}, from the test case this is mixed into.
    assertEqual: Any
    #: C{TestCase.assertIs}, from the test case this is mixed into.
    assertIs: Any
    #: C{TestCase.assertIn}, from the test case this is mixed into.
    assertIn: Any
    #: C{TestCase.assertNotIn}, from the test case this is mixed into.
    assertNotIn: Any
    #: C{TestCase.assertIsNone}, from the test case this is mixed into.
    assertIsNone: Any
    #: C{TestCase.assertLessEqual}, from the test case this is mixed into.
    assertLessEqual: Any
    #: C{TestCase.assertRaises}, from the test case this is mixed into.
    assertRaises: Any
    #: C{TestCase.assertIsInstance}, from the test case this is mixed into.
    assertIsInstance: Any
    #: C{TestCase.assertTrue}, from the test case this is mixed into.
    assertTrue: Any
    #: C{TestCase.addCleanup}, from the test case this is mixed into.
    addCleanup: Any

    def recorder(self, client: Any) -> RecordingAgent:
        """
        Put a L{RecordingAgent} on C{client}'s connection (taken off in cleanup).

        @return: the recording agent.
        """
        conn: Any = client.connection
        recorder = RecordingAgent(conn.agent)
        conn.agent = recorder
        self.addCleanup(setattr, conn, "agent", recorder.agent)
        return recorder

    async def filled(self, count: int) -> Any:
        """
        A new queue holding C{count} messages, bodies C{0} to C{count - 1}, posted in order.

        @return: a coroutine giving the queue.
        """
        queue = await self.created("many")
        for start in range(0, count, 20):
            await queue.post([{"body": n} for n in range(start, min(start + 20, count))])
        return queue

    # -- ping ---------------------------------------------------------

    async def test_ping_head_method(self) -> None:
        """C{client.ping(head=True)} sends C{HEAD /v2/ping}."""
        calls = self.count_requests()
        self.assertIs(await self.client.ping(head=True), True)
        self.assertEqual(list(calls), [("HEAD", "ping")])

    # -- lazy listings ------------------------------------------------

    async def test_iter_messages_fetches_a_page_at_a_time(self) -> None:
        """Breaking off a listing fetches nothing more; its marker resumes it."""
        queue = await self.filled(45)
        calls = self.count_requests()
        listing = queue.iter_messages(limit=20)
        self.assertTrue(IListing.providedBy(listing))
        self.assertEqual(len(calls), 0, "making a listing sends nothing")
        bodies = []
        async for message in listing:
            bodies.append(message.body)
            self.assertLessEqual(len(calls), len(bodies) // 20 + 1, "fetched ahead of the caller")
            if len(bodies) == 25:
                break
        self.assertEqual(bodies, list(range(25)))
        self.assertEqual(len(calls), 2)
        self.assertEqual(listing.pages, 2)
        await listing.aclose()
        self.assertEqual(len(calls), 2, "nothing fetched after the caller stopped")
        rest = [m.body async for m in queue.iter_messages(limit=20, marker=listing.marker)]
        self.assertEqual(rest, list(range(25, 45)))

    async def test_iter_messages_resume_from_first_message(self) -> None:
        """A marker at rank 0 (which restarts a Redis listing) still resumes after it."""
        queue = await self.filled(5)
        listing = queue.iter_messages(limit=2)
        async for _ in listing:
            break
        rest = [m.body async for m in queue.iter_messages(limit=2, marker=listing.marker)]
        self.assertEqual(rest, [1, 2, 3, 4])

    async def test_messages_marker(self) -> None:
        """A message listing from a marker starts after that message."""
        queue = await self.filled(6)
        ids = [m.id for m in await queue.messages(limit=4)]
        self.assertEqual([m.id for m in await queue.messages(marker=ids[2])], ids[3:])

    async def test_iter_queues_with_count_and_marker(self) -> None:
        """
        Listing queues a page at a time counts them (once the first page is read) and resumes from its
        marker.
        """
        client = self.fresh_project()
        names = sorted(self.name("it") for _ in range(5))
        for name in names:
            queue = client.queue(name)
            self.addCleanup(queue.delete)
            await queue.create()
        listing = client.iter_queues(limit=2, with_count=True)
        self.assertIsNone(listing.count)
        first = [(await listing.__anext__()).name for _ in range(3)]
        self.assertEqual(listing.count, 5)
        self.assertEqual(first, names[:3])
        self.assertEqual(listing.marker, names[2])
        rest = await client.queues(marker=listing.marker)
        self.assertEqual([q.name for q in rest], names[3:])
        self.assertEqual(await client.queue_count(), 5)

    async def test_queue_count_empty_project(self) -> None:
        """The server leaves out a count of 0; it reads as 0."""
        client = self.fresh_project()
        self.assertEqual(await client.queue_count(), 0)
        listing = client.iter_queues(with_count=True)
        self.assertEqual([q async for q in listing], [])
        self.assertEqual(listing.count, 0)

    async def test_iter_subscriptions(self) -> None:
        """Listing subscriptions a page at a time gives each once and resumes from its marker."""
        queue = await self.created()
        ids = [(await queue.subscribe(f"http://127.0.0.1:9/hook{n}")).id for n in range(3)]
        listing = queue.iter_subscriptions(limit=2)
        seen = [s.id async for s in listing]
        self.assertEqual(sorted(seen), sorted(ids))
        self.assertEqual(listing.marker, seen[-1])
        self.assertEqual([s.id for s in await queue.subscriptions(marker=seen[0])], seen[1:])

    async def test_queue_filters_sent(self) -> None:
        """C{name} and metadata filters go as query parameters; matching queues are listed."""
        client = self.fresh_project()
        blue = client.queue(self.name("blue"))
        red = client.queue(self.name("red"))
        for queue, colour in ((blue, "blue"), (red, "red")):
            self.addCleanup(queue.delete)
            await queue.create({"colour": colour, "size": 3})
        recorder = self.recorder(client)
        listed = await client.queues(name="blue", filters={"colour": "blue", "size": 3})
        self.assertIn(blue.name, [q.name for q in listed])
        query = parse_qs(recorder.requests[0].query)
        self.assertEqual(query["name"], ["blue"])
        self.assertEqual(query["colour"], ["blue"])
        self.assertEqual(query["size"], ["3"])

    async def test_quirk_8_7_queue_filters_ignored(self) -> None:
        """
        Quirk 7 of L{txzaqar.testing.quirks}: Zaqar 23.0.1 on Redis ignores C{name} and metadata
        filters (only its MongoDB store applies them) and lists every queue.
        """
        if not self.server_quirks:
            from twisted.trial.unittest import SkipTest

            raise SkipTest("asserts a Zaqar 23.0.1 server quirk this backend does not claim to have")
        client = self.fresh_project()
        blue = client.queue(self.name("blue"))
        red = client.queue(self.name("red"))
        for queue, colour in ((blue, "blue"), (red, "red")):
            self.addCleanup(queue.delete)
            await queue.create({"colour": colour})
        by_name = await client.queues(name="blue")
        by_metadata = await client.queues(filters={"colour": "blue"})
        self.assertEqual(sorted(q.name for q in by_name), sorted([blue.name, red.name]))
        self.assertEqual(sorted(q.name for q in by_metadata), sorted([blue.name, red.name]))

    async def test_listing_parameters_refused_client_side(self) -> None:
        """Bad listing parameters raise L{errors.ClientValidationError} at once, sending nothing."""
        calls = self.count_requests()
        queue = self.queue()
        self.refused(calls, self.client.iter_queues, marker="", field="marker")
        self.refused(calls, self.client.iter_queues, marker="no/slash", field="queue name")
        self.refused(calls, self.client.iter_queues, name="(", field="name")
        self.refused(calls, self.client.iter_queues, filters={"limit": 3}, field="filters")
        self.refused(calls, self.client.iter_queues, filters={"k": 1.5}, field="filters")
        self.refused(calls, self.client.iter_queues, filters={"k": True}, field="filters")
        self.refused(calls, self.client.queues, filters=["k"], field="filters")
        self.refused(calls, self.client.iter_queues, max_items=0, field="max_items")
        self.refused(calls, queue.iter_messages, marker=7, field="marker")
        self.refused(calls, queue.iter_messages, limit=21, field="limit")
        self.refused(calls, queue.iter_subscriptions, marker="", field="marker")

    # -- signed URLs --------------------------------------------------

    def signed_client(self, signed: Any) -> Any:
        """
        A client that acts with nothing but the signed URL C{signed}.

        @return: the client (closed in cleanup).
        """
        conn: Any = self.client.connection
        return self.sibling(authenticator=SignedURLAuth(signed, clock=conn.reactor))

    async def test_signed_url_allows_what_it_names(self) -> None:
        """Post, list, claim and delete with nothing but a signed URL."""
        queue = await self.created()
        signed = await queue.share(paths=["messages", "claims"],
                                   methods=["GET", "POST", "DELETE", "PATCH"])
        shared = self.signed_client(signed.to_json()).queue(queue.name)
        ids = await shared.post([{"body": 1}, {"body": 2}])
        self.assertEqual([m.id for m in await shared.messages()], ids)
        claim = await shared.claim(limit=5)
        self.assertEqual(sorted(m.id for m in claim.messages), sorted(ids))
        await claim.renew(ttl=120)
        await shared.delete_messages(ids, claim_ids=[claim.id])
        self.assertEqual(await queue.messages(include_claimed=True), [])

    async def test_signed_url_refuses_before_sending(self) -> None:
        """What the URL does not name is refused client-side; the server would answer 404."""
        queue = await self.created()
        other = await self.created()
        signed = await queue.share()  # GET of messages only
        client = self.signed_client(signed)
        calls = self.count_requests(client)
        attempts = [
            ("POST", client.queue(queue.name).post({"body": 1})),
            ("GET", client.queue(queue.name).subscriptions()),
            ("GET", client.queue(other.name).messages()),
            ("POST", client.queue(queue.name).claim()),
        ]
        for method, d in attempts:
            try:
                await d
            except NotAllowedBySignedURL as e:
                self.assertEqual(e.method, method)
                self.assertIsNone(e.code)
                self.assertIsInstance(e, errors.ClientValidationError)
            else:
                raise AssertionError(f"{method} was not refused")
        self.assertEqual(len(calls), 0, "a refused request was sent")
        self.assertEqual(await client.queue(queue.name).messages(), [])
        self.assertEqual(list(calls), [("GET", f"queues/{queue.name}/messages")])
        # The server agrees: the same headers, sent without the check.
        unchecked = self.sibling(authenticator=FixedHeadersAuth(signed.headers())).queue(queue.name)
        await self.fails(unchecked.post({"body": 1}), errors.NotFound, 404)
        await self.fails(unchecked.subscriptions(), errors.NotFound, 404)
