"""
The demo (L{txzaqar.demo}), run once, as the README's Quick start prints
it: C{python3 -m pip install tox && python3 -m tox -e demo} in the source
checkout, which starts its own Redis and push-capable Zaqar, runs the
daemon and posts to it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from txzaqar.test import readme


class QuickStartDemoTests(unittest.TestCase):
    """
    The Quick start's first command, as printed, in the source checkout
    (C{$TXZAQAR_SOURCE_DIR}, set by tox.ini's C{tests} env): C{python3} is
    this test's interpreter (its directory first on C{$PATH}), so
    C{pip install tox} installs into this virtualenv (a no-op under tox,
    whose C{tests} env has tox).  The inner tox runs only the C{demo} env
    (no trial, so no recursion into the suite), which reuses
    C{{toxinidir}/.zaqar-servers}; tox's own variables of the outer run
    are not passed on.
    """

    timeout = 900

    async def check(self) -> None:
        tree = readme.source_dir()
        if os.environ.get(readme.SOURCE_DIR_ENV) is None or tree is None:
            raise unittest.SkipTest(
                f"${readme.SOURCE_DIR_ENV} is not set (tox.ini's tests env sets it): the demo "
                "command runs tox in the source checkout")
        (block,) = [b for b in readme.section_blocks("Quick start") if "tox -e demo" in b.first_line]
        (command,) = block.commands()
        self.assertEqual(command, "python3 -m pip install tox && python3 -m tox -e demo")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TOX_", "VIRTUAL_ENV", "_TOX"))}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        # the inner tox keeps its envs (and its package build) out of the checkout's .tox, which
        # an outer "tox p" may be writing at the same moment
        env["TOX_WORK_DIR"] = self.mktemp()
        started = time.monotonic()
        out, err, code = await getProcessOutputAndValue(
            "/bin/sh", ["-c", command], env=env, path=str(tree), reactor=reactor)
        output = (out + err).decode("utf-8", "replace")
        self.assertEqual(code, 0, output[-6000:])
        self.assertIn("demo: done: OK", output)
        # the demo as a user sees it: push, every message, the failing one again, a clean stop
        self.assertIn("demo: push is up", output)
        self.assertIn("demo: 7 deliveries of 6 messages (1 failed and redelivered); queue empty: True", output)
        self.assertEqual(output.count("[txzaqar.demo#info] delivered from"), 7, output[-6000:])
        self.assertEqual(output.count(" ms after its post)"), 5, output[-6000:])
        self.assertIn("stopped cleanly: True", output)
        self.assertIn("'push_missed': 0", output)
        self.assertRegex(output, r"'notifications': [1-9]")
        # twistd shows info and above by default: no per-request debug lines
        self.assertNotIn("#debug]", output)
        # what it took (the test asserts nothing about it)
        print(f"README demo through tox: {time.monotonic() - started:.0f} s", file=sys.stderr)

    def test_demo_command(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())
