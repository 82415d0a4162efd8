"""
Blocking handlers never block the reactor: C{twistd zaqar-listen} with a
plain handler that blocks (C{time.sleep}), against a real Zaqar server
(L{txzaqar.testing.servers.shared_zaqar}, or C{$TXZAQAR_ZAQAR_URL}).

The handler module is written into the daemon's directory; each call
records its queue, message id, claim id and the thread it ran on.
No fixed sleeps in the test itself: every wait polls a condition.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from txzaqar import connect
from txzaqar.test.helpers.daemon import spawn_twistd
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing.servers import shared_zaqar

HANDLER = '''\
import os
import threading
import time


def handle(message):
    """Block for $BLOCKING_SLEEP seconds, then record the call."""
    time.sleep(float(os.environ["BLOCKING_SLEEP"]))
    thread = threading.current_thread()
    where = "reactor" if thread is threading.main_thread() else "worker"
    line = f"{message.queue.name} {message.id} {message.claim_id} {where} {thread.name}\\n"
    fd = os.open(os.environ["BLOCKING_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
'''


#: The fewest messages a busy queue keeps while another queue waits to be
#: served: over 2 s of work at the most 8 threads blocking 0.1 s can do.
BUSY_BACKLOG = 200


class BlockingHandlerTests(unittest.TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.zaqar = shared_zaqar()
        self.project = f"txzaqar-block-{uuid.uuid4().hex[:8]}"
        self.client = connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)
        self.dir = Path(self.mktemp()).resolve()
        self.dir.mkdir(parents=True)
        (self.dir / "blocking_handler.py").write_text(HANDLER)
        self.record_file = self.dir / "record.txt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.addCleanup(self.kill)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def queue_name(self) -> str:
        name = f"block-{uuid.uuid4().hex[:12]}"
        self.addCleanup(lambda: self.client.queue(name).delete())
        return name

    def spawn(self, queues: list[str], sleep: float, *extra: str) -> None:
        env = dict(os.environ)
        env["BLOCKING_RECORD"] = str(self.record_file)
        env["BLOCKING_SLEEP"] = str(sleep)
        queue_args = [arg for name in queues for arg in ("--queue", name)]
        args = [
            "--url", self.zaqar.url, "--project-id", self.project, *queue_args,
            "--handler", "blocking_handler:handle", "--poll-interval", "0.2", "--max-interval", "1",
            *extra,
        ]
        self.proc, out = spawn_twistd(self.dir, "twistd", args, env)
        self.addCleanup(out.close)

    def log(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in (self.dir / "twistd.log", self.dir / "twistd.out") if path.exists()
        )

    def records(self) -> list[list[str]]:
        try:
            text = self.record_file.read_text()
        except FileNotFoundError:
            return []
        # whole lines only: a line being written may be seen in part
        return [line.split() for line in text.split("\n")[:-1] if len(line.split()) == 5]

    async def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        def alive() -> None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                self.fail(f"twistd exited with {self.proc.returncode}:\n{self.log()[-3000:]}")

        await wait_until(condition, what, timeout, 0.1, alive=alive, details=lambda: self.log()[-3000:])

    async def terminate(self) -> str:
        assert self.proc is not None
        proc = self.proc
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 90
        while proc.poll() is None:
            self.assertLess(time.monotonic(), deadline, "twistd did not exit after SIGTERM")
            await deferLater(reactor, 0.1, lambda: None)
        log = self.log()
        self.assertIn(proc.returncode, (0, -signal.SIGTERM), log[-3000:])
        self.assertIn("subscriber stopped", log)
        self.assertNotIn("Traceback", log, log[-3000:])
        return log

    async def post(self, name: str, count: int) -> set[str]:
        ids: set[str] = set()
        for start in range(0, count, 20):  # at most 20 messages per post
            n = min(20, count - start)
            ids.update(await self.client.queue(name).post([{"body": start + i} for i in range(n)]))
        return ids

    async def keep_busy_until_served(self, busy: list[str], other: str, posted: dict[str, set[str]]) -> None:
        """
        Until C{other}'s messages are all processed, top up each C{busy}
        queue whenever fewer than L{BUSY_BACKLOG} of its messages are left,
        so that C{other} must be served while they still have work, however
        fast this machine drains them (a queue left waiting for a slot
        behind them fails the wait).
        """
        def done(name: str) -> int:
            return sum(1 for r in self.records() if r[0] == name)

        deadline = time.monotonic() + 180
        while done(other) < len(posted[other]):
            assert self.proc is not None
            if self.proc.poll() is not None:
                self.fail(f"twistd exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            self.assertLess(time.monotonic(), deadline,
                            f"{other} not served while the busy queues had work\n{self.log()[-3000:]}")
            for name in busy:
                if len(posted[name]) - done(name) < BUSY_BACKLOG:
                    posted[name] |= await self.post(name, 100)
            await deferLater(reactor, 0.1, lambda: None)

    async def test_blocking_handler_in_threads(self) -> None:
        """
        --threads 8: 500 messages (or more) over 2 queues, each handler
        blocking 0.1 s, are processed exactly once, in pool threads (never
        on the reactor thread: there every claim of 8 would stall the daemon
        for 0.8 s), while a third queue's messages, posted meanwhile, are
        delivered before the two busy queues are drained (they are topped
        up until then, so this does not hang on how fast they drain); no message is
        delivered a second time, failed or was released (Zaqar's minimum
        claim ttl is 60 s, too long for a claim to expire in this test:
        where the handler runs is what tells the reactor thread was free).
        """
        busy = [self.queue_name(), self.queue_name()]
        other = self.queue_name()
        posted = {busy[0]: await self.post(busy[0], 250), busy[1]: await self.post(busy[1], 250)}
        self.spawn([*busy, other], 0.1, "--threads", "8", "--concurrency", "8", "--batch", "8",
                   "--claim-ttl", "60")

        def busy_done() -> int:
            return sum(1 for r in self.records() if r[0] in busy)

        await self.wait_for(lambda: busy_done() >= 80, 120, "80 busy messages processed")
        posted[other] = await self.post(other, 10)
        await self.keep_busy_until_served(busy, other, posted)
        total = sum(len(ids) for ids in posted.values())
        await self.wait_for(lambda: len(self.records()) >= total, 180, f"{total} messages processed")
        log = await self.terminate()
        records = self.records()
        for name, ids in posted.items():
            counts = Counter(r[1] for r in records if r[0] == name)
            self.assertEqual({i: c for i, c in counts.items() if c > 1}, {}, f"{name}: twice")
            self.assertEqual(set(counts), ids, name)
            self.assertEqual((await self.client.queue(name).stats()).total, 0, name)
        self.assertEqual(len(records), total)
        # Zaqar's claims say no claim_count: the daemon's own counters at
        # its stop tell that nothing failed, was released or left to expire
        stats = re.search(r"subscriber stopped: (\{.*\})", log)
        assert stats is not None, log[-3000:]
        counters = ast.literal_eval(stats.group(1))
        self.assertEqual(
            {k: counters[k] for k in ("processed", "acked", "failed", "timed_out", "released",
                                      "left_to_expire", "renew_failed", "ack_failed")},
            {"processed": total, "acked": total, "failed": 0, "timed_out": 0, "released": 0,
             "left_to_expire": 0, "renew_failed": 0, "ack_failed": 0},
        )
        self.assertEqual({r[3] for r in records}, {"worker"}, "a handler ran on the reactor thread")
        threads = {r[4] for r in records}
        self.assertLessEqual(len(threads), 8, threads)
        self.assertTrue(all(t.startswith("PoolThread-txzaqar-subscriber-") for t in threads), threads)
        # the other queue was served while the busy ones still had work
        # (kept so by keep_busy_until_served, however fast they drain)
        last_other = max(i for i, r in enumerate(records) if r[0] == other)
        last_busy = max(i for i, r in enumerate(records) if r[0] in busy)
        self.assertLess(last_other, last_busy, "the other queue waited for the busy ones")
        self.assertNotIn("held the reactor thread", log)

    async def test_blocking_handler_on_the_reactor_thread(self) -> None:
        """--threads 0: the handler runs on the reactor thread, and the daemon warns once."""
        name = self.queue_name()
        ids = await self.post(name, 20)
        self.spawn([name], 0.15, "--threads", "0", "--batch", "5")
        await self.wait_for(lambda: len(self.records()) >= 20, 120, "20 messages processed")
        log = await self.terminate()
        records = self.records()
        self.assertEqual(Counter(r[1] for r in records), Counter(ids))
        self.assertEqual({r[3] for r in records}, {"reactor"})
        warning = f"{name}: a callback held the reactor thread for "
        self.assertEqual(log.count(warning), 1, log[-3000:])
        self.assertIn("run blocking handlers in threads: Subscriber(threads=N) or twistd "
                      "zaqar-listen --threads N", log)
