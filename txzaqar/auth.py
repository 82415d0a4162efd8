"""
Authenticators: what to add to each request, and where Zaqar is.

L{NoAuth} is for servers with C{auth_strategy} unset (it sends
C{X-Project-ID}); L{Token} sends a token you already hold.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ._interfaces import IAuthenticator
from .errors import ClientValidationError


@implementer(IAuthenticator)
class NoAuth:
    """
    No authentication: the project is named by C{X-Project-ID}.

    @param project_id: the project (tenant) to act in.
    @param roles: optional C{X-Roles} (e.g. C{["admin"]} for health and
        pools on a noauth server in admin mode).
    """

    def __init__(self, project_id: str, roles: list[str] | None = None) -> None:
        if not isinstance(project_id, str) or not project_id:
            raise ClientValidationError("project_id", "must be a non-empty string")
        if len(project_id) > 256:
            raise ClientValidationError("project_id", "must be at most 256 characters")
        self.project_id = project_id
        self._headers = {"X-Project-ID": project_id}
        if roles:
            self._headers["X-Roles"] = ",".join(roles)

    def __repr__(self) -> str:
        return f"NoAuth(project_id={self.project_id!r})"

    def headers(self) -> Deferred[dict[str, str]]:
        return succeed(dict(self._headers))

    def endpoint(self) -> Deferred[str | None]:
        return succeed(None)

    def invalidate(self) -> bool:
        return False


@implementer(IAuthenticator)
class Token:
    """
    A token obtained elsewhere; a 401 is final since it cannot be renewed.

    @param token: the Keystone token (never shown in a repr or a log).
    @param endpoint: the Zaqar URL, if known.
    @param project_id: sent as C{X-Project-ID} when given.
    """

    def __init__(self, token: str, endpoint: str | None = None, project_id: str | None = None) -> None:
        if not isinstance(token, str) or not token:
            raise ClientValidationError("token", "must be a non-empty string")
        self._token = token
        self._endpoint = endpoint
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

    def invalidate(self) -> bool:
        return False
