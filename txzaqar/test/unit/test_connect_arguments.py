"""
L{txzaqar.connect}, the authenticators and L{TLSPolicy} check their
arguments when called, before any pool or thread exists: each refusal
names the argument (and which to drop when two conflict), and what is
valid is still accepted (an over-refusal is a defect too).
"""

from __future__ import annotations

import inspect
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar import _connect as compose
from txzaqar import errors
from txzaqar.auth import Keystone, NoAuth, Token
from txzaqar.auth.tls import TLSPolicy
from txzaqar.http.connection import Connection
from txzaqar.test.helpers.connection import CannedAgent, json_response

URL = "http://127.0.0.1:8888"
KEYSTONE = {"auth_url": "http://127.0.0.1:5000/v3", "username": "u", "password": "secret-pw",
            "project_name": "p", "user_domain_id": "default", "project_domain_id": "default"}

#: (what, connect() keyword arguments, the field named, words of the description)
REFUSED: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("insecure as a string", {"url": "https://z:1", "project_id": "p", "insecure": "no"}, "insecure",
     ("True or False",)),
    ("insecure as an int", {"url": "https://z:1", "project_id": "p", "insecure": 1}, "insecure", ()),
    ("not a URL", {"url": "not a url", "project_id": "p"}, "url", ()),
    ("no scheme", {"url": "zaqar:8888", "project_id": "p"}, "url", ("http or https",)),
    ("ftp", {"url": "ftp://h", "project_id": "p"}, "url", ("http or https",)),
    ("ws", {"url": "ws://h:9000", "project_id": "p"}, "url", ("http or https",)),
    ("no host", {"url": "http://", "project_id": "p"}, "url", ("no host",)),
    ("bad port", {"url": "http://h:99999", "project_id": "p"}, "url", ("not a URL",)),
    ("port not a number", {"url": "http://h:port", "project_id": "p"}, "url", ("not a URL",)),
    ("credentials", {"url": "http://user:pw@h:1", "project_id": "p"}, "url", ("credentials",)),
    ("query", {"url": "http://h:1/?a=1", "project_id": "p"}, "url", ("no query",)),
    ("fragment", {"url": "http://h:1/#x", "project_id": "p"}, "url", ("no query",)),
    ("a space", {"url": "http://h:1/a b", "project_id": "p"}, "url", ("space",)),
    ("URL not a string", {"url": b"http://h:1", "project_id": "p"}, "url", ()),
    ("auth_url ftp", {**KEYSTONE, "auth_url": "ftp://keystone"}, "auth_url", ("http or https",)),
    ("auth_url not a URL", {**KEYSTONE, "auth_url": "keystone"}, "auth_url", ()),
    ("client_id", {"url": URL, "project_id": "p", "client_id": "not-a-uuid"}, "client_id", ("not a UUID",)),
    ("client_id not a string", {"url": URL, "project_id": "p", "client_id": 5}, "client_id", ()),
    ("empty project", {"url": URL, "project_id": ""}, "project_id", ("non-empty",)),
    ("project not a string", {"url": URL, "project_id": 5}, "project_id", ("non-empty",)),
    ("project not latin-1", {"url": URL, "project_id": "p\N{SNOWMAN}"}, "project_id", ("latin-1",)),
    ("project with a newline", {"url": URL, "project_id": "p\r\nX-Roles: admin"}, "project_id", ("control",)),
    ("project too long", {"url": URL, "project_id": "p" * 257}, "project_id", ("256",)),
    ("roles as a string", {"url": URL, "project_id": "p", "roles": "admin"}, "roles", ("list of role names",)),
    ("an empty role", {"url": URL, "project_id": "p", "roles": [""]}, "roles", ()),
    ("a role with a comma", {"url": URL, "project_id": "p", "roles": ["a,b"]}, "roles", ("comma",)),
    ("a role not a string", {"url": URL, "project_id": "p", "roles": [1]}, "roles", ()),
    ("a role not latin-1", {"url": URL, "project_id": "p", "roles": ["r\N{SNOWMAN}"]}, "roles", ("latin-1",)),
    ("key without cert", {"url": "https://z:1", "project_id": "p", "key": "/k.pem"}, "key", ("cert=", "drop key")),
    ("tls with cacert", {"url": "https://z:1", "project_id": "p", "tls": TLSPolicy(), "cacert": "/ca.pem"}, "tls",
     ("cacert", "drop tls=")),
    ("tls with insecure", {"url": "https://z:1", "project_id": "p", "tls": TLSPolicy(), "insecure": True},
     "tls", ("insecure",)),
    ("tls with cert and key", {"url": "https://z:1", "project_id": "p", "tls": TLSPolicy(), "cert": "/c.pem",
                               "key": "/k.pem"}, "tls", ("cert, key",)),
    ("tls not a policy", {"url": "https://z:1", "project_id": "p", "tls": object()}, "tls", ("IPolicyForHTTPS",)),
    ("a path not a path", {"url": "https://z:1", "project_id": "p", "cacert": True}, "cacert", ("file path",)),
    ("project_id with Keystone", {**KEYSTONE, "project_id": "p"}, "project_id",
     ("Keystone options", "project_name", "drop project_id")),
    ("project_id with cloud", {"cloud": "c", "project_id": "p"}, "project_id", ("cloud", "drop project_id")),
    ("project_id with an authenticator", {"url": URL, "authenticator": NoAuth("a"), "project_id": "p"},
     "project_id", ("authenticator",)),
    ("roles with Keystone", {**KEYSTONE, "roles": ["admin"]}, "roles", ("drop roles",)),
    ("roles with cloud", {"cloud": "c", "roles": ["admin"]}, "roles", ("drop roles",)),
    ("two ways", {"url": URL, "authenticator": NoAuth("a"), "cloud": "c"}, "authenticator",
     ("cloud", "one way")),
    ("no URL for noauth", {"project_id": "p"}, "url", ("no catalog",)),
    ("no URL for a NoAuth", {"authenticator": NoAuth("p")}, "url", ("no catalog",)),
    ("nothing", {"url": URL}, "project_id", ()),
    ("Keystone options without auth_url", {"username": "u", "password": "x"}, "auth_url", ()),
    ("a bad websocket_url", {"url": URL, "project_id": "p", "websocket_url": "http://z"}, "websocket_url", ()),
    ("timeout", {"url": URL, "project_id": "p", "timeout": 0}, "timeout", ()),
    ("timeout as a bool", {"url": URL, "project_id": "p", "timeout": True}, "timeout", ()),
    ("empty cloud", {"cloud": ""}, "cloud", ()),
    ("empty project name", {**KEYSTONE, "project_name": ""}, "project_name", ("non-empty",)),
    ("user name not a string", {**KEYSTONE, "username": 5}, "username", ()),
]

