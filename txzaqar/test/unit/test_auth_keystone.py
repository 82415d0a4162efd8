"""
Unit tests of the Keystone authenticator with a fake keystoneauth1
session and no threads (the "run in thread" function is injected).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from keystoneauth1 import exceptions as ks
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from txzaqar import errors
from txzaqar.auth import Keystone
from txzaqar.interfaces import IAuthenticator
from txzaqar.test.helpers.connection import CannedResponse, ConnectionTestsMixin, json_response


class FakeSession:
    def __init__(self, failure: Exception | None = None, endpoint: str | None = "http://zaqar:8888") -> None:
        self.auth = object()
        self.tokens = 0
        self.invalidations = 0
        self.failure = failure
        self._endpoint = endpoint
        self.endpoint_args: dict[str, Any] = {}

    def get_token(self) -> str:
        if self.failure is not None:
            raise self.failure
        self.tokens += 1
        return f"secret-token-{self.tokens}"

    def get_project_id(self) -> str:
        return "p1"

    def invalidate(self) -> bool:
        self.invalidations += 1
        return True

    def get_endpoint(self, **kwargs: Any) -> str | None:
        self.endpoint_args = kwargs
        return self._endpoint


class ControlledThreads:
    """Runs 'threaded' calls only when told to."""

    def __init__(self) -> None:
        self.calls: list[tuple[Deferred[Any], Callable[..., Any], tuple[Any, ...]]] = []

    def __call__(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append((d, f, args))
        return d

    def run_all(self) -> None:
        while self.calls:
            d, f, args = self.calls.pop(0)
            maybeDeferred(f, *args).chainDeferred(d)


def sync(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return maybeDeferred(f, *args)


class KeystoneTests(SynchronousTestCase):
    def test_interface_and_headers(self) -> None:
        session = FakeSession()
        auth = Keystone(session, run_in_thread=sync)
        self.assertTrue(verifyObject(IAuthenticator, auth))
        headers = self.successResultOf(auth.headers())
        self.assertEqual(headers, {"X-Auth-Token": "secret-token-1", "X-Project-ID": "p1"})
        self.successResultOf(auth.headers())
        self.assertEqual(session.tokens, 1)  # cached

    def test_token_expiry(self) -> None:
        """C{token_expires_at}: the plugin's access info's expiry, while the token is cached."""
        expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

        class Plugin:
            def get_access(self, session: Any) -> Any:
                return SimpleNamespace(expires=expires)

        session = FakeSession()
        session.auth = Plugin()
        auth = Keystone(session, run_in_thread=sync)
        self.assertIsNone(auth.token_expires_at)
        used = self.successResultOf(auth.headers())
        self.assertEqual(auth.token_expires_at, expires.timestamp())
        auth.invalidate(used)
        self.assertIsNone(auth.token_expires_at)
        # a plugin that does not say (or fails to): unknown
        plain = Keystone(FakeSession(), run_in_thread=sync)
        self.successResultOf(plain.headers())
        self.assertIsNone(plain.token_expires_at)

    def test_concurrent_first_calls_authenticate_once(self) -> None:
        session = FakeSession()
        threads = ControlledThreads()
        auth = Keystone(session, run_in_thread=threads)
        d1, d2 = auth.headers(), auth.headers()
        self.assertEqual(len(threads.calls), 1)  # the second waits on the lock
        threads.run_all()
        threads.run_all()
        self.assertEqual(self.successResultOf(d1), self.successResultOf(d2))
        self.assertEqual(session.tokens, 1)

    def test_concurrent_401s_reauthenticate_once(self) -> None:
        session = FakeSession()
        auth = Keystone(session, run_in_thread=sync)
        used = self.successResultOf(auth.headers())
        self.assertTrue(auth.invalidate(used))
        self.assertTrue(auth.invalidate(used))
        fresh = self.successResultOf(auth.headers())
        self.assertEqual(fresh["X-Auth-Token"], "secret-token-2")
        # a late 401 for the old token must not throw the new one away
        auth.invalidate(used)
        self.assertEqual(self.successResultOf(auth.headers()), fresh)
        self.assertEqual((session.tokens, session.invalidations), (2, 1))

    def test_refused_credentials(self) -> None:
        auth = Keystone(FakeSession(ks.http.Unauthorized()), run_in_thread=sync)
        error = self.failureResultOf(auth.headers(), errors.AuthenticationFailed).value
        self.assertNotIsInstance(error, errors.IdentityUnavailable)
        self.assertEqual(error.code, 401)

    def test_keystone_down(self) -> None:
        auth = Keystone(FakeSession(ks.ConnectFailure("refused")), run_in_thread=sync)
        self.failureResultOf(auth.headers(), errors.IdentityUnavailable)

    def test_call_timeout(self) -> None:
        """A Keystone call that never returns fails after call_timeout, and frees the lock."""
        clock = Clock()
        threads = ControlledThreads()
        auth = Keystone(FakeSession(), reactor=clock, run_in_thread=threads, call_timeout=5)
        first = auth.headers()
        clock.advance(4.9)
        self.assertNoResult(first)
        clock.advance(0.1)
        error = self.failureResultOf(first, errors.IdentityUnavailable).value
        self.assertIn("5s", str(error))
        second = auth.headers()  # not stuck behind the lock
        self.assertEqual(len(threads.calls), 2)
        threads.calls[1:] = []
        threads.calls.pop(0)
        clock.advance(5)
        self.failureResultOf(second, errors.IdentityUnavailable)

    def test_no_call_timeout(self) -> None:
        clock = Clock()
        threads = ControlledThreads()
        auth = Keystone(FakeSession(), reactor=clock, run_in_thread=threads, call_timeout=None)
        d = auth.headers()
        clock.advance(3600)
        self.assertNoResult(d)
        threads.run_all()
        self.assertEqual(self.successResultOf(d)["X-Auth-Token"], "secret-token-1")

    def test_endpoint_from_catalog(self) -> None:
        session = FakeSession()
        auth = Keystone(session, interface="internal", region_name="R2", run_in_thread=sync)
        self.assertEqual(self.successResultOf(auth.endpoint()), "http://zaqar:8888")
        self.assertEqual(session.endpoint_args,
                         {"service_type": "messaging", "interface": "internal", "region_name": "R2"})

    def test_no_endpoint(self) -> None:
        auth = Keystone(FakeSession(endpoint=None), run_in_thread=sync)
        error = self.failureResultOf(auth.endpoint(), errors.AuthenticationFailed).value
        self.assertIn("messaging", str(error))

    def test_secrets_not_shown(self) -> None:
        auth = Keystone.from_options(
            "password", auth_url="http://ks:5000/v3", username="u", password="hunter2-pw",
            project_name="p", user_domain_id="default", project_domain_id="default",
            run_in_thread=sync,
        )
        self.assertNotIn("hunter2", repr(auth))

    def test_from_options_checks(self) -> None:
        self.assertRaises(errors.ClientValidationError, Keystone.from_options, "no-such-plugin")
        error = self.assertRaises(errors.ClientValidationError, Keystone.from_options, "password",
                                  auth_url="http://ks/v3", colour="blue")
        self.assertIn("colour", str(error))

    def test_from_options_passes_keystone_settings(self) -> None:
        auth = Keystone.from_options(
            "password", auth_url="http://ks:5000/v3", username="u", password="pw", project_name="p",
            user_domain_id="default", project_domain_id="default", run_in_thread=sync,
            call_timeout=5.0, interface="internal", region_name="R2",
        )
        self.assertEqual((auth._call_timeout, auth._interface, auth._region_name), (5.0, "internal", "R2"))

    def test_from_environment(self) -> None:
        env = {
            "OS_AUTH_URL": "http://ks:5000/v3", "OS_USERNAME": "demo", "OS_PASSWORD": "pw",
            "OS_PROJECT_NAME": "demo", "OS_USER_DOMAIN_ID": "default",
            "OS_PROJECT_DOMAIN_ID": "default", "OS_REGION_NAME": "R1", "OS_INTERFACE": "internalURL",
        }
        auth = Keystone.from_environment(env, run_in_thread=sync)
        plugin = auth._session.auth
        self.assertEqual((plugin.auth_url, plugin._username, plugin._project_name),
                         ("http://ks:5000/v3", "demo", "demo"))
        self.assertEqual((auth._interface, auth._region_name), ("internal", "R1"))
        self.assertRaises(errors.ClientValidationError, Keystone.from_environment, {})

    def test_application_credential_from_environment(self) -> None:
        env = {"OS_AUTH_TYPE": "v3applicationcredential", "OS_AUTH_URL": "http://ks/v3",
               "OS_APPLICATION_CREDENTIAL_ID": "id1", "OS_APPLICATION_CREDENTIAL_SECRET": "s"}
        auth = Keystone.from_environment(env, run_in_thread=sync)
        self.assertEqual(type(auth._session.auth).__name__, "ApplicationCredential")


class KeystoneThreadPoolTests(TestCase):
    """The real one-thread pool, with the real reactor."""

    async def test_close_does_not_wait_for_a_stuck_call(self) -> None:
        """
        A keystoneauth1 call stuck past call_timeout (a hung Keystone) keeps
        its thread busy; close() must not block the reactor joining it: it
        returns, and its Deferred fires, while that call is still stuck
        (released only afterwards), however slow the machine.
        """
        from twisted.internet import reactor

        release = threading.Event()
        returned = threading.Event()

        class StuckSession(FakeSession):
            def get_token(self) -> str:
                release.wait(60)
                returned.set()
                return "late-token"

        self.addCleanup(release.set)
        auth = Keystone(StuckSession(), reactor=reactor, call_timeout=0.1)
        try:
            await auth.headers()
        except errors.IdentityUnavailable:
            pass
        else:
            self.fail("no IdentityUnavailable")
        closing = auth.close()
        self.assertFalse(returned.is_set(), "close() waited for the stuck call")
        await closing
        self.assertFalse(returned.is_set(), "close() fired only once the stuck call was over")
        release.set()

        def pool_threads() -> list[threading.Thread]:
            return [t for t in threading.enumerate() if "txzaqar-keystone" in t.name]

        deadline = time.monotonic() + 60
        while pool_threads() and time.monotonic() < deadline:
            await deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(pool_threads(), [])


class ReauthOverConnectionTests(ConnectionTestsMixin, SynchronousTestCase):
    def test_401_reauthenticates_and_retries_once(self) -> None:
        session = FakeSession()
        auth = Keystone(session, run_in_thread=sync)
        conn, agent, _ = self.connection(CannedResponse(401, b"{}"), json_response(200, {"ok": 1}), auth=auth)
        self.assertEqual(self.successResultOf(conn.get("queues")).json, {"ok": 1})
        tokens = [r[2].getRawHeaders(b"x-auth-token") for r in agent.requests]
        self.assertEqual(tokens, [[b"secret-token-1"], [b"secret-token-2"]])


class IdentityErrorTests(SynchronousTestCase):
    """keystoneauth1's exceptions become classes the daemon's start-up can tell apart."""

    def test_no_endpoint_is_a_configuration_mistake(self) -> None:
        from txzaqar.auth.keystone import _identity_error

        error = _identity_error(ks.EndpointNotFound())
        self.assertIsInstance(error, errors.EndpointNotFound)
        self.assertTrue(errors.refused(error))

    def test_tls_failure_with_keystone(self) -> None:
        from txzaqar.auth.keystone import _identity_error

        error = _identity_error(ks.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                            "self-signed certificate (_ssl.c:1006)"))
        self.assertIsInstance(error, errors.IdentityCertificateRefused)
        self.assertFalse(errors.refused(error))
        self.assertIn("certificate verify failed", str(error))
