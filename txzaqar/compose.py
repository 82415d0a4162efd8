"""
L{connect}: the one place that composes a client, choosing the
authenticator (L{NoAuth}, L{Keystone}), the TLS policy, the pooled agent,
the L{Connection} and the L{Client}, and handing the client the
L{Subscriber} factory.  Resources never import C{auth}, C{tls} or the
Subscriber; everything meets here.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from . import _validation as v
from .auth import Keystone, NoAuth, SignedURLAuth
from .client import Client
from .connection import Connection, make_agent, make_pool
from .interfaces import IAuthenticator, IClient, IWakeSource
from .subscriber import Subscriber
from .tls import TLSPolicy


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
    signed_url: Any = None,
    websocket_url: str | None = None,
    **auth_options: Any,
) -> Client:
    """
    A ready L{Client} in one line::

        client = txzaqar.connect("http://127.0.0.1:8888", project_id="demo")
        client = txzaqar.connect(auth_url="https://keystone/v3", username="u",
                                 password=..., project_name="p",
                                 user_domain_id="default", project_domain_id="default")
        client = txzaqar.connect(cloud="mycloud")          # clouds.yaml
        client = txzaqar.connect("http://zaqar:8888", signed_url=shared)  # no credentials

    @param url: Zaqar's base URL; may be omitted with Keystone (catalog).
    @param project_id: for servers without authentication (L{NoAuth}).
    @param authenticator: an L{IAuthenticator}, instead of the above.
    @param reactor: the reactor (the global one when omitted).
    @param tls: an C{IPolicyForHTTPS}; or give C{cacert}, C{cert}, C{key},
        C{insecure} (see L{txzaqar.tls.TLSPolicy}), used for Keystone too.
        Certificates are verified against the system store by default.
    @param roles: C{X-Roles} for a noauth server (e.g. C{["admin"]}).
    @param cloud: a cloud name from C{clouds.yaml}.
    @param signed_url: act with nothing but a pre-signed URL (a
        L{txzaqar.SignedURL}, its C{to_json()} document, or that as JSON
        text): see L{txzaqar.auth.SignedURLAuth}.  C{url} may be left out
        when the document carries one.
    @param websocket_url: Zaqar's WebSocket transport (C{ws://} or
        C{wss://}), for C{client.subscriber(push="websocket")}; with
        Keystone it may be left out (the catalog's C{messaging-websocket}).
    @param auth_options: keystoneauth1 options (C{auth_type}, C{auth_url},
        C{username}, C{password}, ..., C{interface}, C{region_name}), and
        C{call_timeout} (see L{Keystone}).
    """
    v.positive_seconds("timeout", timeout)  # before any pool or thread exists
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if tls is None and (cacert or cert or insecure):
        tls = TLSPolicy(cacert=cacert, cert=cert, key=key, insecure=insecure)
    if signed_url is not None:
        if authenticator is not None or project_id is not None or cloud is not None or auth_options:
            raise v.ClientValidationError(
                "signed_url", "is all the credentials there are: give no project_id, authenticator or Keystone options"
            )
        authenticator = SignedURLAuth(signed_url, clock=reactor)
        if url is None and authenticator.url is None:
            raise v.ClientValidationError("url", "give Zaqar's URL: the signed URL document carries none")
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
    if websocket_url is not None:
        v.websocket_url(websocket_url)
    return Client(connection, subscriber_factory=partial(make_subscriber, tls=tls,
                                                         websocket_url=websocket_url))


def make_subscriber(client: IClient, *, push: IWakeSource | str | None = None, tls: Any = None,
                    websocket_url: str | None = None, **options: Any) -> Subscriber:
    """
    A L{Subscriber} on C{client} (what C{client.subscriber(...)} makes):
    C{push="websocket"} gives it a L{websocket_push} for the client.

    @param push: an L{IWakeSource}, C{"websocket"} or C{None}.
    @param options: the L{Subscriber}'s other options.
    @raise ClientValidationError: an unknown C{push}, or see L{websocket_push}.
    """
    source: IWakeSource | None
    if push == "websocket":
        source = websocket_push(client, websocket_url, tls=tls)
    elif isinstance(push, str):
        raise v.ClientValidationError(
            "push", f"must be 'websocket', an IWakeSource (txzaqar.push) or None, not {push!r:.40}"
        )
    else:
        source = push
    return Subscriber(client, push=source, **options)


def websocket_push(client: IClient, url: str | None = None, tls: Any = None, **options: Any) -> Any:
    """
    A L{txzaqar.push.WebSocketPush} for C{client}: the same credentials
    (its authenticator), C{Client-ID} and TLS settings.

    @param url: Zaqar's WebSocket URL; with Keystone it may be left out,
        and is then looked up in the catalog (C{messaging-websocket}) at
        each connection.
    @param tls: the C{IPolicyForHTTPS} for C{wss://} (C{None}: verify
        against the system's certificates).
    @param options: L{txzaqar.push.WebSocketPush}'s other options
        (C{subscription_ttl}, the reconnect delays).
    @raise ClientValidationError: no C{url} and no catalog to find one in
        (no Keystone), or a bad C{url}.
    """
    connection: Any = client.connection
    authenticator = connection.authenticator
    found: Any = url
    if found is None:
        if not isinstance(authenticator, Keystone):
            raise v.ClientValidationError(
                "websocket_url", "give Zaqar's WebSocket URL (ws://... or wss://...): without "
                "Keystone there is no catalog to find it in"
            )
        found = partial(authenticator.service_endpoint, "messaging-websocket")
    from .push import WebSocketPush  # autobahn is imported only for push

    return WebSocketPush(found, authenticator, connection.reactor, tls=tls,
                         client_id=connection.client_id, **options)
