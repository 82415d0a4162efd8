"""
C{twistd zaqar-listen} as an operator runs it, against real servers:
systemd notifications read from a datagram socket, an outage of Zaqar as
the log shows it, refused credentials at startup, Zaqar down at startup.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

import txzaqar
from txzaqar.test import readme
from txzaqar.test.helpers.daemon import TWISTD, Daemon, status_of
from txzaqar.testing import servers


class DaemonCase(unittest.TestCase):
    timeout = 240

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-ops-"))  # short: a socket path lives here
        self.addCleanup(shutil.rmtree, self.dir, True)

    def daemon(self, args: list[str], env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon(self.dir / f"d{uuid.uuid4().hex[:6]}", args, env)
        self.addCleanup(daemon.kill)
        return daemon

    def queue_names(self, client: Any, count: int) -> list[str]:
        names = [f"ops-{uuid.uuid4().hex[:10]}" for _ in range(count)]
        for name in names:
            self.addCleanup(client.queue(name).delete)
        return names

    def zaqar_not_started(self) -> tuple[Any, str]:
        """A Zaqar on a port of its own, not started yet (C{start()} it), and its URL."""
        port = servers.free_port()
        zaqar = servers.ZaqarServer(servers.shared_redis(), mode="gunicorn", workers=1, port=port)
        self.addCleanup(zaqar.stop)
        return zaqar, f"http://127.0.0.1:{port}"

    def noauth_client(self, url: str) -> Any:
        client = txzaqar.connect(url, project_id="ops", reactor=reactor)
        self.addCleanup(client.close)
        return client


class SystemdTests(DaemonCase):
    async def test_ready_watchdog_stopping(self) -> None:
        """A datagram socket of the test's receives READY=1, WATCHDOG=1, then STOPPING=1."""
        zaqar = servers.shared_zaqar()
        client = self.noauth_client(zaqar.url)
        [name] = self.queue_names(client, 1)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        path = str(self.dir / "notify")
        sock.bind(path)
        sock.setblocking(False)
        got: list[bytes] = []

        def read() -> list[bytes]:
            while True:
                try:
                    got.append(sock.recv(4096))
                except BlockingIOError:
                    return got

        daemon = self.daemon(
            ["--url", zaqar.url, "--project-id", "ops", "--queue", name],
            {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"},
        )
        await daemon.wait_for(lambda: any(m.startswith(b"READY=1") for m in read()), 60, "READY=1")
        await daemon.wait_for(lambda: b"WATCHDOG=1" in read(), 10, "WATCHDOG=1")
        status = await daemon.terminate()
        read()
        self.assertIn(status, (0, -15), daemon.log()[-2000:])
        self.assertEqual([m for m in got if m.startswith(b"READY=1")], [b"READY=1\nSTATUS=listening to 1 queue(s)"])
        self.assertIn(b"STOPPING=1", got)
        self.assertEqual(got.index(b"STOPPING=1"), len(got) - 1 - got[::-1].index(b"STOPPING=1"))
        self.assertNotIn("Traceback", daemon.log())


class OutageTests(DaemonCase):
    async def test_outage_is_one_warning_and_one_recovery_per_queue(self) -> None:
        """
        Zaqar down for 20 s: at info and above, each queue logs one warning
        when it starts failing and one line when it recovers; no error.
        """
        redis = servers.shared_redis()
        zaqar = servers.ZaqarServer(redis, mode="gunicorn", workers=1)
        await deferToThread(zaqar.start)
        self.addCleanup(zaqar.stop)
        client = self.noauth_client(zaqar.url)
        names = self.queue_names(client, 2)
        for name in names:  # they exist: no start-up warning about a missing queue
            await client.create_queue(name)
        daemon = self.daemon([
            "--url", zaqar.url, "--project-id", "ops", "--queue", names[0], "--queue", names[1],
            "--poll-interval", "0.2", "--max-interval", "2",
        ])
        await daemon.wait_for(lambda: "subscriber started" in daemon.log(), 60, "the subscriber to start")
        for name in names:
            await client.queue(name).post({"body": {"before": name}})
        await daemon.wait_for(lambda: daemon.log().count('"before"') == 2, 30, "both messages delivered")

        await deferToThread(zaqar.stop)
        await deferLater(reactor, 20, lambda: None)  # the outage itself, not a wait for something
        zaqar.fixed_port = zaqar.port  # back where the daemon looks
        await deferToThread(zaqar.start)
        await daemon.wait_for(lambda: len([ln for ln in daemon.lines("info") if "recovered after" in ln]) == 2,
                              60, "both queues to recover")
        for name in names:
            await client.queue(name).post({"body": {"after": name}})
        await daemon.wait_for(lambda: daemon.log().count('"after"') == 2, 30, "deliveries after the outage")
        await daemon.terminate()

        for name in names:
            warnings = [ln for ln in daemon.lines("warn") if name in ln]
            recovered = [ln for ln in daemon.lines("info") if name in ln and "recovered after" in ln]
            self.assertEqual(len(warnings), 1, "\n".join(warnings))
            self.assertIn("backing off", warnings[0])
            self.assertEqual(len(recovered), 1, daemon.log()[-3000:])
        self.assertEqual(daemon.lines("error") + daemon.lines("critical"), [])
        self.assertEqual([ln for ln in daemon.lines("info") if "retry" in ln], [])  # retries at debug


class StartupCheckTests(DaemonCase):
    async def test_wrong_password_ends_the_daemon(self) -> None:
        """Keystone refuses the password: exit status 77, one line that says so, no traceback."""
        stack = servers.shared_keystone_stack()
        user = stack.credentials.user("demo")
        env = user.os_env(stack.keystone.url)
        del env["OS_PASSWORD"]
        password = self.dir / "password"
        password.write_text("certainly-not-" + user.password + "\n")
        daemon = self.daemon(["--os-password-file", str(password), "--queue", "never"], env)
        await daemon.wait_for(lambda: daemon.exited, 90, "the daemon to give up", may_exit=True)
        log = daemon.log()
        self.assertEqual(daemon.process.returncode, 77, log[-3000:])
        serious = daemon.lines("critical") + daemon.lines("error")
        self.assertEqual(len(serious), 1, log[-3000:])
        self.assertIn("cannot start", serious[0])
        self.assertIn("AuthenticationFailed", serious[0])
        self.assertNotIn("Traceback", log)
        self.assertNotIn(user.password, log)
        self.assertNotIn("subscriber started", log)

    async def test_zaqar_down_at_start(self) -> None:
        """
        Zaqar not running yet: the daemon stays up, unready (/readyz 503),
        and becomes ready and delivers once Zaqar starts.
        """
        zaqar, url = self.zaqar_not_started()
        name = f"ops-{uuid.uuid4().hex[:10]}"
        metrics = servers.free_port()
        daemon = self.daemon(["--url", url, "--project-id", "ops", "--queue", name,
                              "--poll-interval", "0.2", "--max-interval", "1",
                              "--metrics", f"tcp:{metrics}:interface=127.0.0.1"])
        readyz = f"http://127.0.0.1:{metrics}/readyz"
        await daemon.wait_for(lambda: "not reachable yet" in daemon.log(), 60, "the startup warning")
        self.assertEqual(await deferToThread(status_of, readyz), 503)
        self.assertFalse(daemon.exited)
        await deferToThread(zaqar.start)
        statuses: list[int] = []

        async def ready() -> bool:
            statuses.append(await deferToThread(status_of, readyz))
            return statuses[-1] == 200

        while not await ready():
            self.assertFalse(daemon.exited, daemon.log()[-2000:])
            if len(statuses) > 300:  # a minute
                self.fail(f"/readyz never became ready: {statuses[-5:]}")
            await deferLater(reactor, 0.2, lambda: None)
        client = self.noauth_client(url)
        self.addCleanup(lambda: client.queue(name).delete())
        await client.queue(name).post({"body": {"late": True}})
        await daemon.wait_for(lambda: '"late"' in daemon.log(), 60, "the delivery once Zaqar is up")
        await daemon.terminate()



class JSONLogTests(DaemonCase):
    async def test_json_logs_as_in_readme(self) -> None:
        """
        The README's C{twist --log-format json ...} command, as printed (the
        example URL replaced by the real server's): every line it writes is
        one JSON object, the daemon's events among them.
        """
        block = readme.find_block("Running it in production", "twist --log-format json")
        [command] = block.commands()
        zaqar = servers.shared_zaqar()
        argv = shlex.split(command.replace("http://127.0.0.1:8888", zaqar.url))
        self.assertEqual(argv[0], "twist")
        directory = self.dir / "json"
        directory.mkdir()
        out = open(directory / "out", "wb")
        self.addCleanup(out.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        process = subprocess.Popen([str(Path(TWISTD).parent / "twist"), *argv[1:]], cwd=directory,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: None if process.poll() is not None else process.kill())

        def text() -> str:
            return (directory / "out").read_text(errors="replace")

        deadline = 60.0
        while "subscriber started" not in text():
            self.assertIsNone(process.poll(), text()[-2000:])
            deadline -= 0.1
            self.assertGreater(deadline, 0, text()[-2000:])
            await deferLater(reactor, 0.1, lambda: None)
        process.send_signal(signal.SIGTERM)
        await deferToThread(process.wait, 60)
        lines = [line for line in text().splitlines() if line.strip()]
        events = [json.loads(line) for line in lines]  # each line one JSON object
        self.assertTrue(all(isinstance(e, dict) for e in events))
        self.assertIn("txzaqar.subscriber", {e["logger"] for e in events})  # flat: logger, level, message
        self.assertNotIn("debug", {e["level"] for e in events})
        self.assertIn("subscriber started on ['orders']", {e["message"] for e in events})


#: A handler that records when it starts and ends, and holds its message
#: until the file $SIGNAL_TEST_GO exists.
SIGNAL_HANDLER = '''
import os
from twisted.internet import reactor, task

def _append(line):
    with open(os.environ["SIGNAL_TEST_RECORD"], "a") as f:
        f.write(line + "\\n")

async def handle(message):
    _append(f"start {message.body}")
    while not os.path.exists(os.environ["SIGNAL_TEST_GO"]):
        await task.deferLater(reactor, 0.05, lambda: None)
    _append(f"done {message.body}")
'''


class SignalTests(DaemonCase):
    async def test_hup_usr1_usr2_with_handlers_in_flight(self) -> None:
        """
        SIGHUP, SIGUSR1 and SIGUSR2, each sent while three handlers hold
        their messages: one line each, the process goes on (SIGUSR1 rotates
        twistd's log file, SIGUSR2 names the callbacks in flight), every
        message is then processed once and deleted, and SIGTERM ends it
        cleanly with nothing left claimed.
        """
        zaqar = servers.shared_zaqar()
        client = self.noauth_client(zaqar.url)
        [name] = self.queue_names(client, 1)
        queue = await client.create_queue(name)
        await queue.post([{"body": n} for n in range(3)])
        directory = self.dir / "signals"
        directory.mkdir()
        (directory / "signal_test_handler.py").write_text(SIGNAL_HANDLER)
        record, go = directory / "record", directory / "go"
        daemon = Daemon(directory, ["--url", zaqar.url, "--project-id", "ops", "--queue", name,
                                    "--handler", "signal_test_handler:handle", "--log-level", "info"],
                        {"SIGNAL_TEST_RECORD": str(record), "SIGNAL_TEST_GO": str(go)})
        self.addCleanup(daemon.kill)
        rotated = daemon.log_path.with_name(daemon.log_path.name + ".1")

        def recorded(kind: str) -> list[str]:
            lines = record.read_text().splitlines() if record.exists() else []
            return sorted(line for line in lines if line.startswith(kind))

        def logged() -> str:
            return "\n".join(p.read_text(errors="replace") for p in (rotated, daemon.log_path, daemon.out_path)
                             if p.exists())

        await daemon.wait_for(lambda: len(recorded("start")) == 3, 60, "three handlers in flight")
        for number, line in ((signal.SIGHUP, "SIGHUP: nothing to reload"),
                             (signal.SIGUSR1, "SIGUSR1: the log file was rotated; still running"),
                             (signal.SIGUSR2, "SIGUSR2: 1 queue(s) (" + name + "), 3 callback(s) in flight")):
            daemon.process.send_signal(number)
            await daemon.wait_for(lambda line=line: line in logged(), 30, line)  # type: ignore[misc]
            self.assertFalse(daemon.exited, logged()[-2000:])
        self.assertTrue(rotated.exists())
        self.assertEqual(recorded("done"), [])  # still holding them: nothing was stopped
        go.touch()
        await daemon.wait_for(lambda: len(recorded("done")) == 3, 60, "the three handlers to finish")

        async def empty() -> bool:
            stats = await queue.stats()
            return stats.total == 0

        deadline = 60.0
        while not await empty():
            self.assertGreater(deadline, 0, "the processed messages were not deleted")
            deadline -= 0.2
            await deferLater(reactor, 0.2, lambda: None)
        status = await daemon.terminate()
        self.assertIn(status, (0, -15), logged()[-2000:])
        self.assertEqual(recorded("start"), ["start 0", "start 1", "start 2"])  # each once
        self.assertNotIn("Traceback", logged())


class WatchdogTests(DaemonCase):
    async def test_watchdog_fed_through_an_outage_status_follows(self) -> None:
        """
        A boot while Zaqar is down, for longer than WatchdogSec: WATCHDOG=1
        keeps coming at half WatchdogSec (systemd would otherwise SIGABRT
        and restart the daemon), STATUS= says why it is not ready, and once
        Zaqar starts STATUS= says it listens.
        """
        zaqar, url = self.zaqar_not_started()
        name = f"ops-{uuid.uuid4().hex[:10]}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        path = str(self.dir / "notify")
        sock.bind(path)
        sock.setblocking(False)
        got: list[tuple[float, bytes]] = []

        def read() -> list[bytes]:
            while True:
                try:
                    got.append((time.monotonic(), sock.recv(4096)))
                except BlockingIOError:
                    return [datagram for _, datagram in got]

        watchdog_sec = 6.0
        daemon = self.daemon(["--url", url, "--project-id", "ops", "--queue", name,
                              "--poll-interval", "0.2", "--max-interval", "1"],
                             {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(int(watchdog_sec * 1e6))})

        def not_ready() -> bool:
            return any(d.startswith(b"STATUS=1 queue(s), not ready: ") and b"ConnectionFailed" in d
                       for d in read())

        await daemon.wait_for(not_ready, 90, "a STATUS= saying why it is not ready")
        outage_pings = len([d for d in read() if d == b"WATCHDOG=1"])
        await daemon.wait_for(lambda: len([d for d in read() if d == b"WATCHDOG=1"]) >= outage_pings + 3,
                              60, "three more watchdog pings while Zaqar is down")
        self.assertFalse(daemon.exited)
        await deferToThread(zaqar.start)

        def last_status() -> bytes:
            statuses = [d.split(b"STATUS=", 1)[1] for d in read() if b"STATUS=" in d]
            return statuses[-1] if statuses else b""

        await daemon.wait_for(lambda: last_status() == b"listening to 1 queue(s)", 60,
                              "STATUS= saying it listens once Zaqar is up")
        await daemon.terminate()
        pings = [at for at, datagram in got if datagram == b"WATCHDOG=1"]
        gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
        self.assertLess(max(gaps), watchdog_sec, gaps)
        self.assertNotIn("Traceback", daemon.log())


#: A handler that logs through the standard library, as application code does.
LOGGING_HANDLER = '''
import logging

log = logging.getLogger("app.orders")

def handle(message):
    log.info("handled %s", message.body)
    log.warning("warned %s", message.body)
    try:
        raise ValueError("no such order")
    except ValueError:
        log.exception("failed %s", message.body)
'''


class LoggingTests(DaemonCase):
    async def run_daemon(self, extra: list[str], runner: str = "twistd") -> str:
        """
        A daemon (C{twistd -n} with a log file, or C{twist} writing to
        standard output) with the logging handler, one message delivered;
        what it logged.
        """
        zaqar = servers.shared_zaqar()
        client = self.noauth_client(zaqar.url)
        [name] = self.queue_names(client, 1)
        directory = self.dir / f"logging-{uuid.uuid4().hex[:6]}"
        directory.mkdir()
        (directory / "logging_test_handler.py").write_text(LOGGING_HANDLER)
        args = ["--url", zaqar.url, "--project-id", "ops", "--queue", name,
                "--handler", "logging_test_handler:handle", "--threads", "0", *extra]
        await client.queue(name).post({"body": 7})
        if runner == "twistd":
            daemon = Daemon(directory, args)
            self.addCleanup(daemon.kill)
            await daemon.wait_for(lambda: "failed 7" in daemon.log(), 60, "the handler's last line")
            await daemon.terminate()
            return daemon.log_path.read_text()
        out = open(directory / "out", "wb")
        self.addCleanup(out.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        process = subprocess.Popen([str(Path(TWISTD).parent / "twist"), *runner.split()[1:],
                                    "zaqar-listen", *args], cwd=directory, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: None if process.poll() is not None else process.kill())

        def text() -> str:
            return (directory / "out").read_text(errors="replace")

        deadline = time.monotonic() + 60
        while "failed 7" not in text():
            self.assertIsNone(process.poll(), text()[-2000:])
            self.assertLess(time.monotonic(), deadline, text()[-2000:])
            await deferLater(reactor, 0.1, lambda: None)
        process.send_signal(signal.SIGTERM)
        await deferToThread(process.wait, 60)
        return text()

    async def test_stdlib_records_with_their_logger_name(self) -> None:
        """A handler's C{logging} records reach the log under the logger's name and level."""
        log = await self.run_daemon([])
        self.assertIn("[app.orders#info] handled 7", log)
        self.assertIn("[app.orders#warn] warned 7", log)
        self.assertIn("[app.orders#error] failed 7", log)
        self.assertIn("ValueError: no such order", log)  # the record's exception
        self.assertNotIn("[stderr#", log)

    async def test_log_level_filters_stdlib_records(self) -> None:
        log = await self.run_daemon(["--log-level", "warn"])
        self.assertNotIn("handled 7", log)
        self.assertIn("[app.orders#warn] warned 7", log)

    async def test_json_under_twistd(self) -> None:
        """C{--log-format json}: every line one flat object; the handler's records among them."""
        log = await self.run_daemon(["--log-format", "json"])
        events = [json.loads(line) for line in log.splitlines()]
        for event in events:
            self.assertTrue(event["time"].endswith("Z"), event)
            self.assertIn(event["level"], ("info", "warn", "error", "critical"), event)
            self.assertIsInstance(event["message"], str)
        by_message = {e["message"]: e for e in events}
        self.assertEqual(by_message["handled 7"]["logger"], "app.orders")
        self.assertIn("ValueError: no such order", by_message["failed 7"]["exception"])
        self.assertIn("txzaqar.subscriber", {e["logger"] for e in events})

    async def test_twist_json_and_log_level(self) -> None:
        """
        Under C{twist --log-format json} the lines are the same flat JSON,
        and zaqar-listen's own C{--log-level} is honoured (debug here).
        """
        log = await self.run_daemon(["--log-level", "debug"], runner="twist --log-format json")
        events = [json.loads(line) for line in log.splitlines() if line.strip()]
        self.assertIn("debug", {e["level"] for e in events})
        self.assertIn("handled 7", {e["message"] for e in events})
