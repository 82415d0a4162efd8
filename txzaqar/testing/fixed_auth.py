"""
L{FixedHeadersAuth}: an authenticator that sends the same headers with
every request and checks nothing client-side, for tests that need to see
what the server itself answers (to a pre-signed URL's headers, say).
"""

from __future__ import annotations

import attr
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ..auth.static import StaticAuthenticator
from ..interfaces import IAuthenticator

__all__ = ["FixedHeadersAuth"]


@implementer(IAuthenticator)
@attr.s(frozen=True, auto_attribs=True)
class FixedHeadersAuth(StaticAuthenticator):
    """
    Sends C{fixed} as the headers of every request; never re-authenticates.
    It sends everything (L{check} allows all): the server's own check is
    what is under test.
    """

    #: The headers sent with every request.
    fixed: dict[str, str]

    def headers(self) -> Deferred[dict[str, str]]:
        return succeed(dict(self.fixed))
