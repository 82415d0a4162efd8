"""
C{twistd zaqar-listen --callback-timeout} with a blocking handler, as an
operator runs it against a real Zaqar: a handler in a thread that runs
past the timeout is never started again while it still runs, and its
timeout is one clear warning, not a traceback.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

import txzaqar
from txzaqar.errors import ZaqarError
from txzaqar.test.helpers.daemon import Daemon
from txzaqar.testing import servers

#: A plain (blocking) handler, run in a thread: it records each start and
#: end in $TIMEOUT_TEST_RECORD and sleeps 5 s in between (the behaviour
#: under test: past --callback-timeout 2).
SLOW_HANDLER = '''
import os
import time

def _append(line):
    with open(os.environ["TIMEOUT_TEST_RECORD"], "a") as f:
        f.write(line + "\\n")

def handle(message):
    _append(f"start {message.id}")
    time.sleep(5)
    _append(f"done {message.id}")
'''


class CallbackTimeoutTests(unittest.TestCase):
    timeout = 240

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-timeouts-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    async def test_blocking_handler_past_the_timeout_runs_once(self) -> None:
        """
        Two messages, a handler that blocks 5 s, C{--callback-timeout 2}:
        each message starts exactly once (though threads and slots are
        free and the daemon polls every 0.2 s), both are deleted once their
        thread returns, and each timeout is one warning naming the queue,
        the message, the timeout and how long the handler ran; no
        C{Traceback}, no C{TimeoutError}.
        """
        zaqar = servers.shared_zaqar()
        client = txzaqar.connect(zaqar.url, project_id="ops", reactor=reactor)
        self.addCleanup(client.close)
        name = f"timeouts-{uuid.uuid4().hex[:10]}"
        self.addCleanup(lambda: client.queue(name).delete())
        queue = await client.create_queue(name)
        ids = sorted(await queue.post([{"body": n} for n in range(2)]))
        directory = self.dir / "daemon"
        directory.mkdir()
        (directory / "timeout_test_handler.py").write_text(SLOW_HANDLER)
        record = directory / "record"
        daemon = Daemon(directory, ["--url", zaqar.url, "--project-id", "ops", "--queue", name,
                                    "--handler", "timeout_test_handler:handle", "--threads", "4",
                                    "--callback-timeout", "2", "--claim-ttl", "60",
                                    "--poll-interval", "0.2", "--max-interval", "0.5"],
                        {"TIMEOUT_TEST_RECORD": str(record)})
        self.addCleanup(daemon.kill)

        def recorded(kind: str) -> list[str]:
            lines = record.read_text().splitlines() if record.exists() else []
            return sorted(line.split()[1] for line in lines if line.startswith(kind + " "))

        def timeout_lines() -> list[str]:
            return [line for line in daemon.lines("warn") if "ran past callback_timeout" in line]

        await daemon.wait_for(lambda: set(recorded("start")) == set(ids), 60, "both handlers to start")
        await daemon.wait_for(lambda: set(recorded("done")) == set(ids), 60, "both handlers to finish")
        self.assertEqual(recorded("start"), ids, "a message was started twice:\n" + record.read_text())
        await daemon.wait_for(lambda: len(timeout_lines()) == 2, 60, "the two timeout warnings")

        async def empty() -> bool:
            try:
                stats = await queue.stats()
            except ZaqarError:
                return False
            return stats.total == 0

        for _ in range(300):  # a minute
            if await empty():
                break
            await deferLater(reactor, 0.2, lambda: None)
        else:
            self.fail("the messages that succeeded late were not deleted:\n" + daemon.log()[-3000:])
        status = await daemon.terminate()
        log = daemon.log()
        self.assertIn(status, (0, -15), log[-3000:])
        self.assertEqual(recorded("start"), ids, "a message was started twice:\n" + record.read_text())
        for message_id in ids:
            [line] = [line for line in timeout_lines() if message_id in line]
            self.assertIn(f"callback for {message_id} on {name} ran past callback_timeout (2s): "
                          "its thread ran ", line)
            self.assertIn("s and succeeded late; the message was kept claimed until then and is "
                          "deleted", line)
            seconds = float(line.split("its thread ran ")[1].split("s ")[0])
            self.assertGreaterEqual(seconds, 4.5, line)
        self.assertNotIn("Traceback", log)
        self.assertNotIn("TimeoutError", log)
        self.assertEqual(daemon.lines("error") + daemon.lines("critical"), [])
