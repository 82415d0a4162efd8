"""
The README's first command, C{python -m txzaqar.demo}, run against the
shared real Zaqar (C{--url}), so the demo cannot rot.
"""

from __future__ import annotations

import os
import sys

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from txzaqar.testing import shared_zaqar


class DemoTests(unittest.TestCase):
    timeout = 300

    async def run_demo(self) -> None:
        zaqar = shared_zaqar()
        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-m", "txzaqar.demo", "--url", zaqar.url, "--messages", "3",
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

    def test_demo(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.run_demo())
