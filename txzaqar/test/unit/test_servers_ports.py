"""
Tests for L{txzaqar.testing.servers.free_port}: loopback ports a server
can listen on, never handed out twice, outside the kernel's range for
outgoing connections' local ports.
"""

from __future__ import annotations

import socket

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.testing.servers import free_port
from txzaqar.testing.servers.common import _ephemeral_range


class FreePortTests(SynchronousTestCase):
    def test_distinct_listenable_and_below_the_ephemeral_range(self) -> None:
        low, high = _ephemeral_range()
        self.assertLess(low, high)
        ports = [free_port() for _ in range(50)]
        self.assertEqual(len(set(ports)), 50)
        for port in ports:
            self.assertTrue(1024 <= port < low, (port, low))
        with socket.socket() as s:
            s.bind(("127.0.0.1", ports[0]))
            s.listen(1)
