"""
Tests for the real-server harness's Keystone stack and TLS Zaqar
(txzaqar.testing.servers: keystone, keystone_stack, pki).

They start real processes (Keystone, Zaqar, Redis) and block; the servers are
shared per process through the cached helpers, so the first test pays for
the start-up.  They fail (not skip) when a server venv cannot be built.
"""

import json
import ssl
import threading
import time
import urllib.error
import urllib.request

from twisted.trial import unittest

from txzaqar.testing import servers

CLIENT_ID = "3e9a0e2e-6e3a-4f39-9a5a-1c2c8d3f2a10"


def call(url, method="GET", body=None, headers=None, context=None):
    """Blocking HTTP(S) call; returns (status, headers, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Client-ID", CLIENT_ID)
    if not any(k.lower() == "x-auth-token" for k in headers or {}):
        req.add_header("X-Project-ID", "txzaqar-harness-test")
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=15, context=context) as resp:
            raw, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, e.headers
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return status, hdrs, parsed


def messaging_endpoints(token_body):
    for service in token_body["catalog"]:
        if service["type"] == "messaging":
            return {e["interface"]: e for e in service["endpoints"]}
    return {}


class KeystoneStackTests(unittest.TestCase):
    def setUp(self):
        self.stack = servers.shared_keystone_stack()
        self.keystone = self.stack.keystone
        self.zaqar = self.stack.zaqar

    def test_token_with_messaging_catalog(self):
        """demo gets a project-scoped token whose catalog holds the Zaqar endpoints."""
        token, body = self.keystone.token("demo")
        self.assertTrue(token)
        self.assertEqual(body["project"]["name"], "demo")
        self.assertEqual(body["project"]["id"], self.keystone.project_id("demo"))
        self.assertIn("member", [r["name"] for r in body["roles"]])
        endpoints = messaging_endpoints(body)
        self.assertEqual(set(endpoints), {"public", "internal", "admin"})
        for ep in endpoints.values():
            self.assertEqual(ep["url"], self.zaqar.url)
            self.assertEqual(ep["region_id"], "RegionOne")
        identity = [s for s in body["catalog"] if s["type"] == "identity"][0]
        self.assertEqual({e["url"] for e in identity["endpoints"]}, {self.keystone.url + "/"})

    def test_credentials(self):
        creds = self.stack.credentials
        self.assertEqual(creds.auth_url, self.keystone.url)
        self.assertTrue(creds.auth_url.startswith("http://127.0.0.1:"))
        self.assertTrue(creds.auth_url.endswith("/v3"))
        self.assertEqual(
            creds.demo.auth_kwargs(creds.auth_url),
            {
                "auth_url": creds.auth_url,
                "username": "demo",
                "password": "demo-secret",
                "project_name": "demo",
                "user_domain_id": "default",
                "project_domain_id": "default",
            },
        )
        self.assertNotIn("secret", repr(creds))
        _, body = self.keystone.token(creds.alt)
        self.assertEqual(body["project"]["name"], "alt")
        _, body = self.keystone.token("zaqar")
        self.assertEqual({r["name"] for r in body["roles"]} >= {"service", "admin"}, True)

    def test_wrong_password(self):
        status, _, _ = self.keystone.request(
            "POST", "/auth/tokens", servers.KeystoneUser("demo", "wrong", "demo").auth_body()
        )
        self.assertEqual(status, 401)

    def test_concurrent_logins(self):
        """Logins at once all succeed (two SQLite writers used to deadlock into a 500)."""
        statuses = []

        def login(name):
            for _ in range(3):
                status, _, _ = self.keystone.request("POST", "/auth/tokens", self.stack.credentials.user(name).auth_body())
                statuses.append(status)

        threads = [threading.Thread(target=login, args=(("demo", "alt")[i % 2],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses, [201] * 24)

    def test_zaqar_rejects_bad_and_missing_token(self):
        status, hdrs, body = call(self.zaqar.url + "/v2/queues", headers={"X-Auth-Token": "bogus"})
        self.assertEqual(status, 401)
        self.assertIn("Keystone", hdrs.get("WWW-Authenticate", ""))
        status, _, _ = call(self.zaqar.url + "/v2/queues")
        self.assertEqual(status, 401)

    def test_zaqar_accepts_good_token_and_separates_projects(self):
        token, body = self.keystone.token("demo")
        alt_token, _ = self.keystone.token("alt")
        url = messaging_endpoints(body)["public"]["url"]
        queue = f"ksq-{time.time_ns()}"
        auth = {"X-Auth-Token": token}
        status, _, _ = call(f"{url}/v2/queues/{queue}", "PUT", {}, headers=auth)
        self.assertEqual(status, 201)
        status, _, _ = call(
            f"{url}/v2/queues/{queue}/messages", "POST", {"messages": [{"ttl": 60, "body": 1}]}, headers=auth
        )
        self.assertEqual(status, 201)
        status, _, listing = call(f"{url}/v2/queues", headers=auth)
        self.assertEqual(status, 200)
        self.assertIn(queue, [q["name"] for q in listing["queues"]])
        status, _, listing = call(f"{url}/v2/queues", headers={"X-Auth-Token": alt_token})
        self.assertIn(status, (200, 204))
        self.assertNotIn(queue, [q["name"] for q in (listing or {}).get("queues", [])])
        status, _, _ = call(f"{url}/v2/queues/{queue}", "DELETE", headers=auth)
        self.assertEqual(status, 204)

    def test_revoke(self):
        """A revoked token is refused by Zaqar at once (token_cache_time = -1)."""
        token, _ = self.keystone.token("demo")
        auth = {"X-Auth-Token": token}
        status, _, _ = call(self.zaqar.url + "/v2/queues", headers=auth)
        self.assertIn(status, (200, 204))
        self.keystone.revoke(token)
        self.assertEqual(self.keystone.validate(token), 404)
        status, _, _ = call(self.zaqar.url + "/v2/queues", headers=auth)
        self.assertEqual(status, 401)


class ShortTokenStackTests(unittest.TestCase):
    def setUp(self):
        self.stack = servers.shared_keystone_stack(token_ttl=5)

    def test_separate_stack(self):
        long = servers.shared_keystone_stack()
        self.assertIsNot(self.stack, long)
        self.assertNotEqual(self.stack.keystone.url, long.keystone.url)
        self.assertNotEqual(self.stack.zaqar.url, long.zaqar.url)
        self.assertNotEqual(self.stack.zaqar.dbid, long.zaqar.dbid)
        # each Keystone has its own fernet keys: tokens don't cross over
        token, _ = self.stack.keystone.token("demo")
        status, _, _ = call(long.zaqar.url + "/v2/queues", headers={"X-Auth-Token": token})
        self.assertEqual(status, 401)

    def test_token_expires(self):
        token, body = self.stack.keystone.token("demo")
        auth = {"X-Auth-Token": token}
        status, _, _ = call(self.stack.zaqar.url + "/v2/queues", headers=auth)
        self.assertIn(status, (200, 204))
        expires = body["expires_at"]
        issued = body["issued_at"]
        self.assertNotEqual(expires, issued)
        # the token lives 4 to 5 s: polled until refused, against a deadline
        # far above that (a loaded machine answers each call late)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, _, _ = call(self.stack.zaqar.url + "/v2/queues", headers=auth)
            if status == 401:
                break
            time.sleep(0.5)
        self.assertEqual(status, 401)

    def test_keystone_outage(self):
        """
        stop()/start() of the Keystone keeps its port, users and keys; while
        it is down Zaqar cannot validate tokens (and answers 503).
        """
        keystone = self.stack.keystone
        url, demo_id = keystone.url, keystone.project_id("demo")
        token, _ = keystone.token("demo")
        keystone.stop()
        try:
            status, _, body = call(self.stack.zaqar.url + "/v2/queues", headers={"X-Auth-Token": token})
            self.assertEqual(status, 503, body)
        finally:
            keystone.start()
        self.assertEqual(keystone.url, url)
        token, body = keystone.token("demo")
        self.assertEqual(body["project"]["id"], demo_id)
        status, _, _ = call(self.stack.zaqar.url + "/v2/queues", headers={"X-Auth-Token": token})
        self.assertIn(status, (200, 204))


class TLSKeystoneStackTests(unittest.TestCase):
    def test_https_keystone_and_zaqar(self):
        """Keystone and Zaqar over HTTPS; Zaqar validates tokens against the HTTPS Keystone."""
        stack = servers.shared_keystone_stack(tls=True)
        ctx = servers.shared_pki().client_context()
        self.assertTrue(stack.keystone.url.startswith("https://127.0.0.1:"))
        self.assertTrue(stack.zaqar.url.startswith("https://127.0.0.1:"))
        token, body = stack.keystone.token("demo")
        url = messaging_endpoints(body)["public"]["url"]
        self.assertEqual(url, stack.zaqar.url)
        status, _, _ = call(url + "/v2/queues", headers={"X-Auth-Token": token}, context=ctx)
        self.assertIn(status, (200, 204))
        status, _, _ = call(url + "/v2/queues", headers={"X-Auth-Token": "bogus"}, context=ctx)
        self.assertEqual(status, 401)
        with self.assertRaises(urllib.error.URLError):
            call(stack.keystone.url, context=ssl.create_default_context())


class TLSZaqarTests(unittest.TestCase):
    def setUp(self):
        self.pki = servers.shared_pki()

    def test_https_with_ca(self):
        server = servers.shared_tls_zaqar()
        self.assertTrue(server.url.startswith("https://127.0.0.1:"))
        status, _, _ = call(server.url + "/v2/ping", context=self.pki.client_context())
        self.assertEqual(status, 204)
        # "localhost" is in the certificate too
        status, _, _ = call(
            server.url.replace("127.0.0.1", "localhost") + "/v2/ping", context=self.pki.client_context()
        )
        self.assertEqual(status, 204)

    def test_https_refused_without_ca(self):
        server = servers.shared_tls_zaqar()
        with self.assertRaises(urllib.error.URLError) as cm:
            call(server.url + "/v2/ping", context=ssl.create_default_context())
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)

    def test_wrong_host(self):
        server = servers.shared_tls_zaqar(wrong_host=True)
        with self.assertRaises(urllib.error.URLError) as cm:
            call(server.url + "/v2/ping", context=self.pki.client_context())
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)
        self.assertIn("match", str(cm.exception.reason))
        status, _, _ = call(server.url + "/v2/ping", context=self.pki.client_context(check_hostname=False))
        self.assertEqual(status, 204)

    def test_mtls(self):
        server = servers.shared_tls_zaqar(mtls=True)
        status, _, _ = call(server.url + "/v2/ping", context=self.pki.client_context(client_cert=True))
        self.assertEqual(status, 204)
        for ctx in (self.pki.client_context(), self._other_client_context()):
            # TLS 1.3: the server's refusal arrives after the handshake, as
            # an alert or a reset on the first read
            with self.assertRaises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
                call(server.url + "/v2/ping", context=ctx)

    def _other_client_context(self):
        ctx = self.pki.client_context()
        ctx.load_cert_chain(str(self.pki.other_client_cert), str(self.pki.other_client_key))
        return ctx


class TLSUnitTests(unittest.TestCase):
    def test_pki_files(self):
        pki = servers.make_test_pki(self.mktemp())
        for path in (
            pki.ca_cert,
            pki.server_cert,
            pki.server_key,
            pki.wrong_host_cert,
            pki.wrong_host_key,
            pki.client_cert,
            pki.client_key,
            pki.other_ca_cert,
            pki.other_client_cert,
            pki.other_client_key,
        ):
            self.assertTrue(path.read_bytes().startswith(b"-----BEGIN "), path)
        self.assertEqual(pki.server_key.stat().st_mode & 0o077, 0)
        # loads into an ssl context both ways
        pki.client_context(client_cert=True)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))

    def test_server_tls(self):
        pki = servers.TestPKI(servers.shared_pki().directory)
        tls = pki.server_tls(mtls=True)
        self.assertEqual(tls.client_ca, pki.ca_cert)
        self.assertEqual(tls.client_cert, pki.client_cert)
        plain = pki.server_tls()
        self.assertIsNone(plain.client_ca)
        self.assertFalse(pki.server_tls(wrong_host=True).check_hostname)

    def test_tls_needs_gunicorn(self):
        with self.assertRaises(ValueError):
            servers.ZaqarServer(
                servers.RedisServer(), mode="builtin", tls=servers.shared_pki().server_tls()
            )
