"""
L{Pool} and L{Flavor}: storage administration on servers with
C{admin_mode} and C{pooling} (admin role required to change them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attr
from twisted.internet.defer import Deferred
from zope.interface import implementer

from .._support import validation as v
from ..errors import ClientValidationError
from ..interfaces import IConnection, IFlavor, IPool
from . import _paths

#: The largest pool weight Zaqar accepts (an unsigned 32-bit integer).
MAX_WEIGHT = 2**32 - 1


def _document(response: Deferred[Any]) -> Deferred[dict[str, Any]]:
    """The JSON object of a response, as a C{dict} (empty for none)."""
    return response.addCallback(lambda r: dict(r.json or {}))


def check_name(field: str, name: object) -> str:
    """
    Check a pool or flavor name: the queue-name rule of Zaqar's API
    reference (1 to 64 of C{[A-Za-z0-9_-]}).  Zaqar 23.0.1 stores a pool
    named otherwise, which then cannot join a flavor, and answers 500 to
    a name of 300 characters or with a non-ASCII letter.

    @param field: the argument's name, for the error.
    @param name: the name given.
    @return: C{name}, unchanged.
    @raise ClientValidationError: not such a name.
    """
    return v.queue_name(name, field)


def pool_body(uri: Any, weight: Any, flavor: Any, options: Any, partial: bool) -> dict[str, Any]:
    """
    The JSON body of a pool's create (C{partial} false) or update (C{partial} true) request.

    @param uri: the storage URI (required unless C{partial}).
    @param weight: 0 to L{MAX_WEIGHT} (required unless C{partial}).
    @param flavor: the pool's flavor name, or C{None}.
    @param options: storage options (a C{dict}), or C{None}.
    @param partial: only the given fields are sent (an update).
    @return: the body, as a C{dict}.
    @raise ClientValidationError: a value Zaqar would refuse, or an update with nothing to change.
    """
    body: dict[str, Any] = {}
    if uri is not None or not partial:
        if not isinstance(uri, str) or not uri or len(uri) > 255:
            raise ClientValidationError("uri", "must be a storage URI string of at most 255 characters")
        body["uri"] = uri
    if weight is not None or not partial:
        body["weight"] = v.integer("weight", weight, 0, MAX_WEIGHT)
    if flavor is not None:
        body["flavor"] = check_name("flavor", flavor)
    if options is not None:
        if not isinstance(options, Mapping):
            raise ClientValidationError("options", "must be a dict")
        body["options"] = dict(options)
    if partial and not body:
        raise ClientValidationError("update", "give at least one of uri, weight, flavor, options")
    v.json_bytes("pool", body)
    return body


@implementer(IPool)
@attr.s(frozen=True, slots=True, auto_attribs=True)
class Pool:
    """A storage pool, by name (see L{IPool}); its methods need the admin role."""

    #: The connection requests go through.
    connection: IConnection = attr.ib(eq=False, repr=False)
    name: str = attr.ib(validator=lambda _i, _a, value: check_name("name", value))

    def create(self, uri: str, weight: int, flavor: str | None = None,
               options: Mapping[str, Any] | None = None) -> Deferred["Pool"]:
        """
        Create the pool; a Deferred firing with C{self}.  Zaqar 23.0.1 (SQL
        management store) replaces an existing pool of that name instead of
        answering 409; a C{uri} another pool uses fails with
        L{txzaqar.errors.InternalServerError}; one the server cannot
        connect to with L{txzaqar.errors.BadRequest}.
        """
        body = pool_body(uri, weight, flavor, options, partial=False)

        route = _paths.pool(self.name)
        return self.connection.put(route.path, operation=route.operation, body=body, idempotent=False).addCallback(lambda _: self)

    def get(self, detailed: bool = False) -> Deferred[dict[str, Any]]:

        v.boolean("detailed", detailed)
        route = _paths.pool(self.name)
        return _document(self.connection.get(route.path, operation=route.operation, params={"detailed": detailed}))

    def update(self, uri: str | None = None, weight: int | None = None,
               flavor: str | None = None, options: Mapping[str, Any] | None = None) -> Deferred[dict[str, Any]]:
        body = pool_body(uri, weight, flavor, options, partial=True)

        route = _paths.pool(self.name)
        return _document(self.connection.patch(route.path, operation=route.operation, body=body, idempotent=True))

    def delete(self) -> Deferred[None]:

        route = _paths.pool(self.name)
        return self.connection.delete(route.path, operation=route.operation).addCallback(lambda _: None)


@implementer(IFlavor)
@attr.s(frozen=True, slots=True, auto_attribs=True)
class Flavor:
    """A flavor (a named set of pools), by name (see L{IFlavor}); its methods need the admin role."""

    #: The connection requests go through.
    connection: IConnection = attr.ib(eq=False, repr=False)
    name: str = attr.ib(validator=lambda _i, _a, value: check_name("name", value))

    @staticmethod
    def _body(pool_list: Any, capabilities: Any) -> dict[str, Any]:
        # Zaqar 23.0.1 answers 400 to a PUT or PATCH without a non-empty
        # pool_list (a PATCH of capabilities alone included).
        if pool_list is None:
            raise ClientValidationError("pool_list", "is required: a non-empty list of pool names")
        body: dict[str, Any] = {
            "pool_list": [check_name("pool", p) for p in v.string_list("pool_list", pool_list)]
        }
        if not body["pool_list"]:
            raise ClientValidationError("pool_list", "must name at least one pool")
        if capabilities is not None:
            if not isinstance(capabilities, Mapping):
                raise ClientValidationError("capabilities", "must be a dict")
            body["capabilities"] = dict(capabilities)
            v.json_bytes("capabilities", body["capabilities"])
        return body

    def create(self, pool_list: list[str], capabilities: Mapping[str, Any] | None = None) -> Deferred["Flavor"]:
        """
        Create the flavor over existing pools (each pool is in at most one
        flavor: it leaves its previous one); a Deferred firing with C{self};
        L{txzaqar.errors.BadRequest} if a pool does not exist.  The server
        computes the flavor's capabilities from its first pool: Zaqar
        23.0.1 accepts C{capabilities} but ignores them.
        """
        body = self._body(pool_list, capabilities)

        route = _paths.flavor(self.name)
        return self.connection.put(route.path, operation=route.operation, body=body, idempotent=False).addCallback(lambda _: self)

    def get(self, detailed: bool = False) -> Deferred[dict[str, Any]]:

        v.boolean("detailed", detailed)
        route = _paths.flavor(self.name)
        return _document(self.connection.get(route.path, operation=route.operation, params={"detailed": detailed}))

    def update(self, pool_list: list[str] | None = None,
               capabilities: Mapping[str, Any] | None = None) -> Deferred[dict[str, Any]]:
        """C{capabilities} are ignored here, as in L{create}."""
        body = self._body(pool_list, capabilities)

        route = _paths.flavor(self.name)
        return _document(self.connection.patch(route.path, operation=route.operation, body=body, idempotent=True))

    def delete(self) -> Deferred[None]:

        route = _paths.flavor(self.name)
        return self.connection.delete(route.path, operation=route.operation).addCallback(lambda _: None)
