"""
L{txzaqar.auth.static}: L{StaticAuthenticator}, the base that the
authenticators whose headers never change share.  (NoAuth's and Token's
arguments are checked in test_connect_arguments, with every
authenticator's, and what they send in test_http_connection.)
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from txzaqar.auth import NoAuth, SignedURLAuth, Token
from txzaqar.auth.static import StaticAuthenticator
from txzaqar.interfaces import IAuthenticator
from txzaqar.testing.fixed_auth import FixedHeadersAuth

DOC = {
    "paths": ["/v2/queues/jobs/messages"], "methods": ["POST"], "project": "p1",
    "expires": "2030-01-01T00:00:00", "signature": "ab" * 32,
}


def every_static() -> list[Any]:
    """One of each authenticator built on L{StaticAuthenticator}."""
    return [NoAuth("p1"), Token("t0ken"), SignedURLAuth(DOC, clock=Clock()), FixedHeadersAuth({"X-Project-ID": "p"})]


class StaticAuthenticatorTests(SynchronousTestCase):
    def test_shared_by_every_static_authenticator(self) -> None:
        """NoAuth, Token, SignedURLAuth and FixedHeadersAuth are static authenticators and IAuthenticators."""
        for auth in every_static():
            self.assertIsInstance(auth, StaticAuthenticator)
            self.assertTrue(verifyObject(IAuthenticator, auth))

    def test_nothing_to_renew_or_close(self) -> None:
        """A 401 is final, closing does nothing; the methods come from the base, not a copy each."""
        for auth in every_static():
            self.assertFalse(auth.invalidate({"X-Auth-Token": "old"}))
            self.assertFalse(auth.invalidate())
            self.assertIsNone(self.successResultOf(auth.close()))
            for name in ("invalidate", "close"):
                self.assertIs(getattr(type(auth), name), getattr(StaticAuthenticator, name), (auth, name))

    def test_no_endpoint_unless_known(self) -> None:
        """The base knows no Zaqar URL; Token and SignedURLAuth give the one they were given."""
        self.assertIsNone(self.successResultOf(NoAuth("p1").endpoint()))
        self.assertIsNone(self.successResultOf(FixedHeadersAuth({}).endpoint()))
        self.assertIsNone(self.successResultOf(Token("t0ken").endpoint()))
        self.assertEqual(self.successResultOf(Token("t0ken", endpoint="http://z:8888").endpoint()), "http://z:8888")

    def test_everything_allowed(self) -> None:
        """The base checks nothing client-side (the server decides)."""
        for auth in (NoAuth("p1"), Token("t0ken"), FixedHeadersAuth({})):
            self.assertIsNone(auth.check("DELETE", "/v2/queues/q"))
            self.assertIs(type(auth).check, StaticAuthenticator.check)

    def test_headers_from_the_subclass(self) -> None:
        """The base has no headers of its own: a subclass gives them."""
        self.assertRaises(NotImplementedError, StaticAuthenticator().headers)
        self.assertEqual(self.successResultOf(FixedHeadersAuth({"A": "b"}).headers()), {"A": "b"})
