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

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from .. import errors
from ..api import _paths
from ..api.client import Client
from ..api.queue import Metadata, QueueStats, SignedURL
from ..auth import NoAuth
from ..http.connection import JSON_PATCH_TYPE, Connection
from ..interfaces import IClaim, IClient, IMessage, IQueue, ISubscription
from ._contract_claims import ClaimsContractTests
from ._contract_messages import MessagesContractTests
from ._contract_mixin import HOOK, server_quirk
from ._contract_subscriptions import SubscriptionsContractTests
from .contract_encrypted import EncryptedContractTests
from .contract_listing import ListingContractTests
from .contract_validation import ValidationContractTests
from .fixed_auth import FixedHeadersAuth
from .recording import RecordingAgent

#: Reserved metadata and the defaults GET/PATCH fill in (Zaqar's reserved queue metadata).
RESERVED_DEFAULTS = {
    "_max_messages_post_size": 262144,
    "_default_message_ttl": 3600,
    "_default_message_delay": 0,
}

#: What a contract suite calls with the test case to get the client under test (or a Deferred of it).
GetClient = Callable[[TestCase], "Client | Deferred[Client]"]


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

    class ZaqarContractTests(MessagesContractTests, ClaimsContractTests, SubscriptionsContractTests,
                             ListingContractTests, EncryptedContractTests, ValidationContractTests, TestCase):
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

        @server_quirk
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

        @server_quirk
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
