"""
The real client against the harness's TLS Zaqar
(L{txzaqar.testing.servers.shared_tls_zaqar}: a certificate for
127.0.0.1/localhost from the CA of L{shared_pki}, or for another host, or
requiring client certificates).  Keystone over TLS, and the Keystone
stack in general, are in L{txzaqar.test.integration.test_keystone_client}.
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest

import txzaqar
from txzaqar import errors
from txzaqar.test.helpers.recording import Events
from txzaqar.testing import servers


class ZaqarTLSTests(unittest.TestCase):
    """A noauth Zaqar behind TLS, certificates from a CA made for the test."""

    timeout = 300

    def setUp(self) -> None:
        self.pki = servers.shared_pki()

    def connect(self, url: str, **kwargs: Any) -> Any:
        client = txzaqar.connect(url, project_id="tls-test", reactor=reactor, timeout=20, **kwargs)
        self.addCleanup(client.close)
        return client

    async def test_refused_by_default(self) -> None:
        """Without the CA: a certificate error of its own class, nothing sent, not retried."""
        server = servers.shared_tls_zaqar()
        e = await self.assertFailure(self.connect(server.url).ping(), errors.CertificateVerificationFailed)
        self.assertIn("certificate", str(e).lower())
        self.assertIn("does not verify", str(e))
        self.assertTrue(e.not_sent)
        self.assertNotIn("\n", str(e))

    async def test_accepted_with_the_ca_bundle(self) -> None:
        server = servers.shared_tls_zaqar()
        client = self.connect(server.url, cacert=str(self.pki.ca_cert))
        self.assertTrue(await client.ping())
        name = f"tls-{uuid.uuid4().hex[:8]}"
        queue = await client.create_queue(name)
        self.addCleanup(queue.delete)
        await queue.post([{"body": "over TLS"}])
        self.assertEqual([m.body for m in await queue.messages()], ["over TLS"])

    async def test_insecure_accepts_and_warns(self) -> None:
        events = Events(self)
        server = servers.shared_tls_zaqar(wrong_host=True)
        client = self.connect(server.url, insecure=True)
        self.assertTrue(await client.ping())
        self.assertEqual(events.count("TLS verification of Zaqar is DISABLED"), 1)

    async def test_hostname_mismatch_refused(self) -> None:
        server = servers.shared_tls_zaqar(wrong_host=True)
        e = await self.assertFailure(
            self.connect(server.url, cacert=str(self.pki.ca_cert)).ping(), errors.CertificateVerificationFailed
        )
        self.assertIn("not for '127.0.0.1'", str(e))
        self.assertIn("hostname mismatch", str(e))
        self.assertTrue(e.not_sent)

    async def test_mtls_needs_the_client_certificate(self) -> None:
        server = servers.shared_tls_zaqar(mtls=True)
        e = await self.assertFailure(
            self.connect(server.url, cacert=str(self.pki.ca_cert)).ping(), errors.ConnectionFailed
        )
        self.assertNotIsInstance(e, errors.CertificateVerificationFailed)  # ours was refused, not theirs
        self.assertIn("TLS", str(e))
        client = self.connect(server.url, cacert=str(self.pki.ca_cert), cert=str(self.pki.client_cert),
                              key=str(self.pki.client_key))
        self.assertTrue(await client.ping())
