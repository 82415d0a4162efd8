"""
The push configuration the real-server harness writes
(L{txzaqar.testing.servers.websocket}, L{txzaqar.testing.servers.zaqar}),
checked without starting anything.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.testing.servers import (
    NOTIFIER,
    HarnessError,
    ServerSet,
    ZaqarServer,
    ZaqarWebSocketServer,
    free_port,
    websocket_handshake,
)
from txzaqar.testing.servers.common import write_ini


class StubRedis:
    """Stands for a L{RedisServer}: only the storage URI is asked for."""

    def uri(self, dbid: int) -> str:
        return f"redis://127.0.0.1:6379/{dbid}"


def zaqar(test: SynchronousTestCase, **kwargs: object) -> ZaqarServer:
    """A L{ZaqarServer} as if its port and database were chosen (nothing runs)."""
    server = ZaqarServer(StubRedis(), name="zaqar-unit", **kwargs)  # type: ignore[arg-type]
    server.directory = Path(test.mktemp())
    server.directory.mkdir(parents=True)
    server.dbid, server.port = 3, 8900
    return server


def read_ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser


class ZaqarPushConfigTests(SynchronousTestCase):
    def test_plain_zaqar_has_no_notifier(self) -> None:
        """The default Zaqar (L{shared_zaqar}'s) has no message pipeline and no WebSocket."""
        server = zaqar(self)
        self.assertNotIn("storage", server.config())
        self.assertNotIn("notification", server.config())
        self.assertIsNone(server.websocket)
        e = self.assertRaises(HarnessError, lambda: server.websocket_url)
        self.assertIn("websocket=True", str(e))

    def test_websocket_brings_notifier(self) -> None:
        """With C{websocket=True} the notifier pipeline is configured and the transport is there."""
        server = zaqar(self, websocket=True)
        self.assertEqual(server.config()["storage"], {"message_pipeline": NOTIFIER})
        self.assertEqual(NOTIFIER, "zaqar.notification.notifier")
        self.assertIsInstance(server.websocket, ZaqarWebSocketServer)
        assert server.websocket is not None
        self.assertIs(server.websocket.zaqar, server)
        self.assertEqual(server.websocket.name, "zaqar-unit-ws")
        self.assertRaises(HarnessError, lambda: server.websocket_url)  # not started

    def test_require_confirmation(self) -> None:
        """C{require_confirmation=True} writes C{[notification]} beside the signed-URL key it needs."""
        conf = zaqar(self, websocket=True, require_confirmation=True).config()
        self.assertEqual(conf["notification"], {"require_confirmation": "true"})
        self.assertTrue(conf["signed_url"]["secret_key"])

    def test_written_file(self) -> None:
        """The written C{zaqar.conf} parses back to the same options."""
        server = zaqar(self, websocket=True)
        write_ini(server.config_file, server.config())
        parsed = read_ini(server.config_file)
        self.assertEqual(parsed.get("storage", "message_pipeline"), NOTIFIER)
        self.assertEqual(parsed.get("drivers", "transport"), "wsgi")


class WebSocketOverlayTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.http = zaqar(self, websocket=True)
        assert self.http.websocket is not None
        self.ws = self.http.websocket
        self.ws.directory = Path(self.mktemp())
        self.ws.directory.mkdir(parents=True)

    def test_overlay(self) -> None:
        """Loopback only, with the underscore spellings Zaqar reads, and its own log file."""
        self.ws.port, self.ws.notification_port = 9000, 9001
        overlay = self.ws.overlay()
        self.assertEqual(overlay["drivers"], {"transport": "websocket"})
        self.assertEqual(
            overlay["drivers:transport:websocket"],
            {
                "bind": "127.0.0.1",
                "port": "9000",
                "notification_bind": "127.0.0.1",
                "notification_port": "9001",
            },
        )
        self.assertEqual(overlay["DEFAULT"]["log_file"], str(self.ws.log_file))
        self.assertNotEqual(self.ws.log_file, self.http.log_file)
        write_ini(self.ws.config_file, overlay)
        parsed = read_ini(self.ws.config_file)
        self.assertEqual(parsed.get("drivers:transport:websocket", "notification_port"), "9001")
        self.assertEqual(self.ws.url, "ws://127.0.0.1:9000")

    def test_url_before_start(self) -> None:
        self.assertRaises(HarnessError, lambda: self.ws.url)

    def test_start_needs_the_http_server(self) -> None:
        """Its configuration is the HTTP server's: without it, nothing is spawned."""
        with self.assertRaises(HarnessError) as e:
            self.ws.start()
        self.assertIn("start zaqar-unit first", str(e.exception))
        self.assertIsNone(self.ws.process)

    def test_server_set_iterates_websocket(self) -> None:
        """L{ServerSet} lists the WebSocket process (the CLI watches and reports each)."""
        servers = ServerSet(push=True)
        servers.zaqar = self.http
        self.assertEqual(list(servers), [self.http, self.ws])


class HandshakeTests(SynchronousTestCase):
    def test_not_a_ws_url(self) -> None:
        with self.assertRaises(ValueError):
            websocket_handshake("http://127.0.0.1:80")

    def test_nobody_listening(self) -> None:
        self.assertIsNone(websocket_handshake(f"ws://127.0.0.1:{free_port()}", timeout=1.0))
