"""
The README's first command, C{python -m txzaqar.demo}, run against the
shared real Zaqars (C{--url}; with C{--websocket-url}, push), so the demo
cannot rot.  (C{tox -e demo}, which starts its own servers, is run as
printed by the README's code tests.)
"""

from __future__ import annotations

import os
import sys

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from txzaqar.testing import shared_push_zaqar, shared_zaqar


class DemoTests(unittest.TestCase):
    timeout = 300

    async def run_demo(self, push: bool) -> str:
        zaqar = shared_push_zaqar() if push else shared_zaqar()
        websocket = ["--websocket-url", zaqar.websocket_url] if push else []
        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-m", "txzaqar.demo", "--url", zaqar.url, *websocket, "--messages", "3",
                             "--timeout", "120"],
            env=dict(os.environ), reactor=reactor,
        )
        text = (out + err).decode("utf-8", "replace")
        self.assertEqual(code, 0, text[-4000:])
        self.assertIn("demo: 5 deliveries of 4 messages (1 failed and redelivered); queue empty: True", text)
        self.assertIn("stopped cleanly: True", text)
        self.assertIn("demo: done: OK", text)
        self.assertEqual(text.count("[txzaqar.demo#info] delivered from"), 5, text[-4000:])
        # twistd shows info and above by default: no per-request debug lines
        self.assertNotIn("#debug]", text)
        self.assertEqual(text.count(" ms after its post)"), 3, text[-4000:])
        return text

    async def polling(self) -> None:
        text = await self.run_demo(push=False)
        self.assertNotIn("push is up", text)
        self.assertIn("'notifications': 0", text)

    async def pushing(self) -> None:
        text = await self.run_demo(push=True)
        self.assertIn("demo: push is up", text)
        self.assertIn("'push_missed': 0", text)
        self.assertRegex(text, r"'notifications': [1-9]")

    def test_demo(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.polling())

    def test_demo_with_push(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.pushing())
