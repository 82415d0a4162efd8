"""
L{Client}: account-wide operations (queues, health, home document, pools,
flavors), and L{connect}, the one-line way to get one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from . import _paging
from . import _validation as v
from ._interfaces import IAuthenticator, IClient, IConnection
from .admin import Flavor, Pool
from .auth import NoAuth
from .connection import Connection, _as_deferred, make_agent, make_pool
from .queue import Queue


@implementer(IClient)
class Client:
    """
    The entry point: hands out L{Queue}s and does project-wide calls.

    @param connection: an L{IConnection} (see L{connect}).
    """

    def __init__(self, connection: IConnection) -> None:
        self.connection = connection

    def __repr__(self) -> str:
        return f"<Client {self.connection!r}>"

    def queue(self, name: str) -> Queue:
        """A L{Queue} by name; sends nothing.  @raise ClientValidationError: bad name."""
        return Queue(self.connection, name)

    def create_queue(self, name: str, metadata: Mapping[str, Any] | None = None) -> Deferred[Queue]:
        """
        Create a queue (an existing one is left as it is).

        @return: a Deferred firing with the L{Queue}.
        """
        queue = self.queue(name)

        async def create() -> Queue:
            await queue.create(metadata)
            return queue

        return _as_deferred(create())

    def queues(self, limit: int = 10, detailed: bool = False, max_items: int | None = None) -> Deferred[list[Queue]]:
        """
        Every queue of the project, all pages, each exactly once.

        @param limit: page size, 1 to 20.
        @param detailed: also read each queue's metadata (see L{queue_details}).
        @return: a Deferred firing with a C{list} of L{Queue}.
        """
        d = self.queue_details(limit=limit, detailed=detailed, max_items=max_items)
        return d.addCallback(lambda items: [self.queue(item["name"]) for item in items])

    def queue_details(self, limit: int = 10, detailed: bool = True, max_items: int | None = None) -> Deferred[list[dict[str, Any]]]:
        """@return: a Deferred firing with the queue documents (C{name}, C{href}, C{metadata})."""
        v.page_limit(limit)
        return _as_deferred(
            _paging.collect(self.connection, "queues", "queues", "name", limit,
                            params={"detailed": detailed}, max_items=max_items)
        )

    def home(self) -> Deferred[dict[str, Any]]:
        """@return: a Deferred firing with the JSON-Home document."""

        async def home() -> dict[str, Any]:
            return dict((await self.connection.get("")).json or {})

        return _as_deferred(home())

    def versions(self) -> Deferred[list[dict[str, Any]]]:
        """@return: a Deferred firing with the API versions the server offers."""

        async def versions() -> list[dict[str, Any]]:
            response = await self.connection.get("/", ok=(300,))
            return list((response.json or {}).get("versions") or [])

        return _as_deferred(versions())

    def ping(self) -> Deferred[bool]:
        """
        @return: a Deferred firing with C{True} when the server and its
            storage answer; fails with the error (e.g.
            L{txzaqar.errors.ServiceUnavailable}) otherwise.
        """

        async def ping() -> bool:
            await self.connection.get("ping")
            return True

        return _as_deferred(ping())

    def health(self) -> Deferred[dict[str, Any]]:
        """
        @return: a Deferred firing with the detailed health report (admin
            only); L{txzaqar.errors.Forbidden} without the admin role,
            L{txzaqar.errors.NotFound} when the server is not in admin mode.
        """

        async def health() -> dict[str, Any]:
            return dict((await self.connection.get("health")).json or {})

        return _as_deferred(health())

    def pool(self, name: str) -> Pool:
        return Pool(self.connection, v.path_segment("pool name", name))

    def create_pool(self, name: str, uri: str, weight: int, flavor: str | None = None,
                    options: Mapping[str, Any] | None = None) -> Deferred[Pool]:
        return self.pool(name).create(uri, weight, flavor, options)

    def pools(self, limit: int = 10, detailed: bool = False) -> Deferred[list[dict[str, Any]]]:
        v.page_limit(limit)
        return _as_deferred(
            _paging.collect(self.connection, "pools", "pools", "name", limit, params={"detailed": detailed})
        )

    def flavor(self, name: str) -> Flavor:
        return Flavor(self.connection, v.path_segment("flavor name", name))

    def create_flavor(self, name: str, pool_list: list[str],
                      capabilities: Mapping[str, Any] | None = None) -> Deferred[Flavor]:
        return self.flavor(name).create(pool_list, capabilities)

    def flavors(self, limit: int = 10, detailed: bool = False) -> Deferred[list[dict[str, Any]]]:
        v.page_limit(limit)
        return _as_deferred(
            _paging.collect(self.connection, "flavors", "flavors", "name", limit, params={"detailed": detailed})
        )

    def subscriber(self, **kwargs: Any) -> Any:
        """A new L{txzaqar.subscriber.Subscriber} on this client (not started)."""
        from .subscriber import Subscriber

        return Subscriber(self, **kwargs)

    def close(self) -> Deferred[None]:
        """Cancel requests in flight and close pooled connections."""
        return self.connection.close()


def connect(
    url: str | None = None,
    project_id: str | None = None,
    authenticator: IAuthenticator | None = None,
    reactor: Any = None,
    tls: Any = None,
    cacert: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    insecure: bool = False,
    timeout: float = 30.0,
    client_id: str | None = None,
    roles: list[str] | None = None,
    cloud: str | None = None,
    **auth_options: Any,
) -> Client:
    """
    A ready L{Client} in one line::

        client = txzaqar.connect("http://127.0.0.1:8888", project_id="demo")
        client = txzaqar.connect(auth_url="https://keystone/v3", username="u",
                                 password=..., project_name="p",
                                 user_domain_id="default", project_domain_id="default")
        client = txzaqar.connect(cloud="mycloud")          # clouds.yaml

    @param url: Zaqar's base URL; may be omitted with Keystone (catalog).
    @param project_id: for servers without authentication (L{NoAuth}).
    @param authenticator: an L{IAuthenticator}, instead of the above.
    @param reactor: the reactor (the global one when omitted).
    @param tls: an C{IPolicyForHTTPS}; or give C{cacert}, C{cert}, C{key},
        C{insecure} (see L{txzaqar.tls.TLSPolicy}), used for Keystone too.
        Certificates are verified against the system store by default.
    @param roles: C{X-Roles} for a noauth server (e.g. C{["admin"]}).
    @param cloud: a cloud name from C{clouds.yaml}.
    @param auth_options: keystoneauth1 options (C{auth_type}, C{auth_url},
        C{username}, C{password}, ..., C{interface}, C{region_name}), and
        C{call_timeout} (see L{Keystone}).
    """
    from .auth import Keystone
    from .tls import TLSPolicy

    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if tls is None and (cacert or cert or insecure):
        tls = TLSPolicy(cacert=cacert, cert=cert, key=key, insecure=insecure)
    if authenticator is None:
        if cloud is not None:
            authenticator = Keystone.from_cloud(cloud, reactor=reactor, cacert=cacert, cert=cert,
                                                key=key, insecure=insecure, **auth_options)
        elif auth_options.get("auth_url"):
            authenticator = Keystone.from_options(reactor=reactor, cacert=cacert, cert=cert, key=key,
                                                  insecure=insecure, **auth_options)
        elif auth_options:
            raise v.ClientValidationError("auth_url", f"Keystone options {sorted(auth_options)} need auth_url")
        elif project_id is None:
            raise v.ClientValidationError("project_id", "give project_id (noauth), Keystone options or an authenticator")
        else:
            authenticator = NoAuth(project_id, roles=roles)
    pool = make_pool(reactor)
    agent = make_agent(reactor, pool=pool, tls=tls)
    connection = Connection(agent, reactor, authenticator, url=url, client_id=client_id,
                            timeout=timeout, pool=pool)
    return Client(connection)
