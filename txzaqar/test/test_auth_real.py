"""
The real client against a real Keystone (PyPI C{keystone}, SQLite, fernet)
and Zaqar with C{auth_strategy = keystone}, and against Zaqar behind TLS
with a CA made for the test (L{txzaqar.testing._keystone},
L{txzaqar.testing._harness.shared_tls_zaqar}).

The stacks are shared per test process; the first test that asks for one
pays for its start.  No fixed sleeps: waits poll a condition against a
generous deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import ILogObserver, formatEvent, globalLogPublisher
from twisted.trial import unittest

import txzaqar
from txzaqar import errors
from txzaqar.auth import Keystone
from txzaqar.testing import _harness
from txzaqar.testing._keystone import KeystoneStack, shared_keystone_stack


async def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll C{condition()} every 0.1 s; fail after C{timeout} seconds."""
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await deferLater(reactor, 0.1, lambda: None)


class _Events:
    """Every log event while a test runs."""

    def __init__(self, case: unittest.TestCase) -> None:
        self.events: list[dict[str, Any]] = []
        observer = cast(ILogObserver, self.events.append)
        globalLogPublisher.addObserver(observer)
        case.addCleanup(globalLogPublisher.removeObserver, observer)

    def count(self, prefix: str) -> int:
        return sum(1 for e in self.events if str(e.get("log_format", "")).startswith(prefix))


class _KeystoneCase(unittest.TestCase):
    timeout = 300
    token_ttl = 3600

    def setUp(self) -> None:
        self.stack: KeystoneStack = shared_keystone_stack(token_ttl=self.token_ttl)
        self.auth_url = self.stack.keystone.url
        self.queues: list[tuple[Any, str]] = []

    def connect(self, user: str = "demo", **kwargs: Any) -> Any:
        auth: dict[str, Any] = self.stack.credentials.user(user).auth_kwargs(self.auth_url)
        auth.update(kwargs)
        client = txzaqar.connect(reactor=reactor, timeout=30, **auth)
        self.addCleanup(client.close)
        return client

    def queue_name(self, client: Any) -> str:
        name = f"ks-{uuid.uuid4().hex[:12]}"
        self.addCleanup(lambda: client.queue(name).delete())
        return name


