"""
L{txzaqar.auth.SignedURLAuth} and C{txzaqar.connect(signed_url=...)}:
exactly the headers Zaqar checks, and a request the URL does not allow
(or any, once expired) refused before it is sent.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar import errors
from txzaqar.api.queue import SignedURL
from txzaqar.auth import SignedURLAuth
from txzaqar.errors import NotAllowedBySignedURL, SignedURLExpired
from txzaqar.http.connection import Connection, api_path
from txzaqar.testing import memory_client

EXPIRES = "2030-01-01T00:00:00"
EXPIRES_AT = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC).timestamp()

DOC = {
    "paths": ["/v2/queues/jobs/messages", "/v2/queues/jobs/claims"],
    "methods": ["DELETE", "PATCH", "POST"],
    "project": "p1",
    "expires": EXPIRES,
    "signature": "ab" * 32,
}


def clock_at(seconds: float) -> Clock:
    clock = Clock()
    clock.advance(seconds)
    return clock


class NeverAgent:
    """An agent that must not be asked for anything."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.requests.append(args)
        raise AssertionError("a refused request was sent")


class SignedURLAuthTests(SynchronousTestCase):
    def auth(self, doc: Any = None, now: float = EXPIRES_AT - 3600) -> SignedURLAuth:
        return SignedURLAuth(DOC if doc is None else doc, clock=clock_at(now))

    def test_headers_exactly_what_zaqar_checks(self) -> None:
        headers = self.successResultOf(self.auth().headers())
        self.assertEqual(headers, {
            "URL-Signature": "ab" * 32,
            "URL-Expires": EXPIRES,
            "URL-Methods": "DELETE,PATCH,POST",
            "URL-Paths": "/v2/queues/jobs/messages,/v2/queues/jobs/claims",
            "X-Project-ID": "p1",
        })

    def test_signature_not_in_repr(self) -> None:
        self.assertNotIn("ab" * 32, repr(self.auth()))
        self.assertIn("hidden", repr(self.auth()))

    def test_same_from_value_dict_and_json(self) -> None:
        value = SignedURL(paths=tuple(DOC["paths"]), methods=tuple(DOC["methods"]), project="p1",
                          expires=EXPIRES, signature="ab" * 32)
        expected = self.successResultOf(self.auth().headers())
        for doc in (value, value.to_json(), json.dumps(DOC), json.dumps(DOC).encode()):
            self.assertEqual(self.successResultOf(self.auth(doc).headers()), expected)
        self.assertEqual(SignedURL.from_json(json.dumps(DOC)), value)

    def test_queue_and_url(self) -> None:
        auth = self.auth(dict(DOC, url="http://zaqar:8888"))
        self.assertEqual(auth.queue, "jobs")
        self.assertEqual(auth.url, "http://zaqar:8888")
        self.assertEqual(self.successResultOf(auth.endpoint()), "http://zaqar:8888")
        self.assertIsNone(self.auth(dict(DOC, paths=["/v2/queues/a/messages", "/v2/queues/b/messages"])).queue)

    def test_allows_signed_methods_and_paths(self) -> None:
        auth = self.auth()
        auth.check("POST", "/v2/queues/jobs/messages")
        auth.check("POST", "/v2/queues/jobs/claims")
        auth.check("PATCH", "/v2/queues/jobs/claims/c1")
        auth.check("DELETE", "/v2/queues/jobs/messages/m1")  # Zaqar searches, so sub-paths pass

    def test_refuses_other_method(self) -> None:
        e = self.assertRaises(NotAllowedBySignedURL, self.auth().check, "GET", "/v2/queues/jobs/messages")
        self.assertEqual((e.method, e.path, e.field), ("GET", "/v2/queues/jobs/messages", "signed_url"))
        self.assertIsInstance(e, errors.ClientValidationError)
        self.assertIn("GET", e.description)

    def test_refuses_other_path(self) -> None:
        for path in ("/v2/queues/jobs/subscriptions", "/v2/queues/other/messages", "/v2/queues", "/v2/ping"):
            self.assertRaises(NotAllowedBySignedURL, self.auth().check, "POST", path)

    def test_expired(self) -> None:
        clock = clock_at(EXPIRES_AT - 1)
        auth = SignedURLAuth(DOC, clock=clock)
        auth.check("POST", "/v2/queues/jobs/messages")
        self.assertFalse(auth.expired)
        clock.advance(1)
        self.assertTrue(auth.expired)
        e = self.assertRaises(SignedURLExpired, auth.check, "POST", "/v2/queues/jobs/messages")
        self.assertEqual(e.expires, EXPIRES)
        self.assertIsInstance(e, errors.ClientValidationError)

    def test_bad_documents(self) -> None:
        bad: list[Any] = [
            "{not json", 42, [], {k: v for k, v in DOC.items() if k != "signature"},
            dict(DOC, paths="/v2/queues/jobs/messages"), dict(DOC, paths=[]), dict(DOC, methods=[1]),
            dict(DOC, project=""), dict(DOC, expires="soon"), dict(DOC, paths=["("]),
            dict(DOC, url="ftp://zaqar"),
        ]
        for doc in bad:
            e = self.assertRaises(errors.ClientValidationError, SignedURLAuth, doc, clock=Clock())
            self.assertEqual(e.field, "signed_url", doc)

    def test_never_reauthenticates(self) -> None:
        self.assertFalse(self.auth().invalidate({}))

    def test_holds_a_signed_url(self) -> None:
        """The authenticator holds the L{SignedURL} it was given (or read): its headers are the URL's."""
        value = SignedURL.from_json(DOC)
        for doc in (value, DOC, json.dumps(DOC)):
            auth = self.auth(doc)
            self.assertEqual(auth.signed_url, value)
            self.assertEqual(self.successResultOf(auth.headers()), value.headers())
        auth = self.auth(dict(DOC, url="http://zaqar:8888"))
        self.assertEqual((auth.paths, auth.methods, auth.project_id, auth.expires),
                         (value.paths, value.methods, value.project, value.expires))

    def test_signed_url_home(self) -> None:
        """L{SignedURL} lives beside its authenticator; the API's names for it are the same class."""
        from txzaqar.api import values
        from txzaqar.auth import signed_url

        self.assertIs(SignedURL, signed_url.SignedURL)
        self.assertIs(values.SignedURL, signed_url.SignedURL)
        self.assertIs(txzaqar.SignedURL, signed_url.SignedURL)


