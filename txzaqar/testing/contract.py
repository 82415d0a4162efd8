"""
The contract suite: Zaqar v2 as the client sees it, written once.

L{zaqar_contract_tests} builds a trial C{TestCase} base class from a
function "how to get a client".  Subclass it once per backend::

    class RealZaqarTests(zaqar_contract_tests(get_real_client)):
        pass

    class MemoryZaqarTests(zaqar_contract_tests(get_memory_client,
                                                server_quirks=False)):
        pass

The tests use only the public client API, plus C{client.connection.request}
for the few statuses the client never provokes on its own (405, 415, ...).
Every expectation is what Zaqar 23.0.1 on Redis answers (checked against
the real servers).  Tests whose name starts with C{test_quirk_} assert a known server
bug (L{txzaqar.testing.quirks}) that another backend may legitimately not reproduce; they run
only when C{server_quirks} is true.

Queue names are unique per test (C{ct-<uuid>}) and deleted in cleanup; the
tests that list a whole project use a project of their own.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import attr
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.trial.unittest import SkipTest, TestCase
from zope.interface.verify import verifyObject

from .. import errors
from ..api import _paths
from ..api.claim import Claim
from ..api.client import Client
from ..api.message import MessageStatus
from ..api.queue import Metadata, QueueStats, SignedURL
from ..api.subscription import Subscription
from ..auth import NoAuth
from ..http.connection import JSON_PATCH_TYPE, Connection
from ..interfaces import IClaim, IClient, IMessage, IQueue, ISubscription
from .contract_encrypted import EncryptedContractTests
from .contract_listing import ListingContractTests
from .contract_validation import ValidationContractTests
from .fixed_auth import FixedHeadersAuth
from .recording import RecordingAgent

#: The server's post size limit (C{max_messages_post_size}).
MAX_POST_SIZE = 262144

#: A subscriber nobody listens on (no notification pipeline in the tests).
HOOK = "http://127.0.0.1:9/hook"

#: Reserved metadata and the defaults GET/PATCH fill in (Zaqar's reserved queue metadata).
RESERVED_DEFAULTS = {
    "_max_messages_post_size": 262144,
    "_default_message_ttl": 3600,
    "_default_message_delay": 0,
}

#: What a contract suite calls with the test case to get the client under test (or a Deferred of it).
GetClient = Callable[[TestCase], "Client | Deferred[Client]"]


def _quirk(f: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """Run the test only against a backend that has the server's quirks."""

    @functools.wraps(f)
    async def test(self: Any) -> Any:
        if not self.server_quirks:
            raise SkipTest("asserts a Zaqar 23.0.1 server quirk this backend does not claim to have")
        return await f(self)

    return test


class _RelativeCalls:
    """C{(method, path relative to /v2/)} of what a L{RecordingAgent} has seen, read live."""

    def __init__(self, recorder: RecordingAgent) -> None:
        self._recorder = recorder
        self._start = len(recorder.requests)

    def _calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path.split("/v2/", 1)[-1]) for r in self._recorder.requests[self._start:]]

    def __len__(self) -> int:
        return len(self._recorder.requests) - self._start

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._calls())


