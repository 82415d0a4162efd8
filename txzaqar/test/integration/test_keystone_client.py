"""
The real client (L{txzaqar.connect}, L{txzaqar.auth.Keystone},
L{txzaqar.subscriber.Subscriber}) against a real Keystone and a real Zaqar
with C{auth_strategy = keystone} (L{txzaqar.testing.servers.keystone_stack}), and against
Zaqar behind TLS with a CA made here.

What is observed is observed at the servers where possible: Keystone's own
log file counts refused logins, a recording L{IAgent} sees every HTTP
status Zaqar answered.  Stacks are shared per test process (the first test
that asks for one pays for its start); the tests that stop or hang Keystone
share a stack of their own, so that no other test sees the outage.  No
fixed sleeps: waits poll a condition against a generous deadline.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import formatEvent
from twisted.trial import unittest
from twisted.web.iweb import IAgent, IResponse
from zope.interface import implementer

import txzaqar
from txzaqar import errors
from txzaqar.api.client import Client
from txzaqar.auth import Keystone, Token
from txzaqar.http.connection import Connection, make_agent, make_pool
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.recording import Events
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing import servers
from txzaqar.testing.servers import (
    KeystoneServer,
    KeystoneStack,
    KeystoneUser,
    ServerTLS,
    shared_keystone_stack,
)

E = TypeVar("E", bound=Exception)

async def fails(d: Deferred[Any], kind: type[E]) -> E:
    """The C{kind} exception C{d} fails with; an AssertionError if it succeeds."""
    try:
        result = await d
    except kind as e:
        return e
    raise AssertionError(f"{kind.__name__} not raised; got {result!r}")


@implementer(IAgent)
class RecordingAgent:
    """
    Passes requests to a real agent and records C{(method, url, status,
    token digest)} of every response, so a test sees each 401 Zaqar sent.
    """

    def __init__(self, agent: IAgent) -> None:
        self._agent = agent
        self.seen: list[tuple[str, str, int, str]] = []

    def request(self, method: bytes, uri: bytes, headers: Any = None, bodyProducer: Any = None) -> Deferred[IResponse]:
        raw = headers.getRawHeaders(b"x-auth-token", [b""])[0] if headers is not None else b""
        digest = hashlib.sha256(raw).hexdigest()[:12]

        def seen(response: IResponse) -> IResponse:
            self.seen.append((method.decode(), uri.decode(), response.code, digest))
            return response

        return self._agent.request(method, uri, headers, bodyProducer).addCallback(seen)

    def codes(self, since: int = 0) -> list[tuple[str, int]]:
        return [(method, code) for method, _, code, _ in self.seen[since:]]


class KeystoneLog:
    """
    Counts the logins a Keystone refused, from its own log file: one
    C{Authorization failed} line per refused C{POST /v3/auth/tokens},
    written before the 401 is sent.  A refused login of a made-up user
    (C{Could not find user: <name>}) marks the end of a window.
    """

    def __init__(self, keystone: KeystoneServer) -> None:
        self.keystone = keystone
        self.start = self._size()

    def _size(self) -> int:
        return len(self.keystone.log_file.read_bytes())

    async def refused_logins(self) -> int:
        """Refused logins since this object was made, up to a marker sent now."""
        marker = f"marker-{uuid.uuid4().hex[:12]}"
        nobody = KeystoneUser(marker, "no-password", "demo")
        status, _, _ = await deferToThread(self.keystone.request, "POST", "/auth/tokens", nobody.auth_body())
        assert status == 401, status
        found = f"Could not find user: {marker}."
        text = ""

        def marked() -> bool:
            nonlocal text
            text = self.keystone.log_file.read_bytes()[self.start:].decode("utf-8", "replace")
            return found in text

        await wait_until(marked, "the marker in Keystone's log")
        return text[: text.index(found)].count("Authorization failed.")


class KeystoneCase(unittest.TestCase):
    """Helpers over the shared stack of C{token_ttl}-second tokens."""

    timeout = 300
    token_ttl = 3600

    def setUp(self) -> None:
        self.stack: KeystoneStack = shared_keystone_stack(token_ttl=self.token_ttl)
        self.keystone = self.stack.keystone

    def auth_options(self, user: str = "demo", stack: KeystoneStack | None = None) -> dict[str, Any]:
        stack = stack or self.stack
        return dict(stack.credentials.user(user).auth_kwargs(stack.keystone.url))

    def connect(self, user: str = "demo", stack: KeystoneStack | None = None, **kwargs: Any) -> Client:
        """C{txzaqar.connect} with password options only (Zaqar from the catalog)."""
        options = self.auth_options(user, stack)
        options.update(kwargs)
        client = txzaqar.connect(reactor=reactor, timeout=30, **options)
        self.addCleanup(client.close)
        return client

    def recorded(self, user: str = "demo", url: str | None = None) -> tuple[Client, Keystone, RecordingAgent]:
        """A client built from the public parts, its authenticator and a L{RecordingAgent}."""
        keystone = Keystone.from_options(reactor=reactor, **self.auth_options(user))
        pool = make_pool(reactor)
        agent = RecordingAgent(make_agent(reactor, pool=pool))
        client = Client(Connection(agent, reactor, keystone, url=url, timeout=30, pool=pool),
                        subscriber_factory=Subscriber)
        self.addCleanup(client.close)
        return client, keystone, agent

    def new_queue_name(self, client: Client) -> str:
        name = f"kc-{uuid.uuid4().hex[:12]}"
        self.addCleanup(lambda: client.queue(name).delete())
        return name


def request_urls(events: Events) -> list[str]:
    return [e["url"] for e in events.matching("{method} {url} -> {code}")]


class CatalogAndProjectTests(KeystoneCase):
    """Password authentication through C{connect}, the catalog, and tenancy."""

    async def test_catalog_endpoint_and_queue_lifecycle(self) -> None:
        """
        C{connect} with Keystone options and no URL finds Zaqar in the
        catalog; create, post, list, claim, delete and stats all work there.
        """
        events = Events(self)
        client = self.connect()
        name = self.new_queue_name(client)
        queue = await client.create_queue(name, metadata={"owner": "demo"})
        ids = await queue.post([{"body": {"n": n}, "ttl": 300} for n in range(4)])
        self.assertEqual(len(ids), 4)
        listed = await queue.messages()
        self.assertEqual(sorted(m.body["n"] for m in listed), [0, 1, 2, 3])
        claim = await queue.claim(limit=3, ttl=60, grace=60)
        self.assertEqual(len(claim.messages), 3)
        for message in claim.messages:
            self.assertEqual(message.claim_id, claim.id)
            await message.delete()
        free = [m for m in await queue.messages() if m.id not in {c.id for c in claim.messages}]
        self.assertEqual(len(free), 1)
        await queue.delete_message(free[0].id)
        self.assertEqual((await queue.stats()).total, 0)
        self.assertEqual((await queue.metadata()).content["owner"], "demo")
        self.assertIn(name, [q.name for q in await client.queues()])
        await queue.delete()
        self.assertNotIn(name, [q.name for q in await client.queues()])

        urls = request_urls(events)
        self.assertGreaterEqual(len(urls), 10)
        self.assertEqual([u for u in urls if not u.startswith(self.stack.zaqar.url + "/v2/")], [])
        # one login for the whole session, the catalog came with it
        self.assertEqual(events.count("authenticated with Keystone"), 1)

    async def test_explicit_url_overrides_the_catalog(self) -> None:
        """
        With C{url=} the catalog is never consulted: the catalog holds
        127.0.0.1, every request goes to the explicit localhost URL.
        """
        endpoint_calls: list[None] = []

        class CountingKeystone(Keystone):
            def endpoint(self) -> Deferred[str | None]:
                endpoint_calls.append(None)
                return super().endpoint()

        events = Events(self)
        explicit = self.stack.zaqar.url.replace("127.0.0.1", "localhost")
        self.assertNotEqual(explicit, self.stack.zaqar.url)
        keystone = CountingKeystone.from_options(reactor=reactor, **self.auth_options())
        self.assertEqual(await keystone.endpoint(), self.stack.zaqar.url)  # what the catalog says
        del endpoint_calls[:]
        client = txzaqar.connect(explicit, authenticator=keystone, reactor=reactor)
        self.addCleanup(client.close)
        name = self.new_queue_name(client)
        queue = await client.create_queue(name)
        await queue.post([{"body": "via the explicit URL"}])
        self.assertEqual([m.body for m in await queue.messages()], ["via the explicit URL"])
        urls = request_urls(events)
        self.assertTrue(urls)
        self.assertEqual([u for u in urls if not u.startswith(explicit + "/v2/")], [])
        self.assertEqual(endpoint_calls, [])

    async def test_other_project_sees_nothing(self) -> None:
        """
        alt (project alt) cannot see, read, claim or delete what demo
        (project demo) has in a queue of the same name: listing shows
        nothing, a message or claim by id is a 404, a delete by id is a
        no-op, and demo's queue and message are untouched.
        """
        demo, alt = self.connect("demo"), self.connect("alt")
        name = self.new_queue_name(demo)
        self.addCleanup(lambda: alt.queue(name).delete())
        queue = await demo.create_queue(name)
        [message_id] = await queue.post([{"body": "demo's secret"}])
        claim = await queue.claim(limit=1)
        self.assertEqual([m.id for m in claim.messages], [message_id])
        await claim.release()

        theirs = alt.queue(name)
        self.assertNotIn(name, [q.name for q in await alt.queues()])
        self.assertEqual(await theirs.messages(include_claimed=True), [])
        self.assertEqual(await theirs.get_messages([message_id]), [])
        await fails(theirs.message(message_id), errors.NotFound)
        assert claim.id is not None
        await fails(theirs.get_claim(claim.id), errors.NotFound)
        self.assertFalse(await theirs.claim(limit=5))
        self.assertEqual((await theirs.stats()).total, 0)
        await theirs.delete_message(message_id)
        await theirs.delete()

        # alt's own queue of that name is alt's alone
        await alt.create_queue(name)
        await theirs.post([{"body": "alt's own"}])
        self.assertEqual([m.body for m in await theirs.messages()], ["alt's own"])
        self.assertEqual([m.body for m in await queue.messages()], ["demo's secret"])
        self.assertEqual((await queue.message(message_id)).body, "demo's secret")
        self.assertIn(name, [q.name for q in await demo.queues()])


class WrongPasswordTests(KeystoneCase):
    """A refused login is one login, reported clearly, never a storm."""

    async def test_wrong_password_is_one_refused_login(self) -> None:
        seen = KeystoneLog(self.keystone)
        options = self.auth_options()
        options["password"] = "wrong-horse-battery"
        client = txzaqar.connect(reactor=reactor, **options)
        self.addCleanup(client.close)

        e = await fails(client.queues(), errors.AuthenticationFailed)
        self.assertNotIsInstance(e, errors.IdentityUnavailable)
        self.assertEqual(e.code, 401)
        self.assertIn("refused the credentials", str(e))
        self.assertNotIn("wrong-horse-battery", str(e) + repr(e))
        self.assertEqual(await seen.refused_logins(), 1)

        # each later request tries once more (the password may have been
        # fixed in Keystone meanwhile), still one login per request
        seen = KeystoneLog(self.keystone)
        await fails(client.queue("q").stats(), errors.AuthenticationFailed)
        await fails(client.create_queue("q"), errors.AuthenticationFailed)
        self.assertEqual(await seen.refused_logins(), 2)

    async def test_subscriber_with_wrong_password_backs_off(self) -> None:
        """
        A Subscriber whose password is refused keeps running, makes one
        login per poll and backs off exponentially: no retry storm.
        """
        events = Events(self)
        seen = KeystoneLog(self.keystone)
        options = self.auth_options()
        options["password"] = "wrong-horse-battery"
        client = txzaqar.connect(reactor=reactor, **options)
        subscriber = client.subscriber(poll_interval=0.1, max_interval=0.8, close_client=True)
        subscriber.subscribe("kc-never-delivered", lambda m: self.fail("delivered"))
        subscriber.startService()
        self.addCleanup(lambda: subscriber.stopService() if subscriber.running else None)
        await wait_until(lambda: subscriber.stats["poll_errors"] >= 5, "5 failed polls")
        self.assertTrue(subscriber.running)
        await subscriber.stopService()

        polls = subscriber.stats["poll_errors"]
        self.assertEqual(await seen.refused_logins(), polls)
        delays = [e["delay"] for e in events.matching("{queue}: {reason}; backing off", queue="kc-never-delivered")]
        self.assertEqual(len(delays), polls)
        # poll_interval * 2**n, at most max_interval, shortened by up to a quarter (jitter)
        for n, delay in enumerate(delays):
            base = min(0.8, 0.1 * 2**n)
            self.assertTrue(0.75 * base - 1e-9 <= delay <= base + 1e-9, (n, delay, delays))
        reasons = [e["reason"] for e in events.matching("{queue}: {reason}; backing off")]
        self.assertTrue(all("AuthenticationFailed (401)" in r for r in reasons), reasons[:2])
        self.assertEqual(subscriber.stats["claimed"], 0)


class ReauthenticationTests(KeystoneCase):
    """A token revoked while in use: one 401, one new token, the request succeeds."""

    async def test_revoked_token_replaced_after_exactly_one_401(self) -> None:
        events = Events(self)
        client, keystone, agent = self.recorded()
        name = self.new_queue_name(client)
        queue = await client.create_queue(name)
        old = (await keystone.headers())["X-Auth-Token"]
        await deferToThread(self.keystone.revoke, old)
        self.assertEqual(await deferToThread(self.keystone.validate, old), 404)

        mark = len(agent.seen)
        ids = await queue.post([{"body": "after revocation"}])
        self.assertEqual(len(ids), 1)
        self.assertEqual(agent.codes(mark), [("POST", 401), ("POST", 201)])
        self.assertEqual(agent.seen[mark][1], agent.seen[mark + 1][1])  # the same request, replayed
        self.assertNotEqual(agent.seen[mark][3], agent.seen[mark + 1][3])  # with another token
        self.assertEqual(events.count("{method} {url} got 401"), 1)
        self.assertEqual(events.count("authenticated with Keystone"), 2)
        new = (await keystone.headers())["X-Auth-Token"]
        self.assertNotEqual(new, old)
        self.assertEqual(await deferToThread(self.keystone.validate, new), 200)
        # the refused POST stored nothing: the message is there once
        self.assertEqual([m.body for m in await queue.messages()], ["after revocation"])
        mark = len(agent.seen)
        await queue.stats()
        self.assertEqual(agent.codes(mark), [("GET", 200)])

    async def test_concurrent_requests_share_one_reauthentication(self) -> None:
        """Eight requests in flight with the revoked token: each gets one 401, one new token serves all."""
        events = Events(self)
        client, keystone, agent = self.recorded()
        name = self.new_queue_name(client)
        queue = await client.create_queue(name)
        await queue.post([{"body": n} for n in range(8)])
        old = (await keystone.headers())["X-Auth-Token"]
        await deferToThread(self.keystone.revoke, old)
        before = events.count("authenticated with Keystone")
        mark = len(agent.seen)
        results = await gatherResults([queue.stats() for _ in range(8)])
        self.assertEqual([r.total for r in results], [8] * 8)
        codes = agent.codes(mark)
        self.assertEqual(sorted(codes), [("GET", 200)] * 8 + [("GET", 401)] * 8)
        self.assertEqual(events.count("authenticated with Keystone") - before, 1)
        self.assertEqual(len({digest for _, _, code, digest in agent.seen[mark:] if code == 200}), 1)

    async def test_revoked_static_token_fails_after_one_request(self) -> None:
        """A L{txzaqar.auth.Token} cannot be renewed: its 401 is final, after one request."""
        token, _ = await deferToThread(self.keystone.token, "demo")
        await deferToThread(self.keystone.revoke, token)
        pool = make_pool(reactor)
        agent = RecordingAgent(make_agent(reactor, pool=pool))
        auth = Token(token, endpoint=self.stack.zaqar.url)
        client = Client(Connection(agent, reactor, auth, url=self.stack.zaqar.url, pool=pool),
                        subscriber_factory=Subscriber)
        self.addCleanup(client.close)
        e = await fails(client.queues(), errors.Unauthorized)
        self.assertEqual(agent.codes(), [("GET", 401)])
        self.assertNotIn(token, str(e) + repr(e) + repr(auth))


class ShortTokenTests(KeystoneCase):
    """A Keystone issuing 5-second tokens (fernet: they live 4 to 5 s)."""

    token_ttl = 5

    async def test_subscriber_outlives_three_token_lifetimes(self) -> None:
        """
        A Subscriber runs for over three token lifetimes while messages are
        posted throughout: every message is delivered once, none fails.
        The client keeps its token until Zaqar refuses it, so the tokens do
        run out: each renewal follows a 401, and no 401 reaches the caller.
        """
        events = Events(self)
        producer = self.connect()
        consumer, _, agent = self.recorded()
        name = self.new_queue_name(producer)
        queue = await producer.create_queue(name)
        delivered: list[int] = []
        subscriber = consumer.subscriber(poll_interval=0.2, max_interval=0.5)
        subscriber.subscribe(name, lambda m: delivered.append(m.body))
        subscriber.startService()
        self.addCleanup(lambda: subscriber.stopService() if subscriber.running else None)

        started = reactor.seconds()
        posted = 0
        while reactor.seconds() - started < 18:  # 3 lifetimes and a poll interval, at least
            await queue.post([{"body": posted}, {"body": posted + 1}])  # any failure fails the test
            posted += 2
            await deferLater(reactor, 0.5, lambda: None)  # the producer's pace, not a wait
        await wait_until(lambda: len(delivered) >= posted, f"{posted} deliveries")
        await subscriber.stopService()
        self.assertGreater(reactor.seconds() - started, 3 * self.token_ttl)

        self.assertEqual(sorted(delivered), list(range(posted)))
        for counter in ("failed", "ack_failed", "renew_failed", "release_failed"):
            self.assertEqual(subscriber.stats[counter], 0, counter)
        self.assertEqual(subscriber.stats["processed"], posted)
        self.assertEqual((await queue.stats()).total, 0)
        reasons = [e["reason"] for e in events.matching("{queue}: {reason}; backing off", queue=name)]
        self.assertEqual([r for r in reasons if "401" in r or "Authentication" in r], [])

        refused = [s for s in agent.seen if s[2] == 401]
        tokens = {digest for _, _, code, digest in agent.seen}
        self.assertGreaterEqual(len(tokens), 4, "the consumer's tokens did not run out 3 times")
        self.assertGreaterEqual(len(refused), len(tokens) - 1, "a new token without a 401")
        # every refused request was sent again with a newer token and succeeded
        for index, (method, url, _, digest) in enumerate(agent.seen):
            if agent.seen[index][2] != 401:
                continue
            retries = [s for s in agent.seen[index + 1:] if s[0] == method and s[1] == url and s[3] != digest]
            self.assertTrue(retries and retries[0][2] < 400, (method, url, retries[:1]))


_own_stack: KeystoneStack | None = None


def own_stack() -> KeystoneStack:
    """
    A Keystone stack for the outage tests only (no other test sees its
    Keystone stop or hang); started once per process, stopped by the
    harness at exit.  Blocking: call it in a thread.
    """
    global _own_stack
    if _own_stack is None:
        _own_stack = KeystoneStack()
        _own_stack.start()
    elif not _own_stack.keystone.running():
        _own_stack.keystone.start()  # an earlier test failed during its outage
    return _own_stack


def backoff_reasons(events: Events, queue: str) -> list[tuple[str, float]]:
    """The C{(reason, delay)} of each failed poll of C{queue} logged so far."""
    return [(e["reason"], e["delay"]) for e in events.matching("{queue}: {reason}; backing off", queue=queue)]


def keystone_threads() -> list[str]:
    """The threads of the authenticators' pools still running a keystoneauth1 call."""
    return [t.name for t in threading.enumerate() if t.name.startswith("PoolThread-txzaqar-keystone")]