#: connect() keyword arguments that are valid.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("IPv6 literal", {"url": "http://[::1]:8888", "project_id": "p"}),
    ("IPv6 literal, https", {"url": "https://[2001:db8::1]/", "project_id": "p"}),
    ("a path prefix", {"url": "http://127.0.0.1:8888/messaging/", "project_id": "p"}),
    ("no port", {"url": "https://zaqar.example.com", "project_id": "p"}),
    ("upper-case UUID", {"url": URL, "project_id": "p", "client_id": "5E1C7A4C-3B06-4B6F-8C1F-1F0C6C7F9A10"}),
    ("UUID without dashes", {"url": URL, "project_id": "p", "client_id": "5e1c7a4c3b064b6f8c1f1f0c6c7f9a10"}),
    ("roles tuple", {"url": URL, "project_id": "p", "roles": ("admin",)}),
    ("roles list", {"url": URL, "project_id": "p", "roles": ["admin", "member"]}),
    ("no roles", {"url": URL, "project_id": "p", "roles": []}),
    ("latin-1 project", {"url": URL, "project_id": "proj\N{LATIN SMALL LETTER E WITH ACUTE}"}),
    ("256 characters", {"url": URL, "project_id": "p" * 256}),
    ("insecure True", {"url": "https://z:1", "project_id": "p", "insecure": True}),
    ("insecure False", {"url": "https://z:1", "project_id": "p", "insecure": False}),
    ("a ready policy", {"url": "https://z:1", "project_id": "p", "tls": TLSPolicy()}),
    ("a ready policy, insecure False", {"url": "https://z:1", "project_id": "p", "tls": TLSPolicy(),
                                        "insecure": False}),
    ("Keystone", dict(KEYSTONE)),
    ("Keystone on IPv6", {**KEYSTONE, "auth_url": "http://[::1]:5000/v3"}),
    ("Keystone and a URL", {**KEYSTONE, "url": URL}),
    ("a NoAuth", {"url": URL, "authenticator": NoAuth("p", roles=["admin"])}),
    ("a Token without URL", {"authenticator": Token("t", endpoint=URL)}),
]


class ConnectTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.pools: list[Any] = []
        real = compose.make_pool

        def recording_make_pool(reactor: Any) -> Any:
            pool = real(reactor)
            self.pools.append(pool)
            return pool

        self.patch(compose, "make_pool", recording_make_pool)

    def test_refused(self) -> None:
        for what, kwargs, field, words in REFUSED:
            with self.subTest(what=what):
                e = self.assertRaises(errors.ClientValidationError, txzaqar.connect,
                                      reactor=MemoryReactorClock(), **kwargs)
                self.assertEqual(e.field, field, f"{what}: {e}")
                for word in words:
                    self.assertIn(word, str(e), what)
                self.assertNotIn("secret-pw", str(e))
                self.assertNotIn("(None)", str(e))
                self.assertEqual(self.pools, [], f"{what}: a pool was made before the refusal")

    def test_accepted(self) -> None:
        for what, kwargs in ACCEPTED:
            with self.subTest(what=what):
                client = txzaqar.connect(reactor=MemoryReactorClock(), **kwargs)
                self.successResultOf(client.close())

    def test_insecure_string_leaves_verification_on(self) -> None:
        """The reported bug: insecure="no" turned verification off; now it is refused, nothing is built."""
        self.assertRaises(errors.ClientValidationError, txzaqar.connect, "https://z:1", project_id="p",
                          insecure="no", reactor=MemoryReactorClock())
        self.assertEqual(self.pools, [])

    def test_roles_tuple_sent_whole(self) -> None:
        agent = CannedAgent(json_response(200, {}))
        from twisted.internet.task import Clock

        conn = Connection(agent, Clock(), NoAuth("p", roles=("admin", "member")), url="http://[::1]:8888/prefix")
        self.successResultOf(conn.get("queues"))
        method, uri, headers, _ = agent.requests[0]
        self.assertEqual(headers.getRawHeaders(b"x-roles"), [b"admin,member"])
        self.assertEqual(uri, b"http://[::1]:8888/prefix/v2/queues")


class AuthenticatorTests(SynchronousTestCase):
    def test_noauth(self) -> None:
        for kwargs, field in (
            ({"project_id": "p", "roles": "admin"}, "roles"),
            ({"project_id": "p", "roles": [None]}, "roles"),
            ({"project_id": "p\N{SNOWMAN}"}, "project_id"),
            ({"project_id": "p\x00"}, "project_id"),
            ({"project_id": ""}, "project_id"),
        ):
            with self.subTest(kwargs=kwargs):
                e = self.assertRaises(errors.ClientValidationError, NoAuth, **kwargs)
                self.assertEqual(e.field, field)

    def test_noauth_accepts(self) -> None:
        headers = self.successResultOf(NoAuth("p\N{LATIN SMALL LETTER E WITH ACUTE}", roles=("admin",)).headers())
        self.assertEqual(headers, {"X-Project-ID": "p\N{LATIN SMALL LETTER E WITH ACUTE}", "X-Roles": "admin"})
        self.assertEqual(self.successResultOf(NoAuth("p", roles=[]).headers()), {"X-Project-ID": "p"})

    def test_token(self) -> None:
        for kwargs, field in (
            ({"token": "t\r\nX-Evil: 1"}, "token"),
            ({"token": "t\N{SNOWMAN}"}, "token"),
            ({"token": "t", "endpoint": "ftp://z"}, "endpoint"),
            ({"token": "t", "endpoint": "zaqar:8888"}, "endpoint"),
            ({"token": "t", "project_id": "p\N{SNOWMAN}"}, "project_id"),
        ):
            with self.subTest(kwargs=kwargs):
                e = self.assertRaises(errors.ClientValidationError, Token, **kwargs)
                self.assertEqual(e.field, field)
                self.assertNotIn("X-Evil", str(e))  # the token is never echoed

    def test_tls_policy(self) -> None:
        for kwargs, field in (
            ({"insecure": "no"}, "insecure"),
            ({"insecure": 0}, "insecure"),
            ({"key": "/k.pem"}, "key"),
            ({"cacert": 5}, "cacert"),
        ):
            with self.subTest(kwargs=kwargs):
                e = self.assertRaises(errors.ClientValidationError, TLSPolicy, **kwargs)
                self.assertEqual(e.field, field)

    def test_keystone(self) -> None:
        for kwargs, field in (
            ({**KEYSTONE, "insecure": "yes"}, "insecure"),
            ({**KEYSTONE, "auth_url": "keystone:5000"}, "auth_url"),
            ({**KEYSTONE, "key": "/k.pem"}, "key"),
        ):
            with self.subTest(kwargs=kwargs):
                e = self.assertRaises(errors.ClientValidationError, Keystone.from_options,
                                      reactor=MemoryReactorClock(), **kwargs)
                self.assertEqual(e.field, field)
                self.assertNotIn("secret-pw", str(e))

    def test_connection_client_id(self) -> None:
        e = self.assertRaises(errors.ClientValidationError, Connection, CannedAgent(), MemoryReactorClock(),
                              NoAuth("p"), url=URL, client_id="not-a-uuid")
        self.assertEqual(e.field, "client_id")


class HelpTests(SynchronousTestCase):
    def test_every_argument_documented(self) -> None:
        doc = inspect.getdoc(txzaqar.connect) or ""
        for name in inspect.signature(txzaqar.connect).parameters:
            with self.subTest(name=name):
                self.assertIn(f"@param {name}:", doc)
        self.assertIn("@raise ClientValidationError:", doc)
        self.assertIn("@return:", doc)


