"""
C{zaqar-listen}'s options from the environment and a TOML file
(L{txzaqar.daemon._config}), as an operator gives them: C{twistd} started
with C{ZAQAR_LISTEN_*} variables and C{--config FILE}, against a real
Zaqar; the precedence (command line over environment over file), the
one-line errors naming the source (exit 64) and C{--check}.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

import txzaqar
from txzaqar.test.helpers.daemon import RECORDING_HANDLER, TWISTD, Daemon
from txzaqar.testing import servers


class ConfigurationCase(unittest.TestCase):
    timeout = 240

    async def setUpZaqar(self, *names: str) -> None:
        self.zaqar = servers.shared_zaqar()
        self.project = f"cfg-{uuid.uuid4().hex[:6]}"
        self.client = txzaqar.connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)
        for name in names:
            await self.client.create_queue(name)
            self.addCleanup(self.client.queue(name).delete)

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-cfg-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        (self.dir / "recording_handler.py").write_text(RECORDING_HANDLER)

    def daemon(self, args: list[str], env: dict[str, str]) -> Daemon:
        daemon = Daemon(self.dir, args, env)
        self.addCleanup(daemon.kill)
        return daemon

    def handled(self) -> list[str]:
        path = self.dir / "handled.txt"
        return path.read_text().splitlines() if path.exists() else []

    def run_twistd(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        environment.update(env)
        return subprocess.run([TWISTD, "-n", "--pidfile=", "zaqar-listen", *args], cwd=self.dir, env=environment,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


class PrecedenceTests(ConfigurationCase):
    async def test_file_environment_command_line(self) -> None:
        """
        The file names Zaqar, the project, a queue and the handler; the
        environment replaces the queue (and the file's batch); the command
        line's --poll-interval wins over both.  The daemon consumes the
        environment's queue only.
        """
        from_file, from_env = "from-file", "from-env"
        await self.setUpZaqar(from_file, from_env)
        (self.dir / "listen.toml").write_text(
            f'url = "{self.zaqar.url}"\nproject-id = "{self.project}"\nqueue = ["{from_file}"]\n'
            'handler = "recording_handler:handle"\nthreads = 2\nbatch = 2\npoll-interval = 5\n'
            'max-interval = 5\n')
        await self.client.queue(from_file).post({"body": "file"})
        await self.client.queue(from_env).post({"body": "env"})
        daemon = self.daemon(["--config", "listen.toml", "--poll-interval", "0.2", "--max-interval", "1"],
                             {"ZAQAR_LISTEN_QUEUE": from_env, "ZAQAR_LISTEN_BATCH": "20"})
        await daemon.wait_for(lambda: self.handled(), 60, "the environment's queue to be consumed")
        self.assertIn(f"subscriber started on ['{from_env}']", daemon.log())
        self.assertIn(await daemon.terminate(), (0, -15))  # twistd may re-raise SIGTERM
        self.assertEqual(self.handled(), [f"{from_env} env"])
        self.assertNotIn("Traceback", daemon.log())

    async def test_environment_alone(self) -> None:
        """No command-line option at all: everything from ZAQAR_LISTEN_* (a container's way)."""
        await self.setUpZaqar("env-only")
        await self.client.queue("env-only").post({"body": 7})
        daemon = self.daemon([], {
            "ZAQAR_LISTEN_URL": self.zaqar.url, "ZAQAR_LISTEN_PROJECT_ID": self.project,
            "ZAQAR_LISTEN_QUEUE": "env-only", "ZAQAR_LISTEN_HANDLER": "recording_handler:handle",
            "ZAQAR_LISTEN_POLL_INTERVAL": "0.2"})
        await daemon.wait_for(lambda: self.handled(), 60, "the message to be handled")
        self.assertIn(await daemon.terminate(), (0, -15))  # twistd may re-raise SIGTERM
        self.assertEqual(self.handled(), ["env-only 7"])


class ErrorTests(ConfigurationCase):
    async def test_variable_named(self) -> None:
        done = await deferToThread(self.run_twistd, ["--url", "http://127.0.0.1:1", "--project-id", "p",
                                                     "--queue", "q"], {"ZAQAR_LISTEN_BATCH": "0"})
        self.assertEqual(done.returncode, 64, done.stderr)
        self.assertEqual(done.stderr.splitlines()[0],
                         "zaqar-listen: ZAQAR_LISTEN_BATCH: --batch must be from 1 to 20, not 0")

    async def test_file_and_key_named(self) -> None:
        (self.dir / "config.toml").write_text('queue = "q"\nclaim-ttl = 5\n')
        done = await deferToThread(self.run_twistd, ["--config", "config.toml", "--url", "http://127.0.0.1:1",
                                                     "--project-id", "p"], {})
        self.assertEqual(done.returncode, 64, done.stderr)
        self.assertEqual(done.stderr.splitlines()[0],
                         "zaqar-listen: config.toml: claim-ttl: --claim-ttl must be from 60 to 43200, not 5")


class CheckTests(ConfigurationCase):
    async def test_check_with_file_and_environment(self) -> None:
        """--check from ZAQAR_LISTEN_CHECK, the rest from the file: its lines say where options came from."""
        await self.setUpZaqar("checked")
        (self.dir / "config.toml").write_text(f'url = "{self.zaqar.url}"\nqueue = "checked"\n')
        done = await deferToThread(self.run_twistd, [], {
            "ZAQAR_LISTEN_CONFIG": "config.toml", "ZAQAR_LISTEN_PROJECT_ID": self.project,
            "ZAQAR_LISTEN_CHECK": "1"})
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        lines = done.stdout.splitlines()
        self.assertEqual(lines[:2], [
            "ok   options: --queue checked",
            "ok   configuration read (the command line wins): environment: ZAQAR_LISTEN_CHECK, "
            "ZAQAR_LISTEN_PROJECT_ID; config.toml: queue, url",
        ])
        self.assertIn("ok   queue checked exists", lines)
