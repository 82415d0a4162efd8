"""
The Subscriber and C{twistd zaqar-listen} against a real Zaqar server
(started once per test process by L{txzaqar.testing.servers.shared_zaqar},
or C{$TXZAQAR_ZAQAR_URL}).

No fixed sleeps: every wait polls a condition, with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from txzaqar import connect
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.daemon import spawn_twistd
from txzaqar.test.helpers.recording import DELAY_ENV, RECORD_ENV, read_record
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing.servers import shared_zaqar


class FirstTimeFailure(Exception):
    pass


class RealSubscriberTests(unittest.TestCase):
    timeout = 600

    def setUp(self) -> None:
        self.zaqar = shared_zaqar()
        self.project = f"txzaqar-sub-{uuid.uuid4().hex[:8]}"
        self.client = connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)

    def queue_name(self) -> str:
        name = f"sub-{uuid.uuid4().hex[:12]}"
        self.addCleanup(lambda: self.client.queue(name).delete())
        return name

    def subscriber(self, **kw: Any) -> Subscriber:
        client = connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        kw.setdefault("close_client", True)  # the client is the Subscriber's alone
        sub = Subscriber(client, clock=reactor, **kw)
        self.addCleanup(lambda: sub.stopService() if sub.running else client.close())
        return sub

    async def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        await wait_until(condition, what, timeout, 0.05)

    async def assert_empty(self, name: str) -> None:
        stats = await self.client.queue(name).stats()
        self.assertEqual((stats.total, stats.claimed, stats.free), (0, 0, 0), name)

    async def post(self, name: str, count: int, tag: str = "") -> list[str]:
        return await self.client.queue(name).post([{"body": {"n": i, "tag": tag}} for i in range(count)])

    async def test_1000_messages_across_3_queues(self) -> None:
        names = [self.queue_name() for _ in range(3)]
        posted: dict[str, set[str]] = {}
        for name, count in zip(names, (334, 333, 333), strict=True):
            posted[name] = set(await self.post(name, count))
        seen: dict[str, list[str]] = {name: [] for name in names}

        async def callback(message: Any) -> None:
            seen[message.queue.name].append(message.id)

        sub = self.subscriber(batch=20, concurrency=30, poll_interval=0.2, max_interval=1)
        for name in names:
            sub.subscribe(name, callback)
        started = time.monotonic()
        sub.startService()
        await self.wait_for(lambda: sum(len(v) for v in seen.values()) >= 1000, 240, "1000 callbacks")
        await sub.stopService()
        elapsed = time.monotonic() - started
        for name in names:
            self.assertEqual(Counter(seen[name]), Counter(posted[name]), name)
            await self.assert_empty(name)
        self.assertEqual(sub.stats["processed"], 1000)
        self.assertEqual(sub.stats["acked"], 1000)
        self.assertEqual(sub.stats["failed"], 0)
        print(f"\n  1000 messages over 3 queues in {elapsed:.1f}s", file=sys.stderr)

    async def test_failing_first_time(self) -> None:
        """A callback failing the first time for each message still sees every message processed."""
        name = self.queue_name()
        ids = set(await self.post(name, 100))
        attempts: Counter[str] = Counter()
        processed: set[str] = set()

        def callback(message: Any) -> None:
            attempts[message.id] += 1
            if attempts[message.id] == 1:
                raise FirstTimeFailure(message.id)
            processed.add(message.id)

        # a claim ttl of 600 s: redelivery within the test can only come
        # from releasing claims, not from their expiry
        sub = self.subscriber(batch=10, concurrency=20, claim_ttl=600, poll_interval=0.2, max_interval=1)
        sub.subscribe(name, callback)
        sub.startService()
        await self.wait_for(lambda: processed >= ids, 120, "every message processed")
        await sub.stopService()
        self.assertEqual(processed, ids)
        self.assertTrue(all(attempts[i] >= 2 for i in ids))
        self.assertEqual(sub.stats["failed"], len([i for i in ids]))
        self.assertGreaterEqual(sub.stats["released"], 100)
        self.assertEqual(len(self.flushLoggedErrors(FirstTimeFailure)), 100)
        await self.assert_empty(name)

    async def test_dead_letter_queue(self) -> None:
        """
        With max_claim_count and a dead-letter queue, a poison message ends
        up there (max_claim_count=1: the failed claim is released, and the
        next claim attempt moves it; a repeat failure would wait for its
        claim to expire, at least 60 s).
        """
        name, dead = self.queue_name(), self.queue_name()
        [poison] = await self.post(name, 1, "poison")
        await self.client.queue(dead).delete()  # the subscriber creates it
        calls: list[str] = []

        def callback(message: Any) -> None:
            calls.append(message.id)
            raise FirstTimeFailure(message.id)

        sub = self.subscriber(claim_ttl=60, poll_interval=0.1, max_interval=0.5)
        sub.subscribe(name, callback, dead_letter_queue=dead, max_claim_count=1)
        sub.startService()
        await self.wait_for(lambda: len(calls) >= 1, 60, "a delivery")

        async def moved() -> bool:
            return bool((await self.client.queue(dead).stats()).total)

        deadline = time.monotonic() + 60
        while not await moved():
            self.assertLess(time.monotonic(), deadline, "message never moved to the dead-letter queue")
            await deferLater(reactor, 0.2, lambda: None)
        await sub.stopService()
        self.assertEqual(calls, [poison])
        self.assertEqual(len(self.flushLoggedErrors(FirstTimeFailure)), 1)
        await self.assert_empty(name)
        [moved_message] = await self.client.queue(dead).messages(include_claimed=True)
        self.assertEqual(moved_message.id, poison)


class _TwistdBase(unittest.TestCase):
    """Runs real C{twistd -n zaqar-listen} processes (helpers, no tests)."""

    timeout = 600

    def setUp(self) -> None:
        self.zaqar = shared_zaqar()
        self.project = f"txzaqar-tap-{uuid.uuid4().hex[:8]}"
        self.client = connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)
        self.setUpDirectory()

    def connection_args(self) -> list[str]:
        """How the daemon finds and authenticates to Zaqar."""
        return ["--url", self.zaqar.url, "--project-id", self.project]

    def connection_env(self) -> dict[str, str]:
        return {}

    def setUpDirectory(self) -> None:
        self.dir = Path(self.mktemp()).resolve()
        self.dir.mkdir(parents=True)
        self.record_file = self.dir / "record.txt"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.addCleanup(self.kill_all)

    def queue_name(self) -> str:
        name = f"tap-{uuid.uuid4().hex[:12]}"
        self.addCleanup(lambda: self.client.queue(name).delete())
        return name

    def kill_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    def spawn(self, queue: str, delay: float = 0, *extra: str) -> subprocess.Popen[bytes]:
        n = len(self.processes)
        env = dict(os.environ)
        env[RECORD_ENV] = str(self.record_file)
        env[DELAY_ENV] = str(delay)
        env.update(self.connection_env())
        args = [
            *self.connection_args(),
            "--queue", queue, "--handler", "txzaqar.test.helpers.recording:record",
            "--poll-interval", "0.2", "--max-interval", "1", *extra,
        ]
        proc, out = spawn_twistd(self.dir, f"twistd-{n}", args, env)
        self.addCleanup(out.close)
        self.processes.append(proc)
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        n = self.processes.index(proc)
        parts = []
        for suffix in ("log", "out"):
            path = self.dir / f"twistd-{n}.{suffix}"
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    async def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        def alive() -> None:
            for proc in self.processes:
                if proc.poll() is not None and not getattr(proc, "expected_exit", False):
                    self.fail(f"twistd exited with {proc.returncode}:\n{self.log_of(proc)[-3000:]}")

        await wait_until(condition, what, timeout, 0.1, alive=alive,
                         details=lambda: "\n".join(self.log_of(p)[-1500:] for p in self.processes))

    async def terminate(self, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
        proc.expected_exit = True  # type: ignore[attr-defined]
        proc.send_signal(signal.SIGTERM)
        await self.wait_for(lambda: proc.poll() is not None, timeout, "twistd to exit after SIGTERM")
        log = self.log_of(proc)
        self.assertIn(proc.returncode, (0, -signal.SIGTERM), log[-3000:])
        self.assertIn("subscriber stopped", log)
        self.assertNotIn("Traceback", log, log[-3000:])

    def done(self) -> list[list[str]]:
        return [r for r in read_record(self.record_file) if r[0] == "done"]


class TwistdTests(_TwistdBase):
    """Real C{twistd -n zaqar-listen} processes on a noauth Zaqar."""

    async def test_three_listeners_share_a_queue(self) -> None:
        """3,000 messages, three daemons: every message processed once."""
        name = self.queue_name()
        ids = set(await self.client.queue(name).post([{"body": i} for i in range(3000)]))
        procs = [self.spawn(name, 0, "--batch", "10", "--concurrency", "10") for _ in range(3)]
        started = time.monotonic()
        await self.wait_for(lambda: len(self.done()) >= 3000, 400, "3000 messages processed")
        for proc in procs:
            await self.terminate(proc)
        elapsed = time.monotonic() - started
        done = self.done()
        counts = Counter(r[1] for r in done)
        twice = {i: c for i, c in counts.items() if c > 1}
        self.assertEqual(twice, {}, "messages processed more than once")
        self.assertEqual(set(counts), ids)
        by_pid = Counter(r[2] for r in done)
        self.assertEqual(len(by_pid), 3, f"work per process: {by_pid}")
        stats = await self.client.queue(name).stats()
        self.assertEqual(stats.total, 0)
        print(f"\n  3000 messages, 3 daemons, {elapsed:.1f}s, per pid {sorted(by_pid.values())}",
              file=sys.stderr)

    async def test_sigterm_while_running_then_restart(self) -> None:
        """SIGTERM while callbacks run: they finish and are acked; a restart does the rest."""
        name = self.queue_name()
        ids = set(await self.client.queue(name).post([{"body": i} for i in range(80)]))
        first = self.spawn(name, 1.0, "--batch", "5", "--concurrency", "10")

        def running_now() -> bool:
            records = read_record(self.record_file)
            started = {r[1] for r in records if r[0] == "start"}
            finished = {r[1] for r in records if r[0] == "done"}
            return len(finished) >= 10 and len(started - finished) >= 5

        await self.wait_for(running_now, 120, "callbacks in flight")
        records = read_record(self.record_file)
        in_flight = {r[1] for r in records if r[0] == "start"} - {r[1] for r in records if r[0] == "done"}
        await self.terminate(first)
        after_stop = {r[1] for r in self.done()}
        self.assertLessEqual(in_flight, after_stop, "callbacks running at SIGTERM did not finish")
        self.assertLess(len(after_stop), len(ids), "everything was done before SIGTERM")
        # nothing of the first daemon is still claimed: a restart gets it all at once
        stats = await self.client.queue(name).stats()
        self.assertEqual(stats.claimed, 0)
        self.assertEqual(stats.free, len(ids) - len(after_stop))

        second = self.spawn(name, 0.05, "--batch", "5", "--concurrency", "10")
        await self.wait_for(lambda: {r[1] for r in self.done()} >= ids, 120, "every message processed")
        await self.terminate(second)
        counts = Counter(r[1] for r in self.done())
        self.assertEqual(set(counts), ids)
        self.assertEqual({i: c for i, c in counts.items() if c > 1}, {})
        stats = await self.client.queue(name).stats()
        self.assertEqual(stats.total, 0)


class KeystoneTwistdTests(_TwistdBase):
    """
    C{twistd zaqar-listen} against the real Keystone stack: credentials from
    C{OS_*} variables, the password from C{--os-password-file}, Zaqar's
    endpoint from the catalog (no C{--url}).
    """

    def setUp(self) -> None:
        from txzaqar.testing.servers import shared_keystone_stack

        self.stack = shared_keystone_stack()
        self.user = self.stack.credentials.user("demo")
        auth_url = self.stack.keystone.url
        auth: dict[str, Any] = self.user.auth_kwargs(auth_url)
        self.client = connect(reactor=reactor, **auth)
        self.addCleanup(self.client.close)
        self.setUpDirectory()
        self.password_file = self.dir / "password"
        self.password_file.write_text(self.user.password + "\n")
        env = self.user.os_env(auth_url)
        del env["OS_PASSWORD"]
        self.env = env

    def connection_args(self) -> list[str]:
        return ["--os-password-file", str(self.password_file), "--os-interface", "public"]

    def connection_env(self) -> dict[str, str]:
        env = dict(self.env)
        for name in list(os.environ):
            if name.startswith("OS_") and name not in env:
                env[name] = ""  # nothing of the caller's cloud leaks in
        return env

    async def test_keystone_daemon_delivers(self) -> None:
        name = self.queue_name()
        ids = set(await self.client.queue(name).post([{"body": i} for i in range(50)]))
        proc = self.spawn(name, 0, "--batch", "10")
        await self.wait_for(lambda: {r[1] for r in self.done()} >= ids, 120, "every message processed")
        await self.terminate(proc)
        self.assertEqual((await self.client.queue(name).stats()).total, 0)
        log = self.log_of(proc)
        self.assertNotIn(self.user.password, log)
        # the daemon's own token is not known here; every Fernet token starts so
        auth_headers = await self.client.connection.authenticator.headers()
        self.assertTrue(auth_headers["X-Auth-Token"].startswith("gAAAAA"))
        self.assertNotIn("gAAAAA", log)