class KeystoneOutageTests(KeystoneCase):
    """Keystone stops, or hangs, and comes back: in a stack of these tests' own."""

    def setUp(self) -> None:
        """The shared stacks are not used here."""

    async def test_outage_then_recovery(self) -> None:
        """
        While Keystone is down: a new client fails with IdentityUnavailable;
        a Subscriber that was running and one started during the outage both
        keep polling with growing backoff.  Keystone back: both deliver.
        """
        stack = self.stack = await deferToThread(own_stack)
        keystone = stack.keystone
        events = Events(self)
        producer = self.connect(stack=stack)
        running_name = self.new_queue_name(producer)
        late_name = self.new_queue_name(producer)
        running_queue = await producer.create_queue(running_name)
        late_queue = await producer.create_queue(late_name)
        await late_queue.post([{"body": f"early-{n}"} for n in range(3)])

        running_got: list[str] = []
        late_got: list[str] = []
        running = self.connect(stack=stack).subscriber(poll_interval=0.2, max_interval=1.0)
        running.subscribe(running_name, lambda m: running_got.append(m.body))
        running.startService()
        self.addCleanup(lambda: running.stopService() if running.running else None)
        await running_queue.post([{"body": "before"}])
        await wait_until(lambda: running_got == ["before"] and running.stats["acked"] == 1,
                         "the first delivery and its acknowledgement")

        await deferToThread(keystone.stop)
        try:
            fresh = self.connect(stack=stack)
            e = await fails(fresh.queues(), errors.IdentityUnavailable)
            self.assertEqual(e.title, "Identity service unreachable")
            self.assertNotIn("demo-secret", str(e) + repr(e))
            explicit = self.connect(stack=stack, url=stack.zaqar.url)
            await fails(explicit.queue(late_name).stats(), errors.IdentityUnavailable)

            late = self.connect(stack=stack).subscriber(poll_interval=0.2, max_interval=1.0)
            late.subscribe(late_name, lambda m: late_got.append(m.body))
            late.startService()
            self.addCleanup(lambda: late.stopService() if late.running else None)
            running_errors = running.stats["poll_errors"]
            await wait_until(
                lambda: late.stats["poll_errors"] >= 4 and running.stats["poll_errors"] >= running_errors + 3,
                "both subscribers to fail and back off",
            )
            self.assertTrue(running.running and late.running)
            self.assertEqual(running_got, ["before"])
            self.assertEqual(late_got, [])
            # what the late one met while Keystone was down, however many
            # polls this machine's speed allowed: IdentityUnavailable only
            # (at least 4), with growing delays
            outage_reasons = backoff_reasons(events, late_name)
        finally:
            await deferToThread(keystone.start)

        # Zaqar's token middleware may answer 503 for a moment after Keystone
        # is back, and a POST is not retried on a 503: post once Zaqar can
        # check tokens again.
        answered: list[bool] = []

        async def zaqar_checks_tokens() -> None:
            try:
                await running_queue.stats()
            except errors.ServiceUnavailable:
                return
            answered.append(True)

        while not answered:
            await zaqar_checks_tokens()
            if not answered:
                await deferLater(reactor, 0.2, lambda: None)
        await running_queue.post([{"body": "after"}])
        await wait_until(lambda: running_got == ["before", "after"] and len(late_got) == 3,
                         "deliveries after Keystone returned")
        await running.stopService()
        await late.stopService()
        self.assertEqual(sorted(late_got), ["early-0", "early-1", "early-2"])
        for subscriber in (running, late):
            self.assertEqual(subscriber.stats["failed"], 0)

        self.assertGreaterEqual(len(outage_reasons), 4, outage_reasons)
        self.assertTrue(all("IdentityUnavailable" in r for r, _ in outage_reasons), outage_reasons)
        delays = [d for _, d in outage_reasons]
        self.assertLessEqual(delays[0], 0.2)
        self.assertGreaterEqual(max(delays), 0.75)
        # as Keystone comes back, Zaqar's token middleware may answer 503
        # for a moment, and a poll may see that
        late_reasons = backoff_reasons(events, late_name)
        self.assertEqual(late_reasons[:len(outage_reasons)], outage_reasons)
        self.assertTrue(all("IdentityUnavailable" in r or "ServiceUnavailable (503)" in r
                            for r, _ in late_reasons), late_reasons)
        self.assertLessEqual(max(d for _, d in late_reasons), 1.0)
        running_reasons = [e["reason"] for e in
                           events.matching("{queue}: {reason}; backing off", queue=running_name)]
        self.assertGreaterEqual(len(running_reasons), 3)
        # Zaqar cannot check the token without Keystone: it answers 503
        self.assertTrue(all("ServiceUnavailable (503)" in r for r in running_reasons), running_reasons)
        self.assertFalse(events.matching("poll loop of {queue} died"))
        self.assertFalse(events.matching("unexpected error polling {queue}"))

    async def test_hung_keystone(self) -> None:
        """
        Keystone accepts connections but never answers (its process is
        stopped with SIGSTOP): with C{call_timeout=1} a request fails with
        IdentityUnavailable after about a second, and closing the client
        does not block the reactor on the keystoneauth1 call still stuck in
        its thread.  Keystone resumes: a new client works.
        """
        stack = self.stack = await deferToThread(own_stack)
        pid = stack.keystone.pid
        assert pid is not None
        client = self.connect(stack=stack, call_timeout=1.0)
        os.killpg(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            e = await fails(client.queues(), errors.IdentityUnavailable)
            self.assertEqual(e.title, "Identity service timed out")
            self.assertLess(time.monotonic() - started, 15)
            # the keystoneauth1 call is stuck until SIGCONT (or its session
            # timeout): close() returning, and firing, while its thread is
            # still busy is what shows it did not wait for it
            closing = client.close()
            self.assertTrue(keystone_threads(), "close() blocked the reactor joining the stuck call")
            await closing
            self.assertTrue(keystone_threads(), "close() fired only once the stuck call was over")
        finally:
            os.killpg(pid, signal.SIGCONT)
        again = self.connect(stack=stack)
        self.assertIsInstance(await again.queues(), list)


# -- TLS ----------------------------------------------------------------------


class LocalhostPKI:
    """
    A CA made for this module, a server certificate for the DNS name
    C{localhost} only (no IP address: C{https://127.0.0.1} does not match
    it), and a client certificate (C{clientAuth}), as PEM files.
    """

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        directory.mkdir(parents=True, exist_ok=True)
        self.ca_cert = directory / "ca.pem"
        self.server_cert, self.server_key = directory / "localhost.pem", directory / "localhost-key.pem"
        self.client_cert, self.client_key = directory / "client.pem", directory / "client-key.pem"
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "txzaqar keystone-client tests"),
                              x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def usage(ca: bool) -> x509.KeyUsage:
            return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                 data_encipherment=False, key_agreement=not ca, key_cert_sign=ca, crl_sign=ca,
                                 encipher_only=False, decipher_only=False)

        def builder(key: Any, subject: str, issuer: x509.Name) -> x509.CertificateBuilder:
            return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=2))
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))

        def write(cert: x509.Certificate, path: Path, key: Any = None, key_path: Path | None = None) -> None:
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            if key is not None and key_path is not None:
                key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
                key_path.chmod(0o600)

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (builder(ca_key, "txzaqar keystone-client test CA", name("txzaqar keystone-client test CA"))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(usage(True), critical=True)
              .sign(ca_key, hashes.SHA256()))
        write(ca, self.ca_cert)
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
        for cn, sans, eku, cert_path, key_path in (
            ("localhost only", [x509.DNSName("localhost")], ExtendedKeyUsageOID.SERVER_AUTH,
             self.server_cert, self.server_key),
            ("a client", None, ExtendedKeyUsageOID.CLIENT_AUTH, self.client_cert, self.client_key),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            leaf = (builder(key, cn, ca.subject)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(usage(False), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
                    .add_extension(aki, critical=False))
            if sans:
                leaf = leaf.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            write(leaf.sign(ca_key, hashes.SHA256()), cert_path, key, key_path)


_pki: LocalhostPKI | None = None
_tls_servers: dict[bool, servers.ZaqarServer] = {}


def localhost_pki() -> LocalhostPKI:
    global _pki
    if _pki is None or not _pki.ca_cert.exists():
        _pki = LocalhostPKI(servers.run_dir() / f"kc-pki-{uuid.uuid4().hex[:6]}")
    return _pki


def localhost_tls_zaqar(mtls: bool) -> servers.ZaqarServer:
    """
    A noauth HTTPS Zaqar (gunicorn, one worker) with the localhost-only
    certificate, requiring a client certificate of the same CA with
    C{mtls}; started once per process (the harness stops it at exit).
    """
    server = _tls_servers.get(mtls)
    if server is not None and server.running():
        return server
    pki = localhost_pki()
    tls = ServerTLS(
        certfile=pki.server_cert, keyfile=pki.server_key, ca=pki.ca_cert,
        client_ca=pki.ca_cert if mtls else None,
        client_cert=pki.client_cert if mtls else None,
        client_key=pki.client_key if mtls else None,
        check_hostname=False,  # the harness checks readiness at 127.0.0.1
    )
    server = servers.ZaqarServer(servers.shared_redis(), mode="gunicorn", tls=tls, workers=1,
                                  name=f"zaqar-kc-tls{'-mtls' if mtls else ''}-{uuid.uuid4().hex[:4]}")
    server.start()
    _tls_servers[mtls] = server
    return server


class ZaqarTLSTests(unittest.TestCase):
    """Zaqar over HTTPS with the CA of L{LocalhostPKI}."""

    timeout = 300

    def setUp(self) -> None:
        self.pki = localhost_pki()
        self.ca = str(self.pki.ca_cert)

    def url(self, mtls: bool = False, host: str = "localhost") -> str:
        return f"https://{host}:{localhost_tls_zaqar(mtls).port}"

    def connect(self, url: str, **kwargs: Any) -> Client:
        client = txzaqar.connect(url, project_id="kc-tls", reactor=reactor, timeout=20, **kwargs)
        self.addCleanup(client.close)
        return client

    async def test_refused_by_default_and_with_another_ca(self) -> None:
        """The system trust store does not know the test CA; nor does another CA bundle."""
        url = self.url()
        e = await fails(self.connect(url).ping(), errors.ConnectionFailed)
        self.assertIn("certificate verify failed", str(e))
        other = str(servers.shared_pki().ca_cert)
        e = await fails(self.connect(url, cacert=other).ping(), errors.ConnectionFailed)
        self.assertIn("certificate verify failed", str(e))

    async def test_accepted_with_the_ca_bundle(self) -> None:
        client = self.connect(self.url(), cacert=self.ca)
        self.assertTrue(await client.ping())
        name = f"kc-tls-{uuid.uuid4().hex[:8]}"
        queue = await client.create_queue(name)
        self.addCleanup(queue.delete)
        await queue.post([{"body": "over TLS"}])
        claim = await queue.claim(limit=1)
        self.assertEqual([m.body for m in claim.messages], ["over TLS"])
        await claim.messages[0].delete()
        self.assertEqual((await queue.stats()).total, 0)

    async def test_ip_address_not_in_the_certificate(self) -> None:
        """The certificate names localhost only: https://127.0.0.1 is refused, even trusting the CA."""
        e = await fails(
            self.connect(self.url(host="127.0.0.1"), cacert=self.ca).ping(), errors.ConnectionFailed
        )
        self.assertIn("127.0.0.1", str(e))
        self.assertNotIn("certificate verify failed", str(e))  # the chain is fine, the name is not

    async def test_mutual_tls_needs_the_client_certificate(self) -> None:
        url = self.url(mtls=True)
        await fails(self.connect(url, cacert=self.ca).ping(), errors.ConnectionFailed)
        # a client certificate from a CA this server does not trust
        stranger = servers.shared_pki()
        await fails(
            self.connect(url, cacert=self.ca, cert=str(stranger.client_cert), key=str(stranger.client_key)).ping(),
            errors.ConnectionFailed,
        )
        client = self.connect(url, cacert=self.ca, cert=str(self.pki.client_cert), key=str(self.pki.client_key))
        self.assertTrue(await client.ping())
        self.assertIsInstance(await client.queues(), list)
        self.assertRaises(errors.ClientValidationError, txzaqar.connect, url, project_id="kc-tls",
                          cacert=self.ca, key=str(self.pki.client_key))


class KeystoneTLSTests(KeystoneCase):
    """Keystone and Zaqar both over HTTPS (C{shared_keystone_stack(tls=True)}, the harness's CA)."""

    def setUp(self) -> None:
        self.stack = shared_keystone_stack(tls=True)
        self.keystone = self.stack.keystone
        self.ca = str(servers.shared_pki().ca_cert)

    async def test_https_keystone_and_catalog_zaqar(self) -> None:
        """Authenticated over HTTPS with the CA bundle; the catalog's https Zaqar is used with it too."""
        self.assertTrue(self.keystone.url.startswith("https://"))
        self.assertTrue(self.stack.zaqar.url.startswith("https://"))
        events = Events(self)
        client = self.connect(cacert=self.ca)
        name = self.new_queue_name(client)
        queue = await client.create_queue(name)
        await queue.post([{"body": "TLS all the way"}])
        claim = await queue.claim(limit=1)
        self.assertEqual([m.body for m in claim.messages], ["TLS all the way"])
        await claim.messages[0].delete()
        urls = request_urls(events)
        self.assertTrue(urls)
        self.assertEqual([u for u in urls if not u.startswith(self.stack.zaqar.url + "/v2/")], [])

    async def test_https_keystone_refused_without_its_ca(self) -> None:
        choices: list[dict[str, Any]] = [{}, {"cacert": str(localhost_pki().ca_cert)}]
        for kwargs in choices:
            client = self.connect(**kwargs)
            e = await fails(client.queues(), errors.IdentityUnavailable)
            self.assertEqual(e.title, "TLS failure talking to Keystone")
            self.assertIn("certificate verify failed", str(e))
            self.assertNotIn("demo-secret", str(e) + repr(e))


# -- secrets ----------------------------------------------------------------------


class _Records(logging.Handler):
    """Every stdlib logging record (keystoneauth1 logs there), formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + repr(record.args))


class SecretsTests(KeystoneCase):
    """Passwords and tokens stay out of log events, reprs and error messages."""

    def capture_stdlib_logging(self, name: str) -> _Records:
        records = _Records()
        logger = logging.getLogger(name)
        level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(records)
        self.addCleanup(logger.setLevel, level)
        self.addCleanup(logger.removeHandler, records)
        return records

    async def test_no_secret_anywhere(self) -> None:
        """
        A whole authenticated session (login, catalog, create, post, claim,
        delete, a revoked token and its 401 re-authentication, a Subscriber,
        a wrong password, an unreachable Keystone) under a log observer:
        neither the passwords nor any token appear in any event (formatted,
        as a repr, or in a failure's traceback), in keystoneauth1's logging,
        in a repr, or in an error.
        """
        events = Events(self)
        records = self.capture_stdlib_logging("keystoneauth")
        password = self.stack.credentials.user("demo").password
        wrong = "wrong-" + uuid.uuid4().hex
        texts: list[str] = []

        keystone = Keystone.from_options(reactor=reactor, **self.auth_options())
        client = txzaqar.connect(authenticator=keystone, reactor=reactor)
        self.addCleanup(client.close)
        name = self.new_queue_name(client)
        queue = await client.create_queue(name)
        await queue.post([{"body": n} for n in range(3)])
        claim = await queue.claim(limit=3)
        for message in claim.messages:
            await message.delete()
        first = (await keystone.headers())["X-Auth-Token"]
        await deferToThread(self.keystone.revoke, first)
        await queue.post([{"body": "after the 401"}, {"body": "and one more"}])
        second = (await keystone.headers())["X-Auth-Token"]
        self.assertNotEqual(first, second)
        self.assertEqual(events.count("{method} {url} got 401"), 1)

        delivered: list[Any] = []
        subscriber = client.subscriber(poll_interval=0.1, max_interval=0.5, close_client=False)
        subscriber.subscribe(name, lambda m: delivered.append(m.body))
        subscriber.startService()
        self.addCleanup(lambda: subscriber.stopService() if subscriber.running else None)
        await wait_until(lambda: len(delivered) == 2 and subscriber.stats["acked"] == 2, "2 deliveries")
        await subscriber.stopService()
        texts += [repr(subscriber), repr(client), repr(client.connection), repr(keystone)]

        e: Exception = await fails(client.queue(name).message("0" * 24), errors.NotFound)
        texts += [str(e), repr(e)]
        bad = self.auth_options()
        bad["password"] = wrong
        refused = txzaqar.connect(reactor=reactor, **bad)
        self.addCleanup(refused.close)
        e = await fails(refused.queues(), errors.AuthenticationFailed)
        texts += [str(e), repr(e), repr(refused), repr(refused.connection)]
        unreachable = self.auth_options()
        unreachable["auth_url"] = f"http://127.0.0.1:{servers.free_port()}/v3"
        down = txzaqar.connect(reactor=reactor, **unreachable)
        self.addCleanup(down.close)
        e = await fails(down.queues(), errors.IdentityUnavailable)
        texts += [str(e), repr(e)]

        # the session did produce what is being searched
        self.assertGreaterEqual(events.count("authenticated with Keystone"), 2)
        self.assertTrue(events.matching("{method} {url} -> {code}"))
        self.assertTrue(events.matching("subscriber stopped"))
        self.assertTrue(records.lines)
        for event in events.events:
            texts.append(formatEvent(event) + repr(event))
            failure = event.get("log_failure")
            if failure is not None:
                texts.append(failure.getTraceback())
        texts += records.lines
        for text in texts:
            for secret in (password, wrong, first, second):
                self.assertNotIn(secret, text)
