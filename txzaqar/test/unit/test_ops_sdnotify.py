"""
Tests for L{txzaqar.ops.sdnotify}: datagrams a real receiving socket reads.
"""

from __future__ import annotations

import os
import socket
import uuid

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.ops.sdnotify import Notifier, watchdog_interval


class NotifierTests(SynchronousTestCase):
    def receiver(self, abstract: bool) -> tuple[socket.socket, str]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        if abstract:
            name = f"txzaqar-test-{uuid.uuid4().hex}"
            sock.bind(b"\0" + name.encode())
            return sock, "@" + name
        path = os.path.join(self.mktemp() + ".sock")
        sock.bind(path)
        return sock, path

    def check(self, abstract: bool) -> None:
        sock, address = self.receiver(abstract)
        notifier = Notifier({"NOTIFY_SOCKET": address})
        self.addCleanup(notifier.close)
        self.assertTrue(notifier.enabled)
        self.assertTrue(notifier.ready("listening to 2 queues"))
        self.assertTrue(notifier.watchdog())
        self.assertTrue(notifier.stopping())
        got = [sock.recv(4096) for _ in range(3)]
        self.assertEqual(got, [b"READY=1\nSTATUS=listening to 2 queues", b"WATCHDOG=1", b"STOPPING=1"])

    def test_path_socket(self) -> None:
        self.check(abstract=False)

    def test_abstract_socket(self) -> None:
        self.check(abstract=True)

    def test_without_notify_socket_nothing_happens(self) -> None:
        notifier = Notifier({})
        self.assertFalse(notifier.enabled)
        self.assertFalse(notifier.ready())
        self.assertFalse(notifier.watchdog())
        notifier.close()

    def test_no_receiver_is_not_an_error(self) -> None:
        notifier = Notifier({"NOTIFY_SOCKET": self.mktemp() + ".sock"})
        self.addCleanup(notifier.close)
        self.assertFalse(notifier.ready())


class WatchdogIntervalTests(SynchronousTestCase):
    def test_half_of_watchdog_usec(self) -> None:
        self.assertEqual(watchdog_interval({"WATCHDOG_USEC": "30000000"}), 15.0)

    def test_for_this_process_only(self) -> None:
        env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
        self.assertEqual(watchdog_interval(env), 1.0)
        env["WATCHDOG_PID"] = "1"
        self.assertIsNone(watchdog_interval(env))

    def test_unset_or_bad(self) -> None:
        for env in ({}, {"WATCHDOG_USEC": ""}, {"WATCHDOG_USEC": "x"}, {"WATCHDOG_USEC": "0"}):
            self.assertIsNone(watchdog_interval(env))
