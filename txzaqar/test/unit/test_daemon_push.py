"""
The push options of C{twistd zaqar-listen}: C{--push}, C{--websocket-url},
C{--webhook-listen}, C{--webhook-url}, C{--safety-interval}; one line
saying what to fix for each mistake.
"""

from __future__ import annotations

from typing import Any

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.auth import _environment
from txzaqar.daemon import _service as _tap

GOOD = ["--url", "http://127.0.0.1:8888", "--project-id", "demo", "--queue", "jobs"]


class PushOptionTests(SynchronousTestCase):
    def parse(self, *extra: str, env: dict[str, str] | None = None) -> Any:
        self.patch(_environment.os, "environ", dict(env or {}))
        options = _tap.Options()
        options.parseOptions(GOOD + list(extra))
        return options

    def test_no_push(self) -> None:
        options = self.parse()
        self.assertIsNone(options["push"])
        self.assertEqual(options["subscriber-settings"].safety_interval, 300.0)

    def test_websocket(self) -> None:
        options = self.parse("--push", "websocket", "--websocket-url", "ws://127.0.0.1:9000",
                             "--safety-interval", "3600")
        self.assertEqual((options["push"], options["websocket-url"]), ("websocket", "ws://127.0.0.1:9000"))
        self.assertEqual(options["subscriber-settings"].safety_interval, 3600.0)

    def test_websocket_url_from_the_environment(self) -> None:
        options = self.parse("--push", "websocket", env={"ZAQAR_WEBSOCKET_URL": "wss://zaqar.example:9000"})
        self.assertEqual(options["websocket-url"], "wss://zaqar.example:9000")

    def test_webhook(self) -> None:
        options = self.parse("--push", "webhook", "--webhook-listen", "tcp:8090:interface=127.0.0.1",
                             "--webhook-url", "https://consumer.example/zaqar")
        self.assertEqual(options["webhook-url"], "https://consumer.example/zaqar")

    def test_mistakes(self) -> None:
        cases = [
            (["--push", "carrier-pigeon"], "--push must be websocket or webhook, not 'carrier-pigeon'"),
            (["--push", "websocket"], "--push websocket needs --websocket-url (or $ZAQAR_WEBSOCKET_URL)"),
            (["--push", "websocket", "--websocket-url", "http://127.0.0.1:9000"],
             "--websocket-url must be a ws:// or wss:// URL, not 'http://127.0.0.1:9000'"),
            (["--websocket-url", "ws://127.0.0.1:9000"], "--websocket-url is used only with --push websocket"),
            (["--push", "webhook"], "--push webhook needs --webhook-listen and --webhook-url"),
            (["--webhook-url", "http://h/x"], "--webhook-listen and --webhook-url are used only with --push webhook"),
            (["--push", "webhook", "--webhook-listen", "carrier:8090", "--webhook-url", "http://h/x"],
             "--webhook-listen: 'carrier:8090' is not a server endpoint"),
            (["--push", "webhook", "--webhook-listen", "tcp:8090", "--webhook-url", "ftp://h/x"],
             "--webhook-url must be an http:// or https:// URL, not 'ftp://h/x'"),
            (["--safety-interval", "0"], "--safety-interval must be a positive number of seconds, not 0"),
            (["--safety-interval", "soon"], "--safety-interval must be a number of seconds, not 'soon'"),
        ]
        for extra, message in cases:
            with self.subTest(extra=extra):
                e = self.assertRaises(usage.UsageError, self.parse, *extra)
                self.assertIn(message, str(e))