def zaqar_contract_tests(get_client: GetClient, server_quirks: bool = True) -> type[TestCase]:
    """
    Build the contract suite for one backend.

    @param get_client: called with the running test case in C{setUp};
        returns a L{txzaqar.Client} (or a Deferred of one) for a Zaqar v2
        endpoint without authentication, whose authenticator is a
        L{txzaqar.NoAuth} with the C{admin} role (see
        C{txzaqar.connect(..., roles=["admin"])}), and whose
        C{signed_url} secret key is set.  A project of its own per test
        is best, but not required.  The suite closes the client in cleanup.
    @param server_quirks: run the C{test_quirk_*} tests, which assert the
        known bugs of Zaqar 23.0.1 on Redis.
    @return: a trial C{TestCase} subclass to subclass once per backend.
    """

    class ZaqarContractTests(ListingContractTests, EncryptedContractTests, ValidationContractTests, TestCase):
        """The Zaqar v2 wire contract, through the public client API."""

        def setUp(self) -> Deferred[None]:  # type: ignore[override]
            self.server_quirks = server_quirks
            self.prefix = f"ct-{uuid.uuid4().hex[:12]}"
            self._names = 0

            def got(client: Any) -> None:
                self.client = client
                self.addCleanup(client.close)

            return maybeDeferred(get_client, self).addCallback(got)

        # -- helpers --------------------------------------------------

        def name(self, tag: str = "q") -> str:
            """A queue name no other test uses."""
            self._names += 1
            return f"{self.prefix}-{tag}{self._names}"

        def queue(self, tag: str = "q", client: Client | None = None) -> Any:
            """A L{Queue} with a unique name, deleted in cleanup (nothing sent now)."""
            queue = (client or self.client).queue(self.name(tag))
            self.addCleanup(queue.delete)
            return queue

        async def created(self, tag: str = "q", metadata: Any = None) -> Any:
            queue = self.queue(tag)
            self.assertIs(await queue.create(metadata), True)
            return queue

        @property
        def project_id(self) -> str:
            conn: Any = self.client.connection
            return str(conn.authenticator.project_id)

        def sibling(
            self,
            project_id: str | None = None,
            roles: list[str] | None = None,
            client_id: str | None = None,
            authenticator: Any = None,
        ) -> Client:
            """
            Another client on the same endpoint and agent: another project,
            other roles or another C{Client-ID}.
            """
            conn: Any = self.client.connection
            if authenticator is None:
                authenticator = NoAuth(project_id or self.project_id, roles=roles)
            other = Connection(
                conn.agent, conn.reactor, authenticator, url=conn.url, client_id=client_id
            )
            client = Client(other)
            self.addCleanup(client.close)
            return client

        def fresh_project(self) -> Client:
            """A client (same roles) on a project no other test uses."""
            return self.sibling(project_id=f"ctp-{uuid.uuid4().hex}", roles=["admin"])

        def count_requests(self, client: Client | None = None) -> _RelativeCalls:
            """
            C{(method, path)} of every request the client sends from now on,
            the path relative to C{/v2/}: a L{RecordingAgent} on its
            connection, taken off again in cleanup.
            """
            conn: Any = (client or self.client).connection
            recorder = RecordingAgent(conn.agent)
            conn.agent = recorder
            self.addCleanup(setattr, conn, "agent", recorder.agent)
            return _RelativeCalls(recorder)

        async def fails(self, d: Any, cls: type[errors.ZaqarError], code: int,
                        title: str | None = None) -> Any:
            """Await C{d}; it must fail with C{cls}, C{code} and (if given) C{title}."""
            try:
                result = await d
            except cls as e:
                self.assertEqual(e.code, code)
                self.assertIsInstance(e.title, str)
                self.assertTrue(e.title)
                self.assertIsInstance(e.description, str)
                if title is not None:
                    self.assertEqual(e.title, title)
                self.assertTrue(e.request_id, "every Zaqar response has x-openstack-request-id")
                return e
            self.fail(f"expected {cls.__name__} ({code}), got {result!r}")

        def refused(self, calls: _RelativeCalls, f: Callable[..., Any], *args: Any,
                    field: str | None = None, **kwargs: Any) -> errors.ClientValidationError:
            """C{f(*args)} raises ClientValidationError at once, sending nothing."""
            before = len(calls)
            e = self.assertRaises(errors.ClientValidationError, f, *args, **kwargs)
            self.assertEqual(len(calls), before, "a request was sent")
            self.assertTrue(e.description)
            self.assertIsNone(e.code)
            if field is not None:
                self.assertEqual(e.field, field)
            return e

        def posts(self, calls: _RelativeCalls, queue: Any) -> list[tuple[str, str]]:
            return [c for c in calls if c == ("POST", f"queues/{queue.name}/messages")]

        # -- 1-4: versions, home, ping ---------------------------------

        async def test_interfaces(self) -> None:
            """The resources provide their interfaces."""
            verifyObject(IClient, self.client)
            queue = self.queue()
            verifyObject(IQueue, queue)
            [mid] = await queue.post({"body": 1})
            verifyObject(IMessage, await queue.message(mid))
            claim = await queue.claim()
            verifyObject(IClaim, claim)
            verifyObject(ISubscription, await queue.subscribe(HOOK))

        async def test_versions(self) -> None:
            """C{GET /} answers 300 with version 2 current."""
            versions = await self.client.versions()
            [v2] = [v for v in versions if v.get("id") == "2"]
            self.assertEqual(v2["status"], "CURRENT")
            self.assertIn({"href": "/v2/", "rel": "self"}, v2["links"])

        async def test_home(self) -> None:
            """C{GET /v2/} is the JSON-Home document."""
            home = await self.client.home()
            self.assertIsInstance(home["resources"], dict)
            self.assertTrue(home["resources"])

        async def test_ping_get(self) -> None:
            self.assertIs(await self.client.ping(), True)

        async def test_ping_head(self) -> None:
            response = await self.client.connection.head("ping")
            self.assertEqual(response.code, 204)
            self.assertEqual(response.content, b"")

        async def test_unknown_route_404(self) -> None:
            await self.fails(self.client.connection.get("no-such-route"), errors.NotFound, 404)

        # -- health (admin) ------------------------------------------

        async def test_health_admin(self) -> None:
            """C{GET /v2/health} with the admin role reports storage reachable."""
            health = await self.client.health()
            self.assertIs(health["storage_reachable"], True)
            self.assertIsInstance(health["operation_status"], dict)

        async def test_health_without_role_403(self) -> None:
            client = self.sibling(roles=None)
            await self.fails(client.health(), errors.Forbidden, 403, "Not authorized")

        # -- 5: queue list ---------------------------------------------

        async def test_list_five_queues_limit_1(self) -> None:
            """Listing 5 queues with limit=1 returns exactly those 5, once each."""
            client = self.fresh_project()
            names = sorted(self.name("list") for _ in range(5))
            for name in names:
                queue = client.queue(name)
                self.addCleanup(queue.delete)
                await queue.create()
            calls = self.count_requests(client)
            queues = await client.queues(limit=1)
            self.assertEqual(sorted(q.name for q in queues), names)
            self.assertTrue(all(m == "GET" for m, _ in calls))
            self.assertLessEqual(len(calls), 10, "paging must end")

        async def test_list_queues_detailed(self) -> None:
            client = self.fresh_project()
            queue = client.queue(self.name())
            self.addCleanup(queue.delete)
            await queue.create({"colour": "blue"})
            [doc] = await client.queue_details(detailed=True)
            self.assertEqual(doc["name"], queue.name)
            self.assertEqual(doc["href"], f"/v2/queues/{queue.name}")
            self.assertEqual(doc["metadata"]["colour"], "blue")
            self.assertEqual(doc["metadata"]["_default_message_ttl"], 3600)

        async def test_list_queues_empty_project(self) -> None:
            self.assertEqual(await self.fresh_project().queues(), [])

        async def test_projects_are_isolated(self) -> None:
            mine = await self.created()
            other = self.fresh_project()
            self.assertEqual(await other.queues(), [])
            self.assertEqual(await other.queue(mine.name).messages(), [])

        async def test_list_queues_bad_limit_400(self) -> None:
            await self.fails(self.client.connection.get("queues", params={"limit": 21}),
                             errors.BadRequest, 400)

        @_quirk
        async def test_quirk_8_1_marker_at_rank_0_restarts_listing(self) -> None:
            """
            Quirk 1 of L{txzaqar.testing.quirks}: a marker that is the first queue restarts the listing,
            so C{limit=1} pages repeat page 1.
            """
            client = self.fresh_project()
            names = sorted(self.name("m") for _ in range(3))
            for name in names:
                queue = client.queue(name)
                self.addCleanup(queue.delete)
                await queue.create()
            first = (await client.connection.get("queues", params={"limit": 1})).json
            self.assertEqual([q["name"] for q in first["queues"]], names[:1])
            again = (await client.connection.get(
                "queues", params={"limit": 1, "marker": names[0]})).json
            self.assertEqual([q["name"] for q in again["queues"]], names[:1])
            # ... while a marker past rank 0 works as documented.
            second = (await client.connection.get(
                "queues", params={"limit": 1, "marker": names[1]})).json
            self.assertEqual([q["name"] for q in second["queues"]], names[2:3])

        # -- 6-9: queue create/get/patch/delete ------------------------

        async def test_create_queue_201_then_204(self) -> None:
            queue = self.queue()
            self.assertIs(await queue.create({"a": 1}), True)
            self.assertIs(await queue.create({"a": 2}), False)
            metadata = await queue.metadata()
            self.assertEqual(metadata.content["a"], 1, "PUT must not update an existing queue")

        async def test_create_queue_via_client(self) -> None:
            name = self.name()
            self.addCleanup(self.client.queue(name).delete)
            queue = await self.client.create_queue(name, {"k": "v"})
            self.assertEqual(queue.name, name)
            self.assertEqual((await queue.metadata()).content["k"], "v")
            self.assertIn(name, [q.name for q in await self.client.queues(limit=20)])

        async def test_get_metadata_with_reserved_defaults(self) -> None:
            queue = await self.created(metadata={"colour": "red"})
            metadata = await queue.metadata()
            self.assertIsInstance(metadata, Metadata)
            self.assertEqual(metadata.content["colour"], "red")
            for key, value in RESERVED_DEFAULTS.items():
                self.assertEqual(metadata.content[key], value)
            self.assertEqual(metadata.default_message_ttl, 3600)
            self.assertEqual(metadata.max_messages_post_size, 262144)
            self.assertEqual(metadata.default_message_delay, 0)

        async def test_metadata_of_missing_queue_is_defaults(self) -> None:
            """Quirk 3 of L{txzaqar.testing.quirks}: GET of a missing queue is 200 with the defaults."""
            queue = self.queue()
            metadata = await queue.metadata()
            for key, value in RESERVED_DEFAULTS.items():
                self.assertEqual(metadata.content[key], value)
            self.assertEqual(await queue.stats(), QueueStats(claimed=0, free=0, total=0))

        async def test_update_metadata(self) -> None:
            queue = await self.created(metadata={"a": 1})
            metadata = await queue.update_metadata({"b": [1, 2], "a": 3})
            self.assertEqual((metadata.content["a"], metadata.content["b"]), (3, [1, 2]))
            again = await metadata.reload()
            self.assertEqual((again.content["a"], again.content["b"]), (3, [1, 2]))
            updated = await again.update({"c": None})
            self.assertIn("c", updated.content)

        async def test_patch_remove_and_set_metadata(self) -> None:
            queue = await self.created(metadata={"a": 1, "b": 2})
            metadata = await queue.patch_metadata([{"op": "remove", "path": "/metadata/a"}])
            self.assertNotIn("a", metadata.content)
            metadata = await queue.patch_metadata(
                [{"op": "replace", "path": "/metadata/b", "value": 5}])
            self.assertEqual(metadata.content["b"], 5)
            metadata = await queue.set_metadata({"z": "only"})
            self.assertEqual(metadata.content["z"], "only")
            self.assertNotIn("b", metadata.content)
            self.assertEqual(metadata.content["_default_message_ttl"], 3600)

        async def test_configure_reserved(self) -> None:
            queue = await self.created()
            metadata = await queue.configure(default_message_ttl=120, max_claim_count=4)
            self.assertEqual(metadata.default_message_ttl, 120)
            self.assertEqual(metadata.max_claim_count, 4)
            [mid] = await queue.post({"body": "x"})
            self.assertEqual((await queue.message(mid)).ttl, 120)

        async def test_patch_missing_queue_404(self) -> None:
            await self.fails(self.queue().update_metadata({"a": 1}), errors.NotFound, 404)

        async def test_patch_replace_missing_key_409(self) -> None:
            queue = await self.created()
            e = await self.fails(
                queue.patch_metadata([{"op": "replace", "path": "/metadata/nope", "value": 1}]),
                errors.Conflict, 409, "Resource conflict")
            self.assertIsInstance(e, errors.HTTPError)

        async def test_patch_wrong_content_type_415(self) -> None:
            queue = await self.created()
            await self.fails(
                self.client.connection.patch(
                    _paths.queue(queue.name).path, body=[{"op": "add", "path": "/metadata/a", "value": 1}],
                    content_type="application/json"),
                errors.UnsupportedMediaType, 415, "415 Unsupported Media Type")

        async def test_patch_bad_reserved_value_400(self) -> None:
            queue = await self.created()
            await self.fails(
                self.client.connection.patch(
                    _paths.queue(queue.name).path, content_type=JSON_PATCH_TYPE,
                    body=[{"op": "add", "path": "/metadata/_default_message_ttl", "value": 10}]),
                errors.BadRequest, 400)

        @_quirk
        async def test_quirk_8_6_patch_object_body_503(self) -> None:
            """Quirk 6 of L{txzaqar.testing.quirks}: a JSON object (not a list) as PATCH body gives 503, not 400."""
            queue = await self.created()
            await self.fails(
                self.client.connection.patch(
                    _paths.queue(queue.name).path, content_type=JSON_PATCH_TYPE,
                    body={"op": "add", "path": "/metadata/a", "value": 1}),
                errors.ServiceUnavailable, 503, "Service temporarily unavailable")

        async def test_head_queue_405(self) -> None:
            queue = await self.created()
            await self.fails(self.client.connection.head(_paths.queue(queue.name).path),
                             errors.MethodNotAllowed, 405)

        async def test_post_queue_405(self) -> None:
            queue = await self.created()
            await self.fails(self.client.connection.post(_paths.queue(queue.name).path, body={}, idempotent=False),
                             errors.MethodNotAllowed, 405, "405 Method Not Allowed")

        async def test_delete_queue(self) -> None:
            queue = await self.created()
            await queue.post([{"body": 1}, {"body": 2}])
            await queue.delete()
            self.assertNotIn(queue.name, [q.name for q in await self.client.queues(limit=20)])
            self.assertEqual((await queue.stats()).total, 0)
            await queue.delete()  # idempotent

        async def test_bad_queue_name_refused_client_side(self) -> None:
            calls = self.count_requests()
            for bad in ("has space", "a" * 65, "", "sl/ash", "ümlaut", "a.b", "v1.2.3", ".x", "."):
                self.refused(calls, self.client.queue, bad, field="queue name")
            self.refused(calls, self.client.create_queue, "no!", field="queue name")
            self.refused(calls, self.client.create_queue, "a.b", field="queue name")
            self.client.queue("a" * 64)  # the longest allowed
            self.client.queue("a")
            self.client.queue("dashes-and_underscores-0")

        # -- 10-12: stats, purge, share --------------------------------

        async def test_stats(self) -> None:
            queue = await self.created()
            self.assertEqual(await queue.stats(), QueueStats(claimed=0, free=0, total=0))
            ids = await queue.post([{"body": "old"}, {"body": "mid"}, {"body": "new"}])
            await queue.claim(limit=1)
            stats = await queue.stats()
            self.assertEqual((stats.claimed, stats.free, stats.total), (1, 2, 3))
            self.assertEqual(stats.oldest["href"], f"/v2/queues/{queue.name}/messages/{ids[0]}")
            self.assertEqual(stats.newest["href"], f"/v2/queues/{queue.name}/messages/{ids[2]}")
            self.assertIn("age", stats.oldest)
            self.assertIn("created", stats.newest)

        async def test_purge_messages_then_all(self) -> None:
            queue = await self.created()
            await queue.post([{"body": i} for i in range(3)])
            subscription = await queue.subscribe(HOOK)
            await queue.purge(["messages"])
            self.assertEqual((await queue.stats()).total, 0)
            self.assertEqual([s.id for s in await queue.subscriptions()], [subscription.id])
            await queue.post({"body": "again"})
            await queue.purge()
            self.assertEqual((await queue.stats()).total, 0)
            self.assertEqual(await queue.subscriptions(), [])
            self.assertIs(await queue.create(), False, "purge keeps the queue")

        async def test_purge_missing_queue(self) -> None:
            await self.queue().purge()

        async def test_purge_bad_types_refused_client_side(self) -> None:
            calls = self.count_requests()
            queue = self.queue()
            self.refused(calls, queue.purge, ["claims"], field="resource_types")
            self.refused(calls, queue.purge, [], field="resource_types")
            self.refused(calls, queue.purge, "messages", field="resource_types")

        async def test_purge_bad_types_400(self) -> None:
            queue = await self.created()
            await self.fails(self.client.connection.post(
                _paths.queue_part(queue.name, "purge").path, body={"resource_types": ["claims"]}),
                errors.BadRequest, 400)

        async def test_share(self) -> None:
            """C{POST .../share} answers 200 with a pre-signed URL that works."""
            queue = await self.created()
            [mid] = await queue.post({"body": "shared"})
            signed = await queue.share(paths=["messages"], methods=["GET"])
            self.assertIsInstance(signed, SignedURL)
            self.assertEqual(signed.paths, (f"/v2/queues/{queue.name}/messages",))
            self.assertEqual(signed.methods, ("GET",))
            self.assertEqual(signed.project, self.project_id)
            self.assertEqual(len(signed.signature), 64)
            int(signed.signature, 16)
            headers = signed.headers()
            self.assertEqual(set(headers), {"URL-Signature", "URL-Expires", "URL-Methods",
                                            "URL-Paths", "X-Project-ID"})
            # The signed headers alone (no other project header) read the messages.
            anonymous = self.sibling(authenticator=FixedHeadersAuth(headers))
            listed = await anonymous.queue(queue.name).messages()
            self.assertEqual([m.id for m in listed], [mid])

        async def test_share_defaults(self) -> None:
            queue = await self.created()
            signed = await queue.share()
            self.assertEqual(signed.paths, (f"/v2/queues/{queue.name}/messages",))
            self.assertEqual(signed.methods, ("GET",))
            self.assertTrue(signed.expires)

        async def test_share_bad_signature_404(self) -> None:
            queue = await self.created()
            await queue.post({"body": 1})
            signed = await queue.share()
            headers = dict(signed.headers(), **{"URL-Signature": "0" * 64})
            anonymous = self.sibling(authenticator=FixedHeadersAuth(headers))
            await self.fails(anonymous.queue(queue.name).messages(), errors.NotFound, 404)

        async def test_share_past_expiry_400(self) -> None:
            queue = await self.created()
            await self.fails(queue.share(expires="2000-01-01T00:00:00"), errors.BadRequest, 400)

        async def test_share_refused_client_side(self) -> None:
            calls = self.count_requests()
            queue = self.queue()
            self.refused(calls, queue.share, paths=["queues"], field="paths")
            self.refused(calls, queue.share, methods=["FETCH"], field="methods")
            self.refused(calls, queue.share, expires=12345, field="expires")

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

        @_quirk
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

        @_quirk
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

        @_quirk
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

        @_quirk
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

        # -- metadata validation -------------------------------------

        async def test_metadata_refused_client_side(self) -> None:
            queue = self.queue()
            calls = self.count_requests()
            self.refused(calls, queue.create, {"_default_message_ttl": 59})
            self.refused(calls, queue.create, {"x": "y" * 70000}, field="metadata")
            self.refused(calls, queue.configure, colour="red", field="colour")
            self.refused(calls, queue.configure)
            self.refused(calls, queue.configure, dead_letter_queue="bad name")
            self.refused(calls, queue.configure, enable_encrypt_messages="yes")
            self.refused(calls, queue.patch_metadata, [], field="operations")
            self.refused(calls, queue.patch_metadata, [{"op": "move", "path": "/metadata/a"}],
                         field="operations")
            self.refused(calls, queue.patch_metadata, [{"op": "add", "path": "/a", "value": 1}],
                         field="operations")
            self.refused(calls, queue.patch_metadata, [{"op": "add", "path": "/metadata/a"}],
                         field="operations")

        async def test_create_bad_metadata_400(self) -> None:
            queue = self.queue()
            await self.fails(self.client.connection.put(_paths.queue(queue.name).path, body={"_default_message_ttl": 30}),
                             errors.BadRequest, 400, "Invalid API request")
            await self.fails(self.client.connection.put(_paths.queue(queue.name).path, body=[1, 2]),
                             errors.BadRequest, 400)

    ZaqarContractTests.__name__ = ZaqarContractTests.__qualname__ = "ZaqarContractTests"
    return ZaqarContractTests
