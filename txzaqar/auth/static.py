"""
Static authenticators: L{NoAuth} for servers with C{auth_strategy} unset
(it sends C{X-Project-ID}) and L{Token}, which sends a token you already
hold; L{StaticAuthenticator} is what they (and the signed URL's and the
tests' fixed-headers authenticators) share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from .._support import arguments
from ..errors import (
    ClientValidationError,
)
from ..interfaces import IAuthenticator


@implementer(IAuthenticator)
class StaticAuthenticator:
    """
    The base of the authenticators whose headers never change: nothing to
    renew after a 401 (L{invalidate} is C{False}), nothing to close,
    everything allowed client-side (the server decides), and no Zaqar URL
    unless a subclass knows one (L{endpoint}).  Subclasses give L{headers}.
    """

    def headers(self) -> Deferred[dict[str, str]]:
        """Given by each subclass."""
        raise NotImplementedError

    def endpoint(self) -> Deferred[str | None]:
        """Not known here: C{None}."""
        return succeed(None)

    def invalidate(self, used: Mapping[str, str] | None = None) -> bool:
        """Nothing to renew: C{False}, a 401 is final."""
        return False

    def close(self) -> Deferred[None]:
        """Nothing to release: a Deferred that has fired."""
        return succeed(None)

    def check(self, method: str, path: str) -> None:
        """Everything is allowed here (the server decides)."""


@implementer(IAuthenticator)
class NoAuth(StaticAuthenticator):
    """
    No authentication: the project is named by C{X-Project-ID}.

    @param project_id: the project (tenant) to act in: 1 to 256 latin-1
        characters without control characters (it travels in a header).
    @param roles: optional C{X-Roles}, a list or tuple of role names (e.g.
        C{["admin"]} for health and pools on a noauth server in admin mode).
    @raise ClientValidationError: a C{project_id} or C{roles} as above
        not (a bare string as C{roles} is refused: it is not a list).
    """

    def __init__(self, project_id: str, roles: Sequence[str] | None = None) -> None:
        arguments.header_text("project_id", project_id)
        #: The project (tenant) sent as C{X-Project-ID}.
        self.project_id = project_id
        self._headers = {"X-Project-ID": project_id}
        names = arguments.roles(roles) if roles is not None else ()
        if names:
            self._headers["X-Roles"] = ",".join(names)

    def __repr__(self) -> str:
        return f"NoAuth(project_id={self.project_id!r})"

    def headers(self) -> Deferred[dict[str, str]]:
        return succeed(dict(self._headers))


@implementer(IAuthenticator)
class Token(StaticAuthenticator):
    """
    A token obtained elsewhere; a 401 is final since it cannot be renewed.

    @param token: the Keystone token (never shown in a repr or a log).
    @param endpoint: the Zaqar URL (C{http://} or C{https://}), if known.
    @param project_id: sent as C{X-Project-ID} when given.
    @raise ClientValidationError: an empty token, or a token or
        C{project_id} that cannot travel in a header, or a bad C{endpoint}.
    """

    def __init__(self, token: str, endpoint: str | None = None, project_id: str | None = None) -> None:
        if not isinstance(token, str) or not token:
            raise ClientValidationError("token", "must be a non-empty string")
        try:
            arguments.header_text("token", token, max_length=65536)
        except ClientValidationError:
            # never echo the token itself
            raise ClientValidationError("token", "must be latin-1 text without control characters") from None
        if endpoint is not None:
            arguments.http_url("endpoint", endpoint)
        if project_id is not None:
            arguments.header_text("project_id", project_id)
        self._token = token
        self._endpoint = endpoint
        #: The project sent as C{X-Project-ID}, or C{None} to send none.
        self.project_id = project_id

    def __repr__(self) -> str:
        return f"Token(token=<hidden>, endpoint={self._endpoint!r}, project_id={self.project_id!r})"

    def headers(self) -> Deferred[dict[str, str]]:
        headers = {"X-Auth-Token": self._token}
        if self.project_id:
            headers["X-Project-ID"] = self.project_id
        return succeed(headers)

    def endpoint(self) -> Deferred[str | None]:
        return succeed(self._endpoint)
