"""
L{txzaqar.api.admin} (L{Pool}, L{Flavor}) and the C{Client}'s pool and flavor
calls against a real Zaqar 23.0.1 with C{pooling = true}: a SQLAlchemy
management store on SQLite (schema from zaqar's own table definitions,
see L{txzaqar.testing.servers.ZaqarServer}) and spare Redis databases
as pool backends.  Started once per test process by
L{txzaqar.testing.servers.shared_zaqar}C{(pooling=True)}, or
C{$TXZAQAR_ZAQAR_POOLING_URL} (with C{$TXZAQAR_ZAQAR_POOL_URIS}).

Pools are global, so every test names its pools with a prefix of its own
and deletes them (and the queues and flavors over them) when it ends;
flavors are per project, and every test has a project of its own.

Admin calls on this noauth server need C{X-Roles: admin}
(C{connect(..., roles=["admin"])}).

What Zaqar 23.0.1 answers here, pinned by these tests where it matters
to callers (some of it differs from the API reference):
 - PUT of an existing pool replaces it (201, never 409);
 - a pool uri already used by another pool: 500 C{Pool <name> does not
   exist} (the SQL upsert fails on the unique uri, then updates nothing);
 - deleting a pool a flavor uses: 204 (not 403); the flavor stays, with
   no pools and no capabilities;
 - deleting a missing pool or flavor: 204;
 - without any pool, creating a queue: 503;
 - a flavor's C{capabilities} are computed from its first pool (a list of
   names); the C{capabilities} sent with PUT are ignored; PATCH needs
   C{pool_list}; an empty C{pool_list} is 400;
 - a pool belongs to at most one flavor: putting it in another flavor
   moves it;
 - flavors are listed and read per project, but their names are unique
   across projects: the same name in another project answers 500.
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from txzaqar import connect, errors
from txzaqar.api.admin import Flavor, Pool
from txzaqar.api.client import Client
from txzaqar.interfaces import IClient, IFlavor, IPool
from txzaqar.testing import servers

#: the capabilities Zaqar 23.0.1 reports for a flavor over Redis pools
REDIS_CAPABILITIES = ["FIFO", "CLAIMS", "AOD", "HIGH_THROUGHPUT"]


class CountingConnection:
    """An L{IConnection} proxy recording the C{GET}s that go through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gets: list[tuple[str, dict[str, Any]]] = []

    def get(self, path: str, **kwargs: Any) -> Any:
        self.gets.append((path, dict(kwargs.get("params") or {})))
        return self.inner.get(path, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class AdminInterfaceTests(SynchronousTestCase):
    """The admin resources provide their interfaces (no server needed)."""

    def test_provides(self) -> None:
        client = connect("http://127.0.0.1:1", project_id="p", roles=["admin"], reactor=reactor)
        self.addCleanup(client.close)
        self.assertTrue(verifyObject(IClient, client))
        pool = client.pool("p1")
        flavor = client.flavor("f1")
        self.assertIsInstance(pool, Pool)
        self.assertIsInstance(flavor, Flavor)
        self.assertTrue(verifyObject(IPool, pool))
        self.assertTrue(verifyObject(IFlavor, flavor))
        self.assertEqual((pool.name, flavor.name), ("p1", "f1"))


class _RealAdmin(TestCase):
    timeout = 120

    def setUp(self) -> None:
        try:
            self.zaqar = servers.shared_zaqar(pooling=True)
        except servers.HarnessError as e:
            self.fail(f"could not start a pooling Zaqar: {e}")
        self.project = f"txzaqar-admin-{uuid.uuid4().hex[:8]}"
        self.prefix = f"t{uuid.uuid4().hex[:8]}-"
        self.admin = self.client(admin=True)

    def client(self, admin: bool = False, project: str | None = None) -> Client:
        client = connect(self.zaqar.url, project_id=project or self.project,
                         roles=["admin"] if admin else None, reactor=reactor)
        self.addCleanup(client.close)
        return client

    def uris(self, count: int) -> list[str]:
        """C{count} pool URIs (distinct Redis databases), none in use by a pool."""
        uris = self.zaqar.pool_uris
        redis = getattr(self.zaqar, "redis", None)
        while len(uris) < count and redis is not None:
            uris.append(redis.uri(redis.allocate_db()))
        if len(uris) < count:
            raise SkipTest(f"needs {count} pool URIs, the server has {len(uris)}")
        return uris[:count]

    async def make_pool(self, suffix: str, uri: str, weight: int = 10, **kwargs: Any) -> Pool:
        name = self.prefix + suffix
        pool = await self.admin.create_pool(name, uri, weight, **kwargs)
        self.addCleanup(lambda: self.admin.pool(name).delete())
        return pool

    async def make_flavor(self, suffix: str, pool_list: list[str], **kwargs: Any) -> Flavor:
        name = self.prefix + suffix
        flavor = await self.admin.create_flavor(name, pool_list, **kwargs)
        self.addCleanup(lambda: self.admin.flavor(name).delete())
        return flavor

    async def make_queue(self, name: str, metadata: Any = None) -> Any:
        queue = await self.admin.create_queue(name, metadata)
        self.addCleanup(queue.delete)
        return queue

    async def assert_queue_works(self, queue: Any) -> None:
        ids = await queue.post([{"body": {"n": i}} for i in range(3)])
        claim = await queue.claim(ttl=60, grace=60, limit=10)
        self.assertTrue(claim)
        self.assertEqual(sorted(m.id for m in claim.messages), sorted(ids))
        self.assertTrue(all(m.claim_id == claim.id for m in claim.messages))
        for message in claim.messages:
            await message.delete()
        stats = await queue.stats()
        self.assertEqual((stats.total, stats.claimed, stats.free), (0, 0, 0))

    async def assert_fires_none(self, d: Deferred[Any]) -> None:
        self.assertIsNone(await d)

    def own(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of a listing created by this test."""
        return [item for item in items if item["name"].startswith(self.prefix)]


class PoolTests(_RealAdmin):
    """C{/v2/pools} through L{Client} and L{Pool}."""

    async def test_create_get_detailed(self) -> None:
        """
        A pool is created with uri, weight and options; a plain get shows
        name, uri, weight and flavor (no options), a detailed get (sent as
        C{detailed=true}) shows the options too.
        """
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri, weight=100, options={"note": "x", "n": 1})
        self.assertIsInstance(pool, Pool)
        self.assertEqual(pool.name, self.prefix + "a")
        plain = await pool.get()
        self.assertEqual(
            plain,
            {"name": pool.name, "uri": uri, "weight": 100, "flavor": None, "href": f"/v2/pools/{pool.name}"},
        )
        detailed = await self.admin.pool(pool.name).get(detailed=True)
        self.assertEqual(detailed["options"], {"note": "x", "n": 1})
        self.assertEqual({k: detailed[k] for k in plain}, plain)

    async def test_create_again_replaces(self) -> None:
        """A second create of the same name answers 201 and replaces the pool (Zaqar's SQL upsert): no Conflict."""
        uri, other = self.uris(2)
        pool = await self.make_pool("a", uri, weight=100, options={"k": 1})
        again = await self.admin.create_pool(pool.name, other, 5)
        self.assertEqual(again, pool)
        detailed = await pool.get(detailed=True)
        self.assertEqual((detailed["uri"], detailed["weight"], detailed["options"]), (other, 5, {}))

    async def test_update(self) -> None:
        """update() changes weight, uri and options, and fires with the pool as it now is."""
        uri, other = self.uris(2)
        pool = await self.make_pool("a", uri, weight=100)
        updated = await pool.update(weight=7)
        self.assertEqual((updated["name"], updated["uri"], updated["weight"]), (pool.name, uri, 7))
        updated = await pool.update(uri=other)
        self.assertEqual((updated["uri"], updated["weight"]), (other, 7))
        await pool.update(options={"k": "v"}, weight=0)
        detailed = await pool.get(detailed=True)
        self.assertEqual((detailed["uri"], detailed["weight"], detailed["options"]), (other, 0, {"k": "v"}))

    async def test_delete(self) -> None:
        """delete() removes the pool; deleting it again (or any missing pool) succeeds: Zaqar answers 204."""
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        await self.assert_fires_none(pool.delete())
        with self.assertRaises(errors.NotFound):
            await pool.get()
        await self.assert_fires_none(pool.delete())
        self.assertNotIn(pool.name, [p["name"] for p in await self.admin.pools()])

    async def test_missing(self) -> None:
        """get/update of a pool that does not exist: NotFound."""
        missing = self.admin.pool(self.prefix + "missing")
        with self.assertRaises(errors.NotFound) as get:
            await missing.get()
        self.assertEqual(get.exception.description, f"Pool {missing.name} does not exist")
        with self.assertRaises(errors.NotFound):
            await missing.update(weight=1)

    async def test_name_follows_the_queue_name_rule(self) -> None:
        """
        A pool name is 1 to 64 of C{[A-Za-z0-9_-]}: Zaqar 23.0.1 stores a
        pool named C{"a b"}, which then cannot join a flavor, and answers
        500 to a name of 300 characters or with C{é}; the client refuses
        them, sending nothing.  The longest allowed name works.
        """
        [uri] = self.uris(1)
        for bad in ("a b", "p\u00e9", "x" * 300, "a.b"):
            with self.assertRaises(errors.ClientValidationError):
                self.admin.create_pool(self.prefix + bad, uri, 10)
        pool = await self.make_pool("A-b_9".ljust(64 - len(self.prefix), "z"), uri)
        self.assertEqual(len(pool.name), 64)
        self.assertEqual((await pool.get())["name"], pool.name)
        await pool.delete()
        with self.assertRaises(errors.NotFound):
            await pool.get()

    async def test_listing_pages(self) -> None:
        """
        pools(limit=2) follows the pages (C{name > marker} on SQL, so no
        rank-0 restart) and collects every pool exactly once, in name
        order, one request per page: total // 2 + 1 (the last page is
        short, or empty when total is even).
        """
        uris = self.uris(5)
        for i, uri in enumerate(uris):
            await self.make_pool(f"p{i}", uri, weight=i, options={"i": i})
        counting = CountingConnection(self.admin.connection)
        lister = Client(counting)  # type: ignore[arg-type]
        listed = await lister.pools(limit=2)
        names = [p["name"] for p in listed]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(names, sorted(names))
        mine = self.own(listed)
        self.assertEqual([p["name"] for p in mine], [f"{self.prefix}p{i}" for i in range(5)])
        self.assertEqual([(p["uri"], p["weight"]) for p in mine], [(u, i) for i, u in enumerate(uris)])
        self.assertNotIn("options", mine[0])
        self.assertEqual(len(counting.gets), len(listed) // 2 + 1)
        self.assertTrue(all(path == "pools" and params["limit"] == 2 for path, params in counting.gets))
        detailed = self.own(await self.admin.pools(limit=3, detailed=True))
        self.assertEqual([p["options"] for p in detailed], [{"i": i} for i in range(5)])

    async def test_client_side_validation(self) -> None:
        """
        Bad input raises ClientValidationError at the call, before a
        request exists (nothing is created); the server refuses the same
        bodies with BadRequest (checked by sending them raw).
        """
        [uri] = self.uris(1)
        name = self.prefix + "bad"
        bad: list[tuple[dict[str, Any], str]] = [
            ({"uri": uri, "weight": -1}, "weight"),
            ({"uri": uri, "weight": 2**32}, "weight"),
            ({"uri": uri, "weight": "5"}, "weight"),
            ({"uri": uri, "weight": True}, "weight"),
            ({"uri": 5, "weight": 1}, "uri"),
            ({"uri": "", "weight": 1}, "uri"),
            ({"uri": "redis://" + "x" * 250, "weight": 1}, "uri"),
            ({"uri": uri, "weight": 1, "options": ["a"]}, "options"),
        ]
        for body, field in bad:
            with self.assertRaises(errors.ClientValidationError) as raised:
                self.admin.create_pool(name, body["uri"], body["weight"], options=body.get("options"))
            self.assertEqual(raised.exception.field, field, body)
        with self.assertRaises(errors.NotFound):
            await self.admin.pool(name).get()
        # what the server says to the same bodies
        for body, _field in bad:
            if body["uri"] == "":
                continue  # an empty uri passes the schema and fails the connection check, below
            with self.assertRaises(errors.BadRequest, msg=str(body)) as refused:
                await self.admin.connection.put(f"pools/{name}", body=body, idempotent=False)
            self.assertEqual(refused.exception.title, "Invalid request body")
        # a uri the client cannot judge: the server tries to connect to it
        unreachable = "redis://127.0.0.1:1?dbid=0"
        with self.assertRaises(errors.BadRequest) as refused:
            await self.admin.create_pool(name, unreachable, 1)
        self.assertEqual(refused.exception.description, f"cannot connect to {unreachable}")
        with self.assertRaises(errors.NotFound):
            await self.admin.pool(name).get()
        # updates and listings
        pool = self.admin.pool(name)
        for kwargs in ({}, {"weight": -1}, {"uri": 5}, {"options": "x"}):
            self.assertRaises(errors.ClientValidationError, pool.update, **kwargs)
        with self.assertRaises(errors.BadRequest) as empty:
            await self.admin.connection.patch(f"pools/{name}", body={}, idempotent=True)
        self.assertIn("needs to be specified", empty.exception.description)
        for limit in (0, 21):
            self.assertRaises(errors.ClientValidationError, self.admin.pools, limit=limit)
        with self.assertRaises(errors.BadRequest):
            await self.admin.connection.get("pools", params={"limit": 21})
        self.assertRaises(errors.ClientValidationError, self.admin.pool, "a/b")
        self.assertRaises(errors.ClientValidationError, self.admin.pool, "")

    async def test_uri_in_use(self) -> None:
        """A second pool on a uri another pool uses: Zaqar 23.0.1 answers 500 (the uri column is unique)."""
        [uri] = self.uris(1)
        first = await self.make_pool("a", uri)
        second = self.admin.pool(self.prefix + "b")
        self.addCleanup(second.delete)
        with self.assertRaises(errors.InternalServerError) as failed:
            await second.create(uri, 1)
        self.assertEqual(failed.exception.description, f"Pool {second.name} does not exist")
        self.assertEqual((await first.get())["uri"], uri)
        with self.assertRaises(errors.NotFound):
            await second.get()

    async def test_admin_role_needed(self) -> None:
        """Without the admin role pools cannot be listed, read or created: Forbidden."""
        [uri] = self.uris(1)
        user = self.client()
        with self.assertRaises(errors.Forbidden):
            await user.pools()
        with self.assertRaises(errors.Forbidden):
            await user.pool(self.prefix + "a").get()
        with self.assertRaises(errors.Forbidden):
            await user.create_pool(self.prefix + "a", uri, 1)


class PooledQueueTests(_RealAdmin):
    """Queues on the pooling server."""

    async def test_queue_needs_a_pool(self) -> None:
        """Without any pool, creating a queue fails: ServiceUnavailable (503, after the client's retries)."""
        if await self.admin.pools():
            raise SkipTest("the server already has pools")
        with self.assertRaises(errors.ServiceUnavailable) as failed:
            await self.admin.create_queue(f"q-{uuid.uuid4().hex[:8]}")
        self.assertIn("Queue could not be created", failed.exception.description)

    async def test_queue_works_once_a_pool_exists(self) -> None:
        """With a pool registered, a queue is created and messages are posted, claimed and deleted."""
        [uri] = self.uris(1)
        await self.make_pool("a", uri)
        queue = await self.make_queue(f"q-{uuid.uuid4().hex[:8]}")
        await self.assert_queue_works(queue)
        self.assertIn(queue.name, [q.name for q in await self.admin.queues()])

    async def test_queue_on_a_flavor(self) -> None:
        """A queue created with C{_flavor} lives in that flavor's pools and works."""
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        flavor = await self.make_flavor("f", [pool.name])
        queue = await self.make_queue(f"q-{uuid.uuid4().hex[:8]}", {"_flavor": flavor.name})
        self.assertEqual((await queue.metadata()).content["_flavor"], flavor.name)
        await self.assert_queue_works(queue)


class FlavorTests(_RealAdmin):
    """C{/v2/flavors} through L{Client} and L{Flavor}."""

    async def test_create_get(self) -> None:
        """
        A flavor over a pool: get (plain and detailed, the same on a
        single flavor) shows its pool_list and the capabilities the server
        derives from the pool; the capabilities sent are ignored.  The
        pool now names the flavor.
        """
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        flavor = await self.make_flavor("f", [pool.name], capabilities={"ignored": True})
        self.assertIsInstance(flavor, Flavor)
        expected = {
            "name": flavor.name,
            "pool_list": [pool.name],
            "capabilities": REDIS_CAPABILITIES,
            "href": f"/v2/flavors/{flavor.name}",
        }
        self.assertEqual(await flavor.get(), expected)
        self.assertEqual(await flavor.get(detailed=True), expected)
        self.assertEqual((await pool.get())["flavor"], flavor.name)

    async def test_update(self) -> None:
        """
        update(pool_list=...) replaces the flavor's pools and fires with
        the flavor; pools taken out are detached (their flavor becomes "").
        """
        uri1, uri2 = self.uris(2)
        pool1 = await self.make_pool("a", uri1)
        pool2 = await self.make_pool("b", uri2)
        flavor = await self.make_flavor("f", [pool1.name])
        updated = await flavor.update(pool_list=[pool1.name, pool2.name])
        self.assertEqual(
            updated,
            {"name": flavor.name, "pool_list": [pool1.name, pool2.name],
             "capabilities": REDIS_CAPABILITIES, "href": f"/v2/flavors/{flavor.name}"},
        )
        self.assertEqual((await flavor.get())["pool_list"], [pool1.name, pool2.name])
        self.assertEqual((await pool2.get())["flavor"], flavor.name)
        updated = await flavor.update([pool2.name], capabilities={"ignored": True})
        self.assertEqual(updated["pool_list"], [pool2.name])
        self.assertEqual((await flavor.get())["pool_list"], [pool2.name])
        self.assertEqual((await pool1.get())["flavor"], "")

    async def test_name_follows_the_queue_name_rule(self) -> None:
        """
        A flavor name follows the queue-name rule (a space, C{%} or C{.}
        is refused, nothing sent); an allowed one is sent as it is (get,
        update, delete).
        """
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        for bad in ("f 1", "f%41", "f.1"):
            with self.assertRaises(errors.ClientValidationError):
                self.admin.create_flavor(self.prefix + bad, [pool.name])
        flavor = await self.make_flavor("f_1-A", [pool.name])
        self.assertEqual((await flavor.get())["name"], flavor.name)
        self.assertEqual((await pool.get())["flavor"], flavor.name)
        self.assertEqual((await flavor.update([pool.name]))["name"], flavor.name)
        await flavor.delete()
        with self.assertRaises(errors.NotFound):
            await flavor.get()

    async def test_listing_pages(self) -> None:
        """
        flavors(limit=2) collects the project's flavors over several pages,
        each once, with their pool_list (and, detailed, capabilities);
        another project sees none of them.
        """
        uris = self.uris(3)
        pools = [await self.make_pool(f"p{i}", uri) for i, uri in enumerate(uris)]
        names = [(await self.make_flavor(f"f{i}", [pool.name])).name for i, pool in enumerate(pools)]
        counting = CountingConnection(self.admin.connection)
        listed = await Client(counting).flavors(limit=2)  # type: ignore[arg-type]
        self.assertEqual(
            listed,
            [{"name": n, "href": f"/v2/flavors/{n}", "pool_list": [p.name]} for n, p in zip(names, pools, strict=True)],
        )
        self.assertEqual(len(counting.gets), 2)
        detailed = await self.admin.flavors(limit=2, detailed=True)
        self.assertEqual([f["capabilities"] for f in detailed], [REDIS_CAPABILITIES] * 3)
        other = self.client(admin=True, project=self.project + "-other")
        self.assertEqual(await other.flavors(), [])
        with self.assertRaises(errors.NotFound):
            await other.flavor(names[0]).get()

    async def test_delete(self) -> None:
        """delete() removes the flavor and detaches its pools, which stay; deleting again succeeds (204)."""
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        flavor = await self.make_flavor("f", [pool.name])
        await self.assert_fires_none(flavor.delete())
        with self.assertRaises(errors.NotFound):
            await flavor.get()
        self.assertEqual((await pool.get())["flavor"], "")
        await self.assert_fires_none(flavor.delete())
        self.assertEqual(await self.admin.flavors(), [])

    async def test_errors(self) -> None:
        """
        NotFound for a missing flavor (get, update); BadRequest for a
        pool_list naming a missing pool; ClientValidationError, before
        sending, for an empty or malformed pool_list and for an update
        without one (the server answers 400 to those, checked raw).
        """
        missing = self.admin.flavor(self.prefix + "missing")
        with self.assertRaises(errors.NotFound) as get:
            await missing.get()
        self.assertEqual(get.exception.description, f"Flavor {missing.name} does not exist")
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        with self.assertRaises(errors.NotFound):
            await missing.update([pool.name])
        name = self.prefix + "f"
        with self.assertRaises(errors.BadRequest) as refused:
            await self.admin.create_flavor(name, [self.prefix + "nopool"])
        self.assertIn(f"Pool {self.prefix}nopool does not exist", refused.exception.description)
        with self.assertRaises(errors.NotFound):
            await self.admin.flavor(name).get()
        for pool_list in ([], "abc", [""], [5], None):
            self.assertRaises(errors.ClientValidationError, self.admin.create_flavor, name, pool_list)
        self.assertRaises(errors.ClientValidationError, self.admin.create_flavor, name, [pool.name], capabilities=[])
        with self.assertRaises(errors.BadRequest) as empty:
            await self.admin.connection.put(f"flavors/{name}", body={"pool_list": []}, idempotent=False)
        self.assertEqual(empty.exception.title, "Unable to create")
        flavor = await self.make_flavor("f", [pool.name])
        no_pools: list[dict[str, Any]] = [{}, {"capabilities": {"a": 1}}, {"pool_list": []}]
        for kwargs in no_pools:
            self.assertRaises(errors.ClientValidationError, flavor.update, **kwargs)
        with self.assertRaises(errors.BadRequest) as caps_only:
            await self.admin.connection.patch(f"flavors/{flavor.name}", body={"capabilities": {}}, idempotent=True)
        self.assertEqual(caps_only.exception.description, "`pool_list` needs to be specified")
        with self.assertRaises(errors.BadRequest):
            await flavor.update([self.prefix + "nopool"])
        self.assertEqual((await flavor.get())["pool_list"], [pool.name])
        for limit in (0, 21):
            self.assertRaises(errors.ClientValidationError, self.admin.flavors, limit=limit)

    async def test_roles(self) -> None:
        """Reading flavors is open to the project; creating, updating and deleting them needs the admin role."""
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        flavor = await self.make_flavor("f", [pool.name])
        user = self.client()
        self.assertEqual((await user.flavor(flavor.name).get())["pool_list"], [pool.name])
        self.assertEqual([f["name"] for f in await user.flavors()], [flavor.name])
        with self.assertRaises(errors.Forbidden):
            await user.create_flavor(self.prefix + "g", [pool.name])
        with self.assertRaises(errors.Forbidden):
            await user.flavor(flavor.name).update([pool.name])
        with self.assertRaises(errors.Forbidden):
            await user.flavor(flavor.name).delete()

    async def test_pool_moves_between_flavors(self) -> None:
        """A pool is in at most one flavor: a second flavor over it takes it from the first."""
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        first = await self.make_flavor("f1", [pool.name])
        second = await self.make_flavor("f2", [pool.name])
        self.assertEqual((await second.get())["pool_list"], [pool.name])
        self.assertEqual(await first.get(), {"name": first.name, "pool_list": [], "capabilities": [],
                                             "href": f"/v2/flavors/{first.name}"})
        self.assertEqual((await pool.get())["flavor"], second.name)

    async def test_deleting_a_used_pool(self) -> None:
        """
        Deleting a pool a flavor uses succeeds (204, not the documented
        403); the flavor remains, with no pools and no capabilities.
        """
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        flavor = await self.make_flavor("f", [pool.name])
        await self.assert_fires_none(pool.delete())
        self.assertEqual(await flavor.get(), {"name": flavor.name, "pool_list": [], "capabilities": [],
                                              "href": f"/v2/flavors/{flavor.name}"})

    async def test_name_taken_in_another_project(self) -> None:
        """
        Flavor names are unique across projects though flavors are read per
        project: creating one whose name another project uses answers 500.
        """
        [uri] = self.uris(1)
        pool = await self.make_pool("a", uri)
        flavor = await self.make_flavor("f", [pool.name])
        other = self.client(admin=True, project=self.project + "-other")
        with self.assertRaises(errors.InternalServerError) as failed:
            await other.create_flavor(flavor.name, [pool.name])
        self.assertEqual(failed.exception.description, f"Flavor {flavor.name} does not exist")
        self.assertEqual((await flavor.get())["pool_list"], [pool.name])

