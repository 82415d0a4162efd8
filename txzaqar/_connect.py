"""
L{connect}: the one place that composes a client, choosing the
authenticator (L{NoAuth}, L{Keystone}), the TLS policy, the pooled agent,
the L{Connection} and the L{Client}, and handing the client the
L{Subscriber} factory.  Resources never import C{auth}, C{tls} or the
Subscriber; everything meets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from twisted.web.iweb import IPolicyForHTTPS

from ._support import arguments
from ._support import validation as v
from .api.client import Client
from .auth import Keystone, NoAuth, SignedURLAuth
from .auth.tls import TLSPolicy
from .http.connection import Connection, make_agent, make_pool
from .interfaces import IAuthenticator, IClient, IWakeSource
from .subscriber import Subscriber


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
    roles: Sequence[str] | None = None,
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

    Every argument is checked here, before any connection pool or thread
    exists; a mistake raises L{ClientValidationError} naming the argument
    (and, for two that cannot go together, which one to drop).

    @param url: Zaqar's base URL: C{http://} or C{https://}, a host (a
        name, an IPv4 address or a bracketed IPv6 one), an optional port
        and path prefix.  May be omitted with Keystone (the catalog) or a
        signed URL document that carries one; required with C{project_id}.
    @param project_id: the project for servers without authentication
        (L{NoAuth}, sent as C{X-Project-ID}): 1 to 256 latin-1 characters
        without control characters.  Not with Keystone options, C{cloud},
        C{authenticator} or C{signed_url}.
    @param authenticator: an L{IAuthenticator}, instead of C{project_id},
        Keystone options, C{cloud} or C{signed_url}.
    @param reactor: the reactor (the global one when omitted).
    @param tls: an C{IPolicyForHTTPS}, for https to Zaqar; not together
        with C{cacert}, C{cert}, C{key} or C{insecure}, which build one
        (a L{txzaqar.auth.tls.TLSPolicy}, also used for Keystone).
        Certificates are verified against the system store by default.
    @param cacert: path of a PEM bundle of CAs to trust instead of the system store.
    @param cert: path of a PEM client certificate (mutual TLS); may hold the key.
    @param key: path of the PEM private key of C{cert}; needs C{cert}.
    @param insecure: C{True} to skip verifying the server's certificate
        (logged loudly); a C{bool}, so that C{"no"} is not read as true.
    @param timeout: seconds one request attempt may take, body included
        (a finite number above 0).
    @param client_id: the C{Client-ID} header: a UUID (any form
        L{uuid.UUID} reads); a new one when omitted.
    @param roles: C{X-Roles} for a noauth server, a list or tuple of role
        names (e.g. C{["admin"]}); only with C{project_id}.
    @param cloud: a cloud name from C{clouds.yaml} (Keystone).
    @param signed_url: act with nothing but a pre-signed URL (a
        L{txzaqar.SignedURL}, its C{to_json()} document, or that as JSON
        text): see L{txzaqar.auth.SignedURLAuth}.  C{url} may be left out
        when the document carries one.
    @param websocket_url: Zaqar's WebSocket transport (C{ws://} or
        C{wss://}), for C{client.subscriber(push="websocket")}; with
        Keystone it may be left out (the catalog's C{messaging-websocket}).
    @param auth_options: keystoneauth1 options (C{auth_type}, C{auth_url}
        (an http or https URL), C{username}, C{password}, ...,
        C{interface}, C{region_name}), and C{call_timeout} (see
        L{Keystone}); they need C{auth_url} (or C{cloud}).
    @return: a L{Client}; nothing is sent until it is used.
    @raise ClientValidationError: a bad argument (see each above), two
        that conflict (C{key} without C{cert}; C{tls} with C{cacert},
        C{cert}, C{key} or C{insecure}; C{project_id} or C{roles} with
        Keystone options, C{cloud}, C{authenticator} or C{signed_url};
        more than one way to authenticate), no way to authenticate, or
        no URL where none can be found (C{project_id} without C{url}); also
        a C{cloud} that no C{clouds.yaml} holds, unknown Keystone options,
        or a C{cacert}/C{cert}/C{key} file that cannot be read or holds no
        PEM certificate (field C{os-cloud}, C{auth options}, C{cacert}...).
    """
    _check_connect(url=url, project_id=project_id, authenticator=authenticator, tls=tls, cacert=cacert,
                   cert=cert, key=key, insecure=insecure, timeout=timeout, client_id=client_id, roles=roles,
                   cloud=cloud, signed_url=signed_url, websocket_url=websocket_url, auth_options=auth_options)
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if tls is None and (cacert or cert or insecure):
        tls = TLSPolicy(cacert=cacert, cert=cert, key=key, insecure=insecure)
    if signed_url is not None:
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
        else:
            assert project_id is not None  # _check_connect
            authenticator = NoAuth(project_id, roles=roles)
    pool = make_pool(reactor)
    agent = make_agent(reactor, pool=pool, tls=tls)
    connection = Connection(agent, reactor, authenticator, url=url, client_id=client_id,
                            timeout=timeout, pool=pool)
    return Client(connection, subscriber_factory=partial(make_subscriber, tls=tls,
                                                         websocket_url=websocket_url))


