"""
L{Keystone}: authenticates with keystoneauth1 (any plugin, or a ready
C{Session}) and finds Zaqar in the service catalog.  This is the only
module that knows Keystone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.logger import Logger
from zope.interface import implementer

from .._support import arguments
from .._support.threads import OwnedThreadPool, RunInThread
from ..errors import (
    AuthenticationFailed,
    ClientValidationError,
    EndpointNotFound,
    IdentityCertificateRefused,
    IdentityUnavailable,
)
from ..interfaces import IAuthenticator, ITokenExpiry
from . import _environment as environment

#: This module's logger.
log = Logger(namespace="txzaqar.auth")  # its name before the move to packages

#: A result type (for the helpers that run keystoneauth1 off the reactor thread).
T = TypeVar("T")


@implementer(IAuthenticator, ITokenExpiry)
class Keystone:
    """
    Keystone authentication through keystoneauth1.

    keystoneauth1 is blocking, so every call to it runs on a dedicated
    one-thread pool (never on the reactor thread nor on the reactor's own
    pool, which also does DNS), one at a time.  The token is cached until
    Zaqar answers 401; concurrent 401s cause a single re-authentication.

    @param session: a C{keystoneauth1.session.Session} with an auth plugin.
    @param reactor: the reactor (for the thread pool's lifetime).
    @param service_type: catalog type of Zaqar (C{messaging}).
    @param interface: catalog interface (C{public}, C{internal}, C{admin}).
    @param region_name: catalog region, if any.
    @param run_in_thread: override how blocking calls are run (tests).
    @param call_timeout: seconds a keystoneauth1 call may take before it
        fails with L{IdentityUnavailable} (C{None}: no limit).
    """

    def __init__(
        self,
        session: Any,
        reactor: Any = None,
        service_type: str = "messaging",
        interface: str = "public",
        region_name: str | None = None,
        run_in_thread: RunInThread | None = None,
        call_timeout: float | None = 60.0,
    ) -> None:
        if getattr(session, "auth", None) is None:
            raise ClientValidationError("session", "needs a keystoneauth1 auth plugin")
        self._session = session
        self._service_type = service_type
        self._interface = interface
        self._region_name = region_name
        self._lock = DeferredLock()
        self._headers: dict[str, str] | None = None
        self._token_expires_at: float | None = None
        self._stale = False
        if run_in_thread is None and reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self._reactor = reactor
        # started by the first call, stopped by close() or the reactor's shutdown
        self._threads = OwnedThreadPool(reactor, "txzaqar-keystone", run_in_thread=run_in_thread)
        self._call_timeout = call_timeout

    def __repr__(self) -> str:
        return (
            f"Keystone(service_type={self._service_type!r}, interface={self._interface!r}, "
            f"region_name={self._region_name!r})"
        )

    @classmethod
    def from_plugin(cls, plugin: Any, cacert: str | None = None, cert: str | None = None,
                    key: str | None = None, insecure: bool = False, timeout: float = 30.0,
                    **kwargs: Any) -> Keystone:
        """
        Wrap a keystoneauth1 auth plugin (e.g. C{v3.Password}) in a session
        with the given TLS settings for Keystone itself.
        """
        from keystoneauth1 import session as ks_session

        cacert, cert, key, insecure = arguments.tls_files(cacert, cert, key, insecure)
        verify: bool | str = cacert if cacert else not insecure
        if insecure:
            log.warn("TLS verification of Keystone is DISABLED (insecure)")
        return cls(
            ks_session.Session(auth=plugin, verify=verify, cert=_cert_arg(cert, key), timeout=timeout),
            **kwargs,
        )

    @classmethod
    def from_options(cls, auth_type: str = "password", cacert: str | None = None,
                     cert: str | None = None, key: str | None = None, insecure: bool = False,
                     timeout: float = 30.0, **options: Any) -> Keystone:
        """
        Load any keystoneauth1 plugin by name with its options, e.g.
        C{from_options("password", auth_url=..., username=..., password=...,
        project_name=..., user_domain_id="default", project_domain_id="default")}.
        C{service_type}, C{interface}, C{region_name}, C{call_timeout},
        C{reactor} and C{run_in_thread} go to the L{Keystone} itself.

        @raise ClientValidationError: unknown plugin or option.
        """
        from keystoneauth1 import exceptions, loading

        if options.get("auth_url") is not None:
            arguments.http_url("auth_url", options["auth_url"])
        service = {k: options.pop(k) for k in ("service_type", "interface", "region_name",
                                                "run_in_thread", "reactor", "call_timeout") if k in options}
        try:
            loader: Any = loading.get_plugin_loader(auth_type)
        except exceptions.NoMatchingPlugin:
            raise ClientValidationError("auth_type", f"unknown keystoneauth1 plugin {auth_type!r}") from None
        known = {o.dest for o in loader.get_options()}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ClientValidationError("auth options", f"{unknown} are not options of {auth_type!r}")
        try:
            plugin = loader.load_from_options(**{k: v for k, v in options.items() if v is not None})
        except exceptions.MissingRequiredOptions as e:
            names = ", ".join(o.dest for o in e.options)
            raise ClientValidationError("auth options", f"{auth_type!r} needs {names}") from None
        return cls.from_plugin(plugin, cacert=cacert, cert=cert, key=key, insecure=insecure,
                               timeout=timeout, **service)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Keystone:
        """
        Load credentials from C{OS_*} variables the way OpenStack tools do:
        C{OS_AUTH_TYPE} (default C{password}) and one C{OS_<OPTION>} per
        option of that plugin (C{OS_AUTH_URL}, C{OS_USERNAME},
        C{OS_PASSWORD}, C{OS_PROJECT_NAME}, C{OS_USER_DOMAIN_NAME}, ...,
        C{OS_APPLICATION_CREDENTIAL_ID}...), plus C{OS_REGION_NAME},
        C{OS_INTERFACE}, C{OS_CACERT}, C{OS_CERT}, C{OS_KEY}, C{OS_INSECURE}.
        Keyword arguments override the environment.
        """
        from keystoneauth1 import loading

        auth_type = kwargs.pop("auth_type", None) or environment.variable("OS_AUTH_TYPE", environ) or "password"
        names: list[str] = []
        try:
            env_loader: Any = loading.get_plugin_loader(auth_type)
            names = [opt.dest for opt in env_loader.get_options()]
        except Exception:  # unknown plugin: from_options says so clearly
            pass
        options = environment.keystone_options(names, environ)
        options.update({k: v for k, v in kwargs.items() if v is not None})
        if not options.get("auth_url"):
            raise ClientValidationError("OS_AUTH_URL", "is not set: no Keystone to authenticate with")
        return cls.from_options(auth_type, **options)

    @classmethod
    def from_cloud(cls, cloud: str, path: str | None = None, **kwargs: Any) -> Keystone:
        """
        Load the cloud named C{cloud} from C{clouds.yaml} (C{path}, or
        C{$OS_CLIENT_CONFIG_FILE}, C{./clouds.yaml},
        C{~/.config/openstack/clouds.yaml}, C{/etc/openstack/clouds.yaml}).
        Reading YAML needs PyYAML (C{pip install txzaqar[clouds]}).
        """
        from ._clouds import load_cloud

        config = load_cloud(cloud, path)
        options = dict(config.get("auth") or {})
        for name in ("region_name", "interface", "cacert", "cert", "key"):
            if config.get(name):
                options[name] = config[name]
        if config.get("verify") is False:
            options["insecure"] = True
        options.update({k: v for k, v in kwargs.items() if v is not None})
        return cls.from_options(config.get("auth_type") or "password", **options)

    # -- threads ------------------------------------------------------

    def _run(self, f: Callable[..., T], *args: Any) -> Deferred[T]:
        if not self._threads.running:
            self._threads.start()
            self._shutdown_trigger = self._reactor.addSystemEventTrigger(
                "during", "shutdown", self._threads.stop
            )
        return self._threads.run(f, *args)

    def close(self) -> Deferred[None]:
        """Stops the thread pool, without waiting for a call still running in it."""
        if self._threads.owned and self._threads.running:
            self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            # its thread may still be stuck in a keystoneauth1 call that
            # call_timeout gave up on (until the session timeout)
            self._threads.stop()
        return succeed(None)

    # -- IAuthenticator -----------------------------------------------

    def check(self, method: str, path: str) -> None:
        """Everything is allowed here (the server decides)."""

    def _call(self, f: Callable[..., T], *args: Any) -> Deferred[T]:
        async def guarded() -> T:
            d = self._run(f, *args)
            if self._call_timeout is not None and self._reactor is not None:
                d.addTimeout(self._call_timeout, self._reactor)
            try:
                return await d
            except defer.TimeoutError:
                # the thread may still be stuck in keystoneauth1; the next
                # call queues behind it and times out the same way
                raise IdentityUnavailable(
                    "Identity service timed out", f"no answer from Keystone in {self._call_timeout:g}s"
                ) from None
            except Exception as e:
                raise _identity_error(e) from None

        return Deferred.fromCoroutine(guarded())

    def _fetch_headers(self) -> tuple[dict[str, str], float | None]:
        """Runs in the thread pool: the headers, and when their token expires."""
        if self._stale:
            self._session.invalidate()
        token = self._session.get_token()
        if not token:
            raise AuthenticationFailed("Authentication failed", "Keystone returned no token")
        headers = {"X-Auth-Token": token}
        project_id = self._session.get_project_id()
        if project_id:
            headers["X-Project-ID"] = project_id
        return headers, self._expiry()

    def _expiry(self) -> float | None:
        """The cached token's expiry (seconds since the epoch), if the plugin tells it."""
        get_access = getattr(getattr(self._session, "auth", None), "get_access", None)
        if get_access is None:
            return None
        try:
            expires = get_access(self._session).expires  # the token get_token just cached
        except Exception:
            return None
        return expires.timestamp() if expires is not None else None

    @property
    def token_expires_at(self) -> float | None:
        """
        When the token of the current headers expires, in seconds since
        the epoch (C{None} before the first L{headers}, after
        L{invalidate}, or when the plugin does not say): for a connection
        that must authenticate again before then (L{txzaqar.push.WebSocketPush}).
        """
        return self._token_expires_at if self._headers is not None else None

    def headers(self) -> Deferred[dict[str, str]]:
        """Keystone's token as C{X-Auth-Token}, with C{X-Project-ID}."""
        if self._headers is not None:
            return succeed(dict(self._headers))

        async def fetch() -> dict[str, str]:
            await self._lock.acquire()
            try:
                if self._headers is None:
                    fetched, self._token_expires_at = await self._call(self._fetch_headers)
                    self._headers = fetched
                    self._stale = False
                    log.info("authenticated with Keystone")
                    return dict(fetched)
                return dict(self._headers)
            finally:
                self._lock.release()

        return Deferred.fromCoroutine(fetch())

    def invalidate(self, used: Mapping[str, str] | None = None) -> bool:
        current = self._headers
        if current is not None and (used is None or used.get("X-Auth-Token") == current["X-Auth-Token"]):
            self._headers = None
            self._stale = True
        return True

    def endpoint(self) -> Deferred[str | None]:
        """
        Zaqar's URL from the Keystone catalog; fails with L{AuthenticationFailed} if the catalog has none.
        """
        return self.service_endpoint(self._service_type)

    def service_endpoint(self, service_type: str) -> Deferred[str | None]:
        """
        The URL of C{service_type} in the catalog, for this authenticator's
        interface and region (e.g. C{"messaging-websocket"}: Zaqar's
        WebSocket transport, as devstack registers it).

        @return: a Deferred firing with the URL; fails with
            L{AuthenticationFailed} if the catalog has none (or Keystone
            refuses the credentials).
        """

        def lookup() -> str | None:
            return self._session.get_endpoint(
                service_type=service_type, interface=self._interface,
                region_name=self._region_name,
            )

        async def find() -> str | None:
            await self._lock.acquire()
            try:
                url = await self._call(lookup)
            finally:
                self._lock.release()
            if not url:
                raise EndpointNotFound(
                    f"No {service_type} endpoint",
                    f"the catalog has no {service_type!r} endpoint for interface "
                    f"{self._interface!r} in region {self._region_name!r}",
                )
            return str(url)

        return Deferred.fromCoroutine(find())


def _cert_arg(cert: str | None, key: str | None) -> str | tuple[str, str] | None:
    if cert and key:
        return (cert, key)
    return cert


_TLS_REASON = re.compile(r"(certificate verify failed: [^'\"()]+|hostname [^'\"()]+ doesn't match [^'\"()]+"
                         r"|tlsv1 alert [a-z ]+|sslv3 alert [a-z ]+)", re.IGNORECASE)


def _tls_reason(message: str) -> str:
    """The reason an OpenSSL failure gives (no URL, nothing else of the message)."""
    match = _TLS_REASON.search(message)
    return match.group(1).strip() if match else "the TLS handshake failed"


def _identity_error(e: Exception) -> Exception:
    """Map a keystoneauth1 exception to ours, without leaking secrets."""
    if isinstance(e, (AuthenticationFailed, ClientValidationError)):
        return e
    try:
        from keystoneauth1 import exceptions as ks
    except ImportError:  # pragma: no cover
        return AuthenticationFailed("Authentication failed", type(e).__name__)
    if isinstance(e, ks.SSLError):
        return IdentityCertificateRefused("TLS failure talking to Keystone", _tls_reason(str(e)))
    if isinstance(e, ks.ConnectionError):  # ConnectFailure, ConnectTimeout and the rest
        return IdentityUnavailable("Identity service unreachable", type(e).__name__)
    if isinstance(e, ks.http.Unauthorized):
        return AuthenticationFailed("Authentication failed", "Keystone refused the credentials (401)", code=401)
    if isinstance(e, ks.HttpError):
        status = getattr(e, "http_status", None)
        if status is not None and status >= 500:
            return IdentityUnavailable("Identity service unavailable", f"Keystone answered {status}", code=status)
        return AuthenticationFailed("Authentication failed", f"Keystone answered {status}", code=status)
    if isinstance(e, ks.EndpointNotFound):
        return EndpointNotFound("No Zaqar endpoint", "the service catalog has no matching endpoint")
    if isinstance(e, ks.ClientException):
        return AuthenticationFailed("Authentication failed", type(e).__name__)
    return e