class ConnectionCheckTests(SynchronousTestCase):
    def test_refused_request_is_not_sent(self) -> None:
        agent = NeverAgent()
        conn = Connection(agent, clock_at(EXPIRES_AT - 10), SignedURLAuth(DOC, clock=clock_at(0)),  # type: ignore[arg-type]
                          url="http://zaqar")
        f = self.failureResultOf(conn.get("queues/jobs/messages", params={"limit": 2}))
        f.trap(NotAllowedBySignedURL)
        self.failureResultOf(conn.post("queues/jobs/subscriptions", body={})).trap(NotAllowedBySignedURL)
        self.assertEqual(agent.requests, [])

    def test_expired_request_is_not_sent(self) -> None:
        agent = NeverAgent()
        conn = Connection(agent, Clock(), SignedURLAuth(DOC, clock=clock_at(EXPIRES_AT + 1)),  # type: ignore[arg-type]
                          url="http://zaqar")
        self.failureResultOf(conn.post("queues/jobs/messages", body={})).trap(SignedURLExpired)
        self.assertEqual(agent.requests, [])

    def test_api_path(self) -> None:
        self.assertEqual(api_path("queues/q/messages?ids=a,b"), "/v2/queues/q/messages")
        self.assertEqual(api_path("/"), "/")
        self.assertEqual(api_path(""), "/v2/")

    def test_authenticator_without_check_allows_everything(self) -> None:
        """One written before IAuthenticator.check still works."""
        client, _ = memory_client()

        class Old:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def headers(self) -> Any:
                return self.inner.headers()

            def endpoint(self) -> Any:
                return self.inner.endpoint()

            def invalidate(self, used: Any = None) -> bool:
                return False

            def close(self) -> Any:
                return self.inner.close()

        conn: Any = client.connection
        conn.authenticator = Old(conn.authenticator)
        self.assertIs(self.successResultOf(client.ping()), True)


class SignedURLMemoryTests(SynchronousTestCase):
    """Against the in-memory Zaqar with a secret key: the share works, what it does not name is refused."""

    def test_shared_queue(self) -> None:
        owner, fake = memory_client(secret_key="sekrit", project_id="owner")
        queue = owner.queue("jobs")
        signed = self.successResultOf(queue.share(paths=["messages"], methods=["POST"]))
        auth = SignedURLAuth(signed, clock=fake.clock)
        conn: Any = owner.connection
        shared = txzaqar.Client(Connection(conn.agent, fake.clock, auth, url=conn.url)).queue("jobs")
        [mid] = self.successResultOf(shared.post({"body": "hi"}))
        self.assertEqual([m.id for m in self.successResultOf(queue.messages())], [mid])
        self.failureResultOf(shared.messages()).trap(NotAllowedBySignedURL)


class ConnectTests(SynchronousTestCase):
    def test_connect_with_document(self) -> None:
        reactor = MemoryReactorClock()
        client = txzaqar.connect(signed_url=dict(DOC, url="http://zaqar:8888"), reactor=reactor)
        auth: Any = client.connection.authenticator
        self.assertIsInstance(auth, SignedURLAuth)
        self.assertEqual(auth.project_id, "p1")
        self.assertIsNone(client.connection.url)  # found by the authenticator on first use
        self.assertEqual(self.successResultOf(client.connection.base_url()), "http://zaqar:8888")  # type: ignore[attr-defined]

    def test_connect_url_wins(self) -> None:
        client = txzaqar.connect("http://other:1", signed_url=json.dumps(DOC), reactor=MemoryReactorClock())
        self.assertEqual(client.connection.url, "http://other:1")

    def test_connect_refusals(self) -> None:
        reactor = MemoryReactorClock()
        e = self.assertRaises(errors.ClientValidationError, txzaqar.connect, signed_url=DOC, reactor=reactor)
        self.assertEqual(e.field, "url")
        for extra in ({"project_id": "p"}, {"auth_url": "http://keystone"}, {"authenticator": object()}):
            e = self.assertRaises(errors.ClientValidationError, txzaqar.connect, "http://z",
                                  signed_url=DOC, reactor=reactor, **extra)
            self.assertEqual(e.field, "signed_url")
