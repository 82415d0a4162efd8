"""
L{txzaqar.push._supervisor.Supervisor} alone: the real autobahn client
protocol on a fake transport through a L{MemoryReactorClock}, its owner's
callbacks recorded.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.push._supervisor import CONNECT_TIMEOUT, Supervisor
from txzaqar.push.backoff import ReconnectDelay
from txzaqar.test.helpers.websocket import URL, FakeAuth, ServerEnd


class SupervisorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.told: list[tuple[Any, ...]] = []
        self.supervisor = Supervisor(
            URL, FakeAuth(), self.reactor, None, ReconnectDelay(1, 4, lambda: 0.0), 30,
            opened=lambda headers: self.told.append(("opened", headers)),
            received=lambda payload, binary: self.told.append(("received", payload)),
            expired=lambda: self.told.append(("expired",)),
            forget=lambda: self.told.append(("forget",)),
            down=lambda reason: self.told.append(("down", reason)),
        )

    def reconnect_delay(self) -> float:
        [call] = [c for c in self.reactor.getDelayedCalls() if c.func.__name__ == "_connect"]  # type: ignore[attr-defined]
        return call.getTime() - self.reactor.seconds()

    def connect(self) -> ServerEnd:
        server = ServerEnd(self.reactor)
        server.handshake()
        return server

    def test_opened_with_the_headers(self) -> None:
        self.supervisor.start()
        self.assertEqual(self.supervisor.state, "connecting")
        server = self.connect()
        self.assertEqual(self.told, [("opened", {"X-Project-ID": "p1"})])
        server.send({"x": 1})
        self.assertEqual(self.told[-1], ("received", b'{"x": 1}'))

    def test_backoff_doubles_and_resets_when_up(self) -> None:
        self.supervisor.start()
        delays = []
        for _ in range(4):
            ServerEnd(self.reactor).lose()
            delays.append(self.reconnect_delay())
            self.reactor.advance(delays[-1])
        self.assertEqual(delays, [1, 2, 4, 4])
        self.assertEqual(self.supervisor.reconnects, 4)
        self.connect()
        self.supervisor.ready()
        self.supervisor.up()
        self.assertEqual(self.supervisor.state, "up")
        self.supervisor.fail("test")
        self.assertEqual(self.reconnect_delay(), 1)
        self.assertEqual(self.told[-2:], [("forget",), ("down", "test")])

    def test_4003_after_ready_reconnects_at_once(self) -> None:
        self.supervisor.start()
        server = self.connect()
        self.supervisor.ready()
        server.close(4003, "Authentication expired.")
        self.assertIn(("expired",), self.told)
        self.assertEqual(self.reconnect_delay(), 0)

    def test_connect_timeout_until_ready(self) -> None:
        self.supervisor.start()
        self.connect()
        self.reactor.advance(CONNECT_TIMEOUT)
        self.assertEqual(self.told[-1], ("down", f"no connection in {CONNECT_TIMEOUT:g}s"))
        self.assertEqual(self.supervisor.state, "down")

    def test_ready_stops_the_timeout_and_pings_keep_it(self) -> None:
        self.supervisor.start()
        server = self.connect()
        self.supervisor.ready()
        self.supervisor.start_pings()
        server.frames()
        self.reactor.advance(30)
        [ping] = server.frames()
        server.send_bytes(ping[1], opcode=0xA)
        self.reactor.advance(30)
        self.assertEqual(self.supervisor.state, "connecting")  # never up: no subscription said so
        self.reactor.advance(30)  # the second ping unanswered
        self.assertEqual(self.told[-1], ("down", "no answer to a ping within 30s"))

    def test_stop_cancels_the_reconnect(self) -> None:
        self.supervisor.start()
        ServerEnd(self.reactor).lose()
        self.successResultOf(self.supervisor.stop())
        self.reactor.advance(100)
        self.assertEqual(len(self.reactor.tcpClients), 1)
        self.assertEqual(self.supervisor.state, "stopped")