class PasswordAuthTests(_KeystoneCase):
    async def test_catalog_endpoint_and_queue_operations(self) -> None:
        """Password auth, Zaqar found in the catalog, the usual operations work."""
        events = _Events(self)
        client = self.connect()
        name = self.queue_name(client)
        queue = await client.create_queue(name, metadata={"purpose": "keystone test"})
        ids = await queue.post([{"body": {"n": n}} for n in range(5)])
        self.assertEqual(len(ids), 5)
        claim = await queue.claim(limit=3)
        self.assertEqual(len(claim.messages), 3)
        for message in claim.messages:
            await message.delete()
        self.assertEqual((await queue.stats()).total, 2)
        self.assertIn(name, [q.name for q in await client.queues()])
        urls = [e["url"] for e in events.events if e.get("log_format") == "{method} {url} -> {code}"]
        self.assertTrue(urls)
        self.assertTrue(all(u.startswith(self.stack.zaqar.url + "/v2/") for u in urls), urls[:3])
        self.assertEqual(events.count("authenticated with Keystone"), 1)

    async def test_explicit_url_wins_over_the_catalog(self) -> None:
        """The catalog says 127.0.0.1; an explicit localhost URL is what is used."""
        events = _Events(self)
        explicit = self.stack.zaqar.url.replace("127.0.0.1", "localhost")
        client = self.connect(url=explicit)
        await client.queues()
        urls = [e["url"] for e in events.events if e.get("log_format") == "{method} {url} -> {code}"]
        self.assertTrue(urls)
        self.assertTrue(all(u.startswith(explicit + "/v2/") for u in urls), urls)

    async def test_projects_are_separate(self) -> None:
        """alt (project alt) sees nothing of demo's (project demo) queue of the same name."""
        demo, alt = self.connect("demo"), self.connect("alt")
        name = self.queue_name(demo)
        queue = await demo.create_queue(name)
        await queue.post([{"body": "for demo only"}])
        self.assertNotIn(name, [q.name for q in await alt.queues()])
        self.assertEqual(await alt.queue(name).messages(), [])
        self.assertEqual((await alt.queue(name).stats()).total, 0)
        self.assertEqual([m.body for m in await queue.messages()], ["for demo only"])

    async def test_wrong_password(self) -> None:
        """AuthenticationFailed, one attempt at Keystone per request: no retry storm."""
        calls: list[str] = []

        def counting(f: Any, *args: Any) -> Deferred[Any]:
            calls.append(f.__name__)
            return deferToThread(f, *args)

        options: dict[str, Any] = self.stack.credentials.user("demo").auth_kwargs(self.auth_url)
        options["password"] = "not-it"
        keystone = Keystone.from_options(run_in_thread=counting, **options)
        client = txzaqar.connect(self.stack.zaqar.url, authenticator=keystone, reactor=reactor)
        self.addCleanup(client.close)
        e = await self.assertFailure(client.queues(), errors.AuthenticationFailed)
        self.assertEqual(calls, ["_fetch_headers"])
        self.assertNotIn("not-it", str(e))
        self.assertNotIn("not-it", repr(keystone))
        await self.assertFailure(client.queue("q").stats(), errors.AuthenticationFailed)
        self.assertEqual(calls, ["_fetch_headers"] * 2)

    async def test_revoked_token_is_replaced_after_one_401(self) -> None:
        """A token revoked in use: one 401, one re-authentication, and the request succeeds."""
        events = _Events(self)
        client = self.connect()
        name = self.queue_name(client)
        queue = await client.create_queue(name)
        token = (await client.connection._auth.headers())["X-Auth-Token"]
        await deferToThread(self.stack.keystone.revoke, token)
        ids = await queue.post([{"body": "after revocation"}])
        self.assertEqual(len(ids), 1)
        self.assertEqual(events.count("{method} {url} got 401"), 1)
        self.assertEqual(events.count("authenticated with Keystone"), 2)
        self.assertNotEqual((await client.connection._auth.headers())["X-Auth-Token"], token)

    async def test_concurrent_401s_reauthenticate_once(self) -> None:
        """Ten requests hit the same revoked token: one new token for all of them."""
        events = _Events(self)
        client = self.connect()
        name = self.queue_name(client)
        queue = await client.create_queue(name)
        token = (await client.connection._auth.headers())["X-Auth-Token"]
        await deferToThread(self.stack.keystone.revoke, token)
        results = await Deferred.fromCoroutine(_gather([queue.stats() for _ in range(10)]))
        self.assertEqual([r.total for r in results], [0] * 10)
        self.assertEqual(events.count("authenticated with Keystone"), 2)

    async def test_no_secret_in_any_log_event(self) -> None:
        """A whole session, 401 included: neither the password nor a token is ever logged."""
        events = _Events(self)
        user = self.stack.credentials.user("demo")
        client = self.connect()
        name = self.queue_name(client)
        queue = await client.create_queue(name)
        await queue.post([{"body": n} for n in range(3)])
        first = (await client.connection._auth.headers())["X-Auth-Token"]
        await deferToThread(self.stack.keystone.revoke, first)
        claim = await queue.claim(limit=3)
        await claim.release()
        second = (await client.connection._auth.headers())["X-Auth-Token"]
        self.assertNotEqual(first, second)
        await self.assertFailure(client.queue("no-such-queue").message("nope"), errors.NotFound)
        self.assertGreater(len(events.events), 5)
        for event in events.events:
            text = formatEvent(event) + repr(event)
            for secret in (user.password, first, second):
                self.assertNotIn(secret, text)
        for text in (repr(client), repr(client.connection), repr(client.connection._auth)):
            for secret in (user.password, first, second):
                self.assertNotIn(secret, text)


async def _gather(ds: list[Deferred[Any]]) -> list[Any]:
    return [await d for d in ds]


class ShortTokenTests(_KeystoneCase):
    """A Keystone issuing 5-second tokens."""

    token_ttl = 5

    async def test_subscriber_across_three_token_lifetimes(self) -> None:
        """Messages posted over 16 s (over 3 token lifetimes): all delivered, none failed."""
        events = _Events(self)
        producer, consumer = self.connect(), self.connect()
        name = self.queue_name(producer)
        queue = await producer.create_queue(name)
        delivered: list[Any] = []
        subscriber = consumer.subscriber(poll_interval=0.2, max_interval=0.5)
        subscriber.close_client = False
        subscriber.subscribe(name, lambda m: delivered.append(m.body))
        subscriber.startService()
        self.addCleanup(lambda: subscriber.stopService() if subscriber.running else None)
        started = reactor.seconds()
        posted = 0
        while reactor.seconds() - started < 16:
            await queue.post([{"body": posted}, {"body": posted + 1}])
            posted += 2
            await deferLater(reactor, 0.5, lambda: None)
        await wait_until(lambda: len(delivered) >= posted, 60, f"{posted} deliveries")
        await subscriber.stopService()
        self.assertEqual(sorted(delivered), list(range(posted)))
        self.assertEqual(subscriber.stats["failed"], 0)
        self.assertEqual(subscriber.stats["processed"], posted)
        self.assertEqual((await queue.stats()).total, 0)
        # the tokens did run out: the client re-authenticated, more than once
        self.assertGreaterEqual(events.count("authenticated with Keystone"), 4)

    async def test_keystone_down_then_back(self) -> None:
        """
        Keystone stops: a new client gets IdentityUnavailable; a running
        Subscriber backs off and delivers once Keystone is back.
        """
        keystone = self.stack.keystone
        client = self.connect(url=self.stack.zaqar.url)
        name = self.queue_name(client)
        queue = await client.create_queue(name)
        delivered: list[Any] = []
        subscriber = self.connect(url=self.stack.zaqar.url).subscriber(poll_interval=0.2, max_interval=1)
        subscriber.close_client = False
        subscriber.subscribe(name, lambda m: delivered.append(m.body))
        subscriber.startService()
        self.addCleanup(lambda: subscriber.stopService() if subscriber.running else None)
        await queue.post([{"body": "before"}])
        await wait_until(lambda: delivered == ["before"] and subscriber.stats["acked"] == 1, 60,
                         "the first delivery and its acknowledgement")

        await deferToThread(keystone.stop)
        try:
            fresh = self.connect(url=self.stack.zaqar.url)
            e = await self.assertFailure(fresh.queues(), errors.IdentityUnavailable)
            self.assertNotIn("demo-secret", str(e))
            errors_before = subscriber.stats["poll_errors"]
            # tokens last 5 s: soon neither Zaqar nor the client can check or get one
            await wait_until(lambda: subscriber.stats["poll_errors"] >= errors_before + 3, 60,
                             "the subscriber to fail and back off")
            self.assertTrue(subscriber.running)
        finally:
            await deferToThread(keystone.start)
        await queue.post([{"body": "after"}])
        await wait_until(lambda: delivered == ["before", "after"], 90, "delivery after Keystone returned")
        await subscriber.stopService()
        self.assertEqual(subscriber.stats["failed"], 0)