def _check_connect(*, url: Any, project_id: Any, authenticator: Any, tls: Any, cacert: Any, cert: Any,
                   key: Any, insecure: Any, timeout: Any, client_id: Any, roles: Any, cloud: Any,
                   signed_url: Any, websocket_url: Any, auth_options: dict[str, Any]) -> None:
    """Every check of L{connect}'s arguments that needs no file, pool or thread."""
    v.positive_seconds("timeout", timeout)
    arguments.boolean("insecure", insecure)
    if url is not None:
        arguments.http_url("url", url)
    if client_id is not None:
        arguments.client_id(client_id)
    for name, path in (("cacert", cacert), ("cert", cert), ("key", key)):
        arguments.optional_path(name, path)
    if key and not cert:
        raise arguments.drop("key", "no cert", "give the client certificate as cert= too, or drop key=")
    if tls is not None:
        tls_options = arguments.given(cacert=cacert, cert=cert, key=key, insecure=insecure)
        if tls_options:
            raise arguments.drop("tls", ", ".join(tls_options),
                                 f"either pass a ready policy as tls=, or drop tls= and keep {', '.join(tls_options)}")
        if not IPolicyForHTTPS.providedBy(tls):
            raise v.ClientValidationError("tls", f"must provide IPolicyForHTTPS (e.g. txzaqar.auth.tls.TLSPolicy), "
                                                 f"not {type(tls).__name__}")
    if websocket_url is not None:
        v.websocket_url(websocket_url)
    if cloud is not None and (not isinstance(cloud, str) or not cloud):
        raise v.ClientValidationError("cloud", f"must be a cloud name from clouds.yaml, not {cloud!r:.40}")
    if auth_options.get("auth_url") is not None:
        arguments.http_url("auth_url", auth_options["auth_url"])
    for name in ("project_name", "project_domain_name", "project_domain_id", "user_domain_name",
                 "user_domain_id", "username", "user_id"):
        value = auth_options.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise v.ClientValidationError(name, f"must be a non-empty string, not {value!r:.40}")
    keystone = cloud is not None or bool(auth_options)
    if signed_url is not None:
        extra = arguments.given(project_id=project_id, authenticator=authenticator, cloud=cloud, roles=roles)
        if extra or auth_options:
            raise arguments.drop("signed_url", ", ".join(extra + sorted(auth_options)),
                                 "a signed URL is all the credentials there are: drop the others")
    ways = arguments.given(authenticator=authenticator, signed_url=signed_url, cloud=cloud)
    if auth_options and cloud is None:
        ways.append("Keystone options")
    if len(ways) > 1:
        raise arguments.drop(ways[0], " and ".join(ways[1:]), "give one way to authenticate")
    others = ways[0] if ways else None
    if project_id is not None and others:
        advice = ("for Keystone, name the project with project_name (or project_id in the Keystone "
                  "options of Keystone.from_options); drop project_id" if keystone else "drop project_id")
        raise arguments.drop("project_id", others, advice)
    if roles is not None and others:
        raise arguments.drop("roles", others, "X-Roles is only sent to a noauth server (with project_id): drop roles")
    if others is None:
        if project_id is None:
            raise v.ClientValidationError(
                "project_id", "give project_id (noauth), Keystone options, cloud, signed_url or an authenticator"
            )
        arguments.header_text("project_id", project_id)
        if roles is not None:
            arguments.roles(roles)
        if url is None:
            raise v.ClientValidationError("url", "give Zaqar's URL: without Keystone there is no catalog to find it in")
    elif auth_options and cloud is None and not auth_options.get("auth_url"):
        raise v.ClientValidationError("auth_url", f"Keystone options {sorted(auth_options)} need auth_url")
    elif isinstance(authenticator, NoAuth) and url is None:
        raise v.ClientValidationError("url", "give Zaqar's URL: NoAuth has no catalog to find it in")


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
