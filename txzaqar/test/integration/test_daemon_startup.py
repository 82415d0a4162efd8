"""
C{zaqar-listen}'s start-up against real servers, as an operator meets it:
permanent mistakes end the process with one line naming the option to fix
and a documented exit status; outages (a DNS failure included) do not;
C{--check} prints one line per check and exits without consuming.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

import txzaqar
from txzaqar.test import readme
from txzaqar.test.helpers.daemon import TWISTD, Daemon, status_of
from txzaqar.testing import servers


class StartupCase(unittest.TestCase):
    timeout = 240

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-start-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def daemon(self, args: list[str], env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon(self.dir / f"d{uuid.uuid4().hex[:6]}", args, env)
        self.addCleanup(daemon.kill)
        return daemon

    async def ends(self, args: list[str], status: int, option: str, env: dict[str, str] | None = None) -> str:
        """The daemon ends with C{status} and one critical line naming C{option}; its log."""
        daemon = self.daemon(args, env)
        await daemon.wait_for(lambda: daemon.exited, 120, "the daemon to give up", may_exit=True)
        log = daemon.log()
        self.assertEqual(daemon.process.returncode, status, log[-3000:])
        serious = daemon.lines("critical") + daemon.lines("error")
        self.assertEqual(len(serious), 1, log[-3000:])
        self.assertIn("cannot start: ", serious[0])
        self.assertIn(option, serious[0])
        self.assertNotIn("Traceback", log)
        self.assertNotIn("subscriber started", log)
        return log


class PermanentMistakeTests(StartupCase):
    async def test_url_with_the_api_path(self) -> None:
        """C{--url http://host:port/v2}: no Zaqar API there; exit 78 naming --url."""
        zaqar = servers.shared_zaqar()
        await self.ends(["--url", zaqar.url + "/v2", "--project-id", "ops", "--queue", "jobs"], 78, "--url")

    async def test_certificate_that_does_not_verify(self) -> None:
        """A TLS Zaqar whose CA is not given: exit 78 naming --cacert, not an outage retried for ever."""
        zaqar = servers.shared_tls_zaqar()
        log = await self.ends(["--url", zaqar.url, "--project-id", "ops", "--queue", "jobs"], 78, "--cacert")
        self.assertIn("CertificateVerificationFailed", log)

    async def test_region_without_zaqar(self) -> None:
        """
        Keystone accepts the credentials, but its catalog has no Zaqar in
        region Mars: exit 78 naming --os-region-name (not "Keystone refused them").
        """
        stack = servers.shared_keystone_stack()
        user = stack.credentials.user("demo")
        env = user.os_env(stack.keystone.url)
        password = self.dir / "password"
        password.write_text(env.pop("OS_PASSWORD") + "\n")
        log = await self.ends(["--os-password-file", str(password), "--os-region-name", "Mars",
                               "--queue", "jobs"], 78, "--os-region-name", env)
        self.assertNotIn("refused", log)
        self.assertNotIn(user.password, log)


class OutageAtStartTests(StartupCase):
    async def test_unresolvable_host_starts_and_says_why(self) -> None:
        """
        A host that does not resolve is an outage by choice: one warning
        naming the lookup failure, the daemon runs, /readyz says why.
        """
        metrics = servers.free_port()
        daemon = self.daemon(["--url", "http://no-such-host.invalid:8888", "--project-id", "ops",
                              "--queue", "jobs", "--max-interval", "2",
                              "--metrics", f"tcp:{metrics}:interface=127.0.0.1"])
        def warnings() -> list[str]:
            return [ln for ln in daemon.lines("warn") if "not reachable yet" in ln]

        # not just "Name lookup failed": the backlog refresher's first read may say it first
        await daemon.wait_for(lambda: bool(warnings()), 60, "the start-up warning")
        [warning] = warnings()
        self.assertIn("Name lookup failed", warning)
        self.assertIn("no-such-host.invalid", warning)
        await daemon.wait_for(lambda: "subscriber started" in daemon.log(), 30, "the subscriber to start")
        self.assertEqual(await deferToThread(status_of, f"http://127.0.0.1:{metrics}/readyz"), 503)
        self.assertFalse(daemon.exited)
        await daemon.terminate()
        self.assertNotIn("Traceback", daemon.log())
        self.assertEqual(daemon.lines("critical"), [])

    async def test_missing_queue_is_one_warning(self) -> None:
        """A --queue that does not exist (a typo): one warning naming it, and it runs."""
        zaqar = servers.shared_zaqar()
        client = txzaqar.connect(zaqar.url, project_id="ops-start", reactor=reactor)
        self.addCleanup(client.close)
        real = f"orders-{uuid.uuid4().hex[:8]}"
        await client.create_queue(real)
        self.addCleanup(lambda: client.queue(real).delete())
        typo = "ordres-" + real[len("orders-"):]
        daemon = self.daemon(["--url", zaqar.url, "--project-id", "ops-start", "--queue", real, "--queue", typo])
        await daemon.wait_for(lambda: "subscriber started" in daemon.log(), 60, "the subscriber to start")
        warnings = [ln for ln in daemon.lines("warn") if "does not exist" in ln]
        self.assertEqual(len(warnings), 1, daemon.log()[-2000:])
        self.assertIn(f"queue {typo} does not exist", warnings[0])
        await daemon.terminate()


class CheckModeTests(StartupCase):
    def check(self, args: list[str]) -> tuple[int, list[str]]:
        """C{twistd -n --pidfile= zaqar-listen --check ARGS}: the status and the lines on stdout."""
        done = subprocess.run([TWISTD, "-n", "--pidfile=", "zaqar-listen", "--check", *args],
                              cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout.splitlines()

    async def test_all_well(self) -> None:
        zaqar = servers.shared_zaqar()
        client = txzaqar.connect(zaqar.url, project_id="ops-check", reactor=reactor)
        self.addCleanup(client.close)
        name = f"checked-{uuid.uuid4().hex[:8]}"
        queue = await client.create_queue(name)
        self.addCleanup(queue.delete)
        await queue.post({"body": "still here"})
        code, lines = await deferToThread(self.check, ["--url", zaqar.url, "--project-id", "ops-check",
                                                       "--queue", name])
        self.assertEqual(code, 0, lines)
        self.assertEqual(lines, [
            f"ok   options: --queue {name}",
            "ok   no --handler: each message would be logged as one JSON line",
            f"ok   Zaqar answers at {zaqar.url}, with these credentials",
            f"ok   queue {name} exists",
        ])
        stats: Any = await queue.stats()
        self.assertEqual((stats.total, stats.claimed), (1, 0))  # nothing consumed, nothing claimed

    async def test_failures_and_their_statuses(self) -> None:
        zaqar = servers.shared_zaqar()
        for url, status, text in ((zaqar.url + "/v2", 78, "fail no Zaqar v2 API at"),
                                  ("http://no-such-host.invalid:8888", 69, "fail not reachable yet"),
                                  (f"http://127.0.0.1:{servers.free_port()}", 69, "fail not reachable yet")):
            code, lines = await deferToThread(self.check, ["--url", url, "--project-id", "ops-check",
                                                           "--queue", "jobs"])
            self.assertEqual(code, status, lines)
            self.assertTrue(lines[-1].startswith(text), lines)
            self.assertEqual(len(lines), 3, lines)

    async def test_readme_command(self) -> None:
        """The README's C{--check} command, as printed (its URL the real server's), on a queue that exists."""
        block = readme.find_block("Running it in production", "twistd -n --pidfile= zaqar-listen --check")
        [command] = block.commands()
        zaqar = servers.shared_zaqar()
        argv = shlex.split(command.replace("http://127.0.0.1:8888", zaqar.url))
        self.assertEqual(argv[:5], ["twistd", "-n", "--pidfile=", "zaqar-listen", "--check"])
        client = txzaqar.connect(zaqar.url, project_id="demo", reactor=reactor)
        self.addCleanup(client.close)
        await client.create_queue("orders")
        self.addCleanup(lambda: client.queue("orders").delete())
        code, lines = await deferToThread(self.check, argv[5:])
        self.assertEqual(code, 0, lines)
        self.assertEqual([line.split()[0] for line in lines], ["ok"] * 4, lines)

    async def test_usage_error(self) -> None:
        code, lines = await deferToThread(self.check, ["--batch", "99", "--queue", "jobs"])
        self.assertEqual((code, lines), (64, []))