class KeystoneTLSTests(unittest.TestCase):
    """Keystone and Zaqar both over HTTPS, with the test CA."""

    timeout = 300

    def setUp(self) -> None:
        self.stack = shared_keystone_stack(tls=True)
        self.pki = _harness.shared_pki()

    async def test_https_keystone_and_zaqar(self) -> None:
        auth: dict[str, Any] = self.stack.credentials.user("demo").auth_kwargs(self.stack.keystone.url)
        client = txzaqar.connect(reactor=reactor, cacert=str(self.pki.ca_cert), **auth)
        self.addCleanup(client.close)
        queues = await client.queues()
        self.assertIsInstance(queues, list)

    async def test_https_keystone_refused_without_the_ca(self) -> None:
        auth: dict[str, Any] = self.stack.credentials.user("demo").auth_kwargs(self.stack.keystone.url)
        client = txzaqar.connect(reactor=reactor, **auth)
        self.addCleanup(client.close)
        e = await self.assertFailure(client.queues(), errors.IdentityUnavailable)
        self.assertIn("certificate verify failed", str(e))


class ZaqarTLSTests(unittest.TestCase):
    """A noauth Zaqar behind TLS, certificates from a CA made for the test."""

    timeout = 300

    def setUp(self) -> None:
        self.pki = _harness.shared_pki()

    def connect(self, url: str, **kwargs: Any) -> Any:
        client = txzaqar.connect(url, project_id="tls-test", reactor=reactor, timeout=20, **kwargs)
        self.addCleanup(client.close)
        return client

    async def test_refused_by_default(self) -> None:
        server = _harness.shared_tls_zaqar()
        e = await self.assertFailure(self.connect(server.url).ping(), errors.ConnectionFailed)
        self.assertIn("certificate", str(e).lower())

    async def test_accepted_with_the_ca_bundle(self) -> None:
        server = _harness.shared_tls_zaqar()
        client = self.connect(server.url, cacert=str(self.pki.ca_cert))
        self.assertTrue(await client.ping())
        name = f"tls-{uuid.uuid4().hex[:8]}"
        queue = await client.create_queue(name)
        self.addCleanup(queue.delete)
        await queue.post([{"body": "over TLS"}])
        self.assertEqual([m.body for m in await queue.messages()], ["over TLS"])

    async def test_insecure_accepts_and_warns(self) -> None:
        events = _Events(self)
        server = _harness.shared_tls_zaqar(wrong_host=True)
        client = self.connect(server.url, insecure=True)
        self.assertTrue(await client.ping())
        self.assertEqual(events.count("TLS verification of Zaqar is DISABLED"), 1)

    async def test_hostname_mismatch_refused(self) -> None:
        server = _harness.shared_tls_zaqar(wrong_host=True)
        e = await self.assertFailure(
            self.connect(server.url, cacert=str(self.pki.ca_cert)).ping(), errors.ConnectionFailed
        )
        self.assertIn("127.0.0.1", str(e))

    async def test_mtls_needs_the_client_certificate(self) -> None:
        server = _harness.shared_tls_zaqar(mtls=True)
        await self.assertFailure(
            self.connect(server.url, cacert=str(self.pki.ca_cert)).ping(), errors.ConnectionFailed
        )
        client = self.connect(server.url, cacert=str(self.pki.ca_cert), cert=str(self.pki.client_cert),
                              key=str(self.pki.client_key))
        self.assertTrue(await client.ping())
