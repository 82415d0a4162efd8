"""
L{txzaqar.testing.faults.FaultProxy} in front of a real Zaqar: every fault
kind gives the client either a typed L{ZaqarError} or a correct answer
(never a raw exception, never a hang), and what reached Zaqar is what the
proxy's log says; the reliability suite's acknowledgement tracing reads
the DELETEs a real Subscriber sends (its retries, or with C{--break}'s
patch none); and a L{RedisServer} with persistence keeps its data across
a restart on the same port.
"""

from __future__ import annotations

import socket
import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.trial import unittest

import txzaqar
from txzaqar.errors import ZaqarError
from txzaqar.test.reliability.breakage import remove_acknowledgement_retries
from txzaqar.test.reliability.stack import Waits
from txzaqar.test.reliability.tracing import (
    LOST_AFTER_RETRIES,
    LOST_BEFORE_RETRIES,
    AckTrace,
    Delivery,
    deleted_ids,
)
from txzaqar.testing.faults import FAULT_KINDS, FORWARDED_KINDS, FaultProxy, FaultSchedule
from txzaqar.testing.servers import RedisServer, shared_zaqar

PROJECT = "txzaqar-faults-test"


def _redis(port: int, *command: str) -> bytes:
    """One RESP command to the Redis on I{port}; its raw answer."""
    parts = [b"*%d\r\n" % len(command)] + [b"$%d\r\n%s\r\n" % (len(c.encode()), c.encode()) for c in command]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        return s.recv(1024)


class ProxyRealTests(unittest.TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.zaqar = shared_zaqar()
        self.direct = txzaqar.connect(self.zaqar.url, project_id=PROJECT, reactor=reactor)
        self.addCleanup(self.direct.close)

    async def _one(self, kind: str) -> None:
        proxy = FaultProxy(self.zaqar.url, FaultSchedule(5, 1.0, (kind,)), reactor, stall_limit=10)
        proxy.listen()
        client = txzaqar.connect(proxy.url, project_id=PROJECT, reactor=reactor, timeout=2)
        name = f"faults-{kind.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        await self.direct.queue(name).create()
        try:
            try:
                ids = await client.queue(name).post({"body": {"kind": kind}, "ttl": 300})
            except ZaqarError:
                ids = None
            stored = await self.direct.queue(name).messages(echo=True)
            entries = [e for e in proxy.log if e.method == "POST"]
            self.assertTrue(entries, kind)
            self.assertEqual({e.fault for e in entries}, {kind})
            if ids is not None:
                self.assertEqual([m.id for m in stored], ids, kind)
            # A POST is retried only when it certainly never reached Zaqar,
            # so at most one copy is stored, and only if a POST was forwarded.
            self.assertLessEqual(len(stored), 1, kind)
            if stored:
                self.assertTrue(any(e.forwarded for e in entries), kind)
                self.assertIn(kind, FORWARDED_KINDS)
            if kind not in FORWARDED_KINDS:
                self.assertEqual(stored, [], kind)
        finally:
            await client.close()
            await proxy.stop()
            await self.direct.queue(name).delete()

    async def test_every_kind(self) -> None:
        """Each fault gives a typed error or the right ids; Zaqar stored what the log says."""
        for kind in FAULT_KINDS:
            await self._one(kind)

    async def test_log_matches_requests(self) -> None:
        """Unfaulted, the proxy forwards everything and logs each request with Zaqar's status."""
        proxy = FaultProxy(self.zaqar.url, FaultSchedule(5, 0.0), reactor)
        proxy.listen()
        client = txzaqar.connect(proxy.url, project_id=PROJECT, reactor=reactor, timeout=5)
        name = f"faults-log-{uuid.uuid4().hex[:6]}"
        try:
            await client.queue(name).create()
            await client.queue(name).post([{"body": i} for i in range(3)])
            await client.queue(name).delete()
        finally:
            await client.close()
            await proxy.stop()
        seen: list[Any] = [(e.n, e.method, e.upstream_status, e.fault) for e in proxy.log]
        self.assertEqual(seen, [(0, "PUT", 201, None), (1, "POST", 201, None), (2, "DELETE", 204, None)])


class AcknowledgementTraceRealTests(unittest.TestCase):
    """A real Subscriber's acknowledgements, every attempt refused (503) by the proxy."""

    timeout = 120

    async def _acknowledge(self, messages: int) -> list[str]:
        """Process I{messages} through the proxy; the outcome of each delivery's acknowledgement."""
        zaqar = shared_zaqar()
        direct = txzaqar.connect(zaqar.url, project_id=PROJECT, reactor=reactor)
        self.addCleanup(direct.close)
        schedule = FaultSchedule(3, 1.0, ("unavailable",), applies=lambda method, path: bool(deleted_ids(method, path)))
        proxy = FaultProxy(zaqar.url, schedule, reactor)
        proxy.listen()
        client = txzaqar.connect(proxy.url, project_id=PROJECT, reactor=reactor, timeout=5)
        name = f"faults-acks-{uuid.uuid4().hex[:6]}"
        await direct.queue(name).create()
        deliveries: list[Delivery] = []
        try:
            await direct.queue(name).post([{"body": i, "ttl": 300} for i in range(messages)])
            subscriber = client.subscriber(batch=10, claim_ttl=60, poll_interval=0.2, ack_delay=0.1)
            subscriber.subscribe(name, lambda m: deliveries.append(
                Delivery((name, m.body), m.id, m.claim_id, reactor.seconds())))
            subscriber.startService()
            waits = Waits(reactor)
            try:
                await waits.until(lambda: len(deliveries) == messages, 30, "every message delivered")
                await waits.until(lambda: len(list(proxy.requests("DELETE", "/messages"))) >= 1, 30, "a DELETE")
            finally:
                await waits.on(maybeDeferred(subscriber.stopService), 30, "the Subscriber to stop")
        finally:
            await proxy.stop()
            await direct.queue(name).delete()
        self.flushLoggedErrors(ZaqarError)  # the Subscriber logs each failed acknowledgement
        return [ack.outcome for _, ack in AckTrace(proxy.log).outcomes(deliveries)]

    async def test_retried(self) -> None:
        """The library's acknowledgement is attempted 3 times: lost after its retries, as traced."""
        self.assertEqual(await self._acknowledge(5), [LOST_AFTER_RETRIES] * 5)

    async def test_retries_removed(self) -> None:
        """With C{--break}'s patch it is attempted once: lost before its retries ran out."""
        self.addCleanup(remove_acknowledgement_retries())
        self.assertEqual(await self._acknowledge(5), [LOST_BEFORE_RETRIES] * 5)


class PersistentRedisTests(unittest.TestCase):
    timeout = 120

    def test_restart_keeps_data(self) -> None:
        """With C{persistence=True} a key written before a restart (same port) is there after it."""
        redis = RedisServer(persistence=True)
        self.addCleanup(redis.stop)
        redis.start()
        port = redis.port
        assert port is not None
        redis.fixed_port = port
        self.assertEqual(_redis(port, "SET", "txzaqar-kept", "yes"), b"+OK\r\n")
        redis.stop()
        redis.start()
        self.assertEqual(redis.port, port)
        self.assertEqual(_redis(port, "GET", "txzaqar-kept"), b"$3\r\nyes\r\n")
