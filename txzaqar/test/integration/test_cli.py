"""
C{txzaqar}, the command line, as a user types it: subprocesses against a
real Zaqar, one test per command family (each process costs about a second).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from twisted.trial import unittest

from txzaqar.test import readme
from txzaqar.testing import servers


def txzaqar(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run C{python -m txzaqar.cli ARGS} and wait for it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "txzaqar.cli", *args], input=stdin, capture_output=True,
                          text=True, env=environ, timeout=60)


def lines(result: subprocess.CompletedProcess[str]) -> list[Any]:
    """The JSON objects printed, one a line."""
    return [json.loads(line) for line in result.stdout.splitlines()]


class Started:
    """C{python -m txzaqar.cli ARGS} running (a command that keeps going: C{tail -f}), its lines read by a thread."""

    def __init__(self, *args: str) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        self.process = subprocess.Popen([sys.executable, "-m", "txzaqar.cli", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=environ)
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")

    def lines(self, count: int, within: float = 30.0) -> list[Any]:
        """The next C{count} JSON lines printed, or an C{AssertionError} after C{within} seconds."""
        found: list[Any] = []
        deadline = time.monotonic() + within
        while len(found) < count:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"{len(found)} of {count} lines within {within}s: {found}") from None
            if not line:
                raise AssertionError(f"ended after {found}")
            found.append(json.loads(line))
        return found

    def terminated(self, signal_number: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Signal it (SIGTERM); its exit status, what else it printed, and its standard error."""
        self.process.send_signal(signal_number)
        assert self.process.stderr is not None
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        rest = []
        while not self._lines.empty():
            rest.append(self._lines.get())
        return self.process.returncode, "".join(rest), self.process.stderr.read()


class CLICase(unittest.TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.zaqar = servers.shared_zaqar()
        self.project = f"cli-{uuid.uuid4().hex[:8]}"
        self.connection = ["--url", self.zaqar.url, "--project-id", self.project, "--format", "json"]

    def ok(self, *args: str, stdin: str = "") -> list[Any]:
        result = txzaqar(*self.connection, *args, stdin=stdin)
        self.assertEqual((result.returncode, result.stderr), (0, ""), result)
        return lines(result)

    def fails(self, status: int, *args: str, connection: list[str] | None = None) -> str:
        result = txzaqar(*(self.connection if connection is None else connection), *args)
        self.assertEqual(result.returncode, status, result)
        self.assertEqual(result.stdout, "")
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertTrue(result.stderr.startswith("txzaqar: "), result.stderr)
        return result.stderr


class FrameTests(CLICase):
    def test_frame(self) -> None:
        """Ping answers; usage mistakes exit 64, a server away 69, each with one line on stderr; --help per command."""
        self.assertEqual(self.ok("ping"), [{"ping": "ok", "url": self.zaqar.url}])
        self.assertIn("resources", self.ok("homedoc")[0])
        self.assertIn("--url", self.fails(64, "ping", connection=["--project-id", "p"]))
        self.assertIn("give a command", self.fails(64, "queue"))
        self.assertIn("frobnicate", self.fails(64, "frobnicate"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: connection refused
            self.assertIn("ConnectionFailed", self.fails(69, "ping", connection=[
                "--url", f"http://127.0.0.1:{port}", "--project-id", "p"]))
        result = txzaqar("queue", "create", "--help")
        self.assertEqual(result.returncode, 0, result)
        self.assertIn("--metadata", result.stdout)


class QueueTests(CLICase):
    def test_queues(self) -> None:
        """Create, list, set and get metadata, stats, purge, delete."""
        self.assertEqual(self.ok("queue", "create", "jobs", "--metadata", '{"team": "a"}'),
                         [{"name": "jobs", "created": True}])
        self.assertEqual(self.ok("queue", "list"), [{"name": "jobs"}])
        self.ok("queue", "set-metadata", "jobs", '{"team": "b"}')
        self.assertEqual(self.ok("queue", "metadata", "jobs")[0]["team"], "b")
        self.assertEqual(self.ok("queue", "stats", "jobs")[0]["total"], 0)
        signed = self.ok("queue", "signed-url", "jobs", "--paths", "messages", "--methods", "GET")[0]
        self.assertEqual((signed["paths"], signed["methods"]), (["/v2/queues/jobs/messages"], ["GET"]))
        self.ok("queue", "purge", "jobs")
        self.ok("queue", "delete", "jobs")
        self.assertEqual(self.ok("queue", "list"), [])


class MessageTests(CLICase):
    def test_messages(self) -> None:
        """Post from arguments and standard input (split to the queue's limit); list, get, pop, delete."""
        self.ok("queue", "create", "small", "--metadata", '{"_max_messages_post_size": 1024}')
        big = json.dumps("x" * 600)
        posted = self.ok("post", "small", big, big, '{"n": 3}')
        self.assertEqual(len(posted), 3)
        self.assertEqual(len(self.ok("message", "post", "small", stdin='{"n": 4}\n\n[5]\n')), 2)
        listed = self.ok("message", "list", "small")
        self.assertEqual([m["body"] for m in listed], ["x" * 600, "x" * 600, {"n": 3}, {"n": 4}, [5]])
        self.assertEqual(self.ok("message", "get", "small", posted[2]["id"])[0]["body"], {"n": 3})
        self.ok("message", "delete", "small", posted[0]["id"], posted[1]["id"])
        self.assertEqual([m["body"] for m in self.ok("message", "pop", "small", "--count", "2")], [{"n": 3}, {"n": 4}])
        self.assertIn("not JSON", self.fails(64, "post", "small", "{oops"))
        self.assertEqual(self.ok("queue", "stats", "small")[0]["total"], 1)


class TailTests(CLICase):
    def stopped(self, running: Started, signal_number: int = signal.SIGTERM) -> None:
        self.assertEqual(running.terminated(signal_number), (0, "", ""))

    def test_tail(self) -> None:
        """tail prints without consuming; -f goes on as messages come, until SIGTERM or SIGINT; --consume claims and deletes."""
        self.ok("post", "jobs", '"a"')
        self.assertEqual([m["body"] for m in self.ok("tail", "jobs")], ["a"])
        follow = Started(*self.connection, "tail", "jobs", "-f", "--interval", "0.2")
        try:
            self.assertEqual(follow.lines(1)[0]["body"], "a")
            self.ok("post", "jobs", '"b"', '"c"')
            self.assertEqual([m["body"] for m in follow.lines(2)], ["b", "c"])
        finally:
            self.stopped(follow)
        self.assertEqual(self.ok("queue", "stats", "jobs")[0]["total"], 3)
        self.assertEqual([m["body"] for m in self.ok("tail", "jobs", "--consume")], ["a", "b", "c"])
        consume = Started(*self.connection, "tail", "jobs", "-f", "--consume", "--interval", "0.2")
        try:
            self.ok("post", "jobs", '"d"')
            self.assertEqual(consume.lines(1)[0]["body"], "d")
        finally:
            self.stopped(consume, signal.SIGINT)
        self.assertEqual(self.ok("queue", "stats", "jobs")[0]["total"], 0)


class ClosedOutputTests(CLICase):
    def test_output_closed_early(self) -> None:
        """
        C{txzaqar tail Q | head -1}: the reader closes the pipe after a line;
        the command ends at once with 141 and nothing on stderr (no traceback).
        """
        self.ok("post", "jobs", stdin="".join(f'{{"n": {i}, "pad": "{"x" * 200}"}}\n' for i in range(600)))
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        process = subprocess.Popen([sys.executable, "-m", "txzaqar.cli", *self.connection, "tail", "jobs"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ)
        assert process.stdout is not None and process.stderr is not None
        self.assertTrue(process.stdout.readline().startswith(b"{"))
        process.stdout.close()
        self.assertEqual(process.wait(timeout=60), 141)
        self.assertEqual(process.stderr.read(), b"")


class TailPushTests(CLICase):
    timeout = 240

    def setUp(self) -> None:
        self.zaqar = servers.shared_push_zaqar()  # Zaqar with its WebSocket transport and the notifier pipeline
        self.project = f"cli-{uuid.uuid4().hex[:8]}"
        self.connection = ["--url", self.zaqar.url, "--project-id", self.project, "--format", "json"]

    def test_tail_woken_by_push(self) -> None:
        """
        With --websocket-url and --interval 3600, messages posted after tail
        started are printed within seconds (push woke it: a poll would come
        in an hour), then SIGTERM ends it with 0 and its push subscription is
        gone; with --consume its Subscriber is woken too; an unreachable URL is one
        line on stderr and tail polls; a malformed one is a usage error.
        """
        self.ok("post", "jobs", '"a"')
        follow = Started(*self.connection, "tail", "jobs", "-f", "--interval", "3600",
                         "--websocket-url", str(self.zaqar.websocket_url))
        try:
            self.assertEqual(follow.lines(1)[0]["body"], "a")  # the first read, before push is up
            self.ok("post", "jobs", '"b"')
            self.assertEqual(follow.lines(1)[0]["body"], "b")  # read when push came up, or when notified
            self.ok("post", "jobs", '"c"')
            self.assertEqual(follow.lines(1)[0]["body"], "c")  # push is up: only a notification reads now
            self.assertEqual(len(self.ok("subscription", "list", "jobs")), 1)  # the WebSocket connection's
        finally:
            self.assertEqual(follow.terminated(), (0, "", ""))
        self.assertEqual(self.ok("subscription", "list", "jobs"), [])  # deleted when tail stopped
        self.assertEqual(self.ok("queue", "stats", "jobs")[0]["total"], 3)
        consume = Started(*self.connection, "tail", "jobs", "-f", "--consume", "--interval", "3600",
                          "--websocket-url", str(self.zaqar.websocket_url))
        try:
            self.assertEqual(sorted(m["body"] for m in consume.lines(3)), ["a", "b", "c"])
            self.ok("post", "jobs", '"e"')
            self.assertEqual(consume.lines(1)[0]["body"], "e")  # its Subscriber woken: a poll is an hour away
        finally:
            self.assertEqual(consume.terminated(signal.SIGINT), (0, "", ""))
        self.assertEqual(self.ok("queue", "stats", "jobs")[0]["total"], 0)
        self.ok("post", "jobs", '"a"', '"b"', '"c"')
        nowhere = Started(*self.connection, "tail", "jobs", "-f", "--interval", "0.2",
                          "--websocket-url", f"ws://127.0.0.1:{servers.free_port()}")
        try:
            self.assertEqual([m["body"] for m in nowhere.lines(3)], ["a", "b", "c"])
            self.ok("post", "jobs", '"d"')
            self.assertEqual(nowhere.lines(1)[0]["body"], "d")
        finally:
            status, rest, stderr = nowhere.terminated()
        self.assertEqual((status, rest), (0, ""))
        self.assertEqual(len(stderr.splitlines()), 1, stderr)
        self.assertTrue(stderr.startswith("txzaqar: WebSocket push down: "), stderr)
        self.assertIn("(reading every 0.2 s until it is up)", stderr)
        self.assertIn("ws:// or wss://", self.fails(64, "tail", "jobs", "-f", "--websocket-url", "http://127.0.0.1:1"))


class RedriveTests(CLICase):
    def test_redrive(self) -> None:
        """
        Messages move from the dead-letter queue (bodies kept, and what is left of
        their ttl), --limit at a time; a summary.
        """
        self.ok("post", "jobs", '"kept"')
        self.ok("post", "dead", '"a"', '"b"', '"c"', "--ttl", "900")
        self.assertEqual(self.ok("redrive", "dead", "--to", "jobs", "--limit", "2"),
                         [{"moved": 2, "from": "dead", "to": "jobs"}])
        self.assertEqual([m["body"] for m in self.ok("message", "list", "dead")], ["c"])
        self.assertEqual(self.ok("redrive", "dead", "--to", "jobs"), [{"moved": 1, "from": "dead", "to": "jobs"}])
        moved = self.ok("message", "list", "jobs")
        self.assertEqual([m["body"] for m in moved], ["kept", "a", "b", "c"])
        # posted seconds ago with 900: as much left, less those seconds (their age when moved)
        self.assertTrue(all(880 <= m["ttl"] <= 900 for m in moved[1:]), moved)
        self.assertEqual(self.ok("message", "list", "dead"), [])
        self.assertIn("--to", self.fails(64, "redrive", "dead"))


class ClaimTests(CLICase):
    def test_claims(self) -> None:
        """Claim (--limit, --ttl), query, renew, release; a released claim is not found (exit 1)."""
        posted = [m["id"] for m in self.ok("post", "jobs", '"a"', '"b"', '"c"')]
        claimed = self.ok("claim", "create", "jobs", "--limit", "2", "--ttl", "120", "--grace", "60")
        self.assertEqual([(m["id"], m["body"]) for m in claimed], [(posted[0], "a"), (posted[1], "b")])
        claim_id = claimed[0]["claim_id"]
        queried = self.ok("claim", "query", "jobs", claim_id)[0]
        self.assertEqual((queried["claim_id"], queried["ttl"], queried["messages"]), (claim_id, 120, posted[:2]))
        self.assertEqual(self.ok("claim", "renew", "jobs", claim_id, "--ttl", "300"),
                         [{"claim_id": claim_id, "ttl": 300, "grace": 60, "renewed": True}])
        self.assertEqual(self.ok("claim", "query", "jobs", claim_id)[0]["ttl"], 300)
        self.assertEqual(self.ok("claim", "release", "jobs", claim_id),
                         [{"claim_id": claim_id, "released": True, "messages": posted[:2]}])
        self.fails(1, "claim", "query", "jobs", claim_id)
        self.assertIn("ttl", self.fails(64, "claim", "create", "jobs", "--ttl", "5"))
        self.assertEqual([m["body"] for m in self.ok("claim", "create", "jobs")], ["a", "b", "c"])


class SubscriptionTests(CLICase):
    def test_subscriptions(self) -> None:
        """Create, show, list, update, confirm, delete; a deleted one is not found (exit 1)."""
        self.ok("queue", "create", "jobs")
        created = self.ok("subscription", "create", "jobs", "http://127.0.0.1:9/hook", "--ttl", "600",
                          "--options", '{"team": "a"}')[0]
        self.assertEqual((created["subscriber"], created["ttl"], created["options"]),
                         ("http://127.0.0.1:9/hook", 600, {"team": "a"}))
        sid = created["id"]
        self.assertEqual(self.ok("subscription", "show", "jobs", sid)[0]["subscriber"], "http://127.0.0.1:9/hook")
        self.assertEqual([s["id"] for s in self.ok("subscription", "list", "jobs")], [sid])
        updated = self.ok("subscription", "update", "jobs", sid, "--ttl", "900", "--options", '{"team": "b"}')[0]
        self.assertEqual((updated["ttl"], updated["options"]), (900, {"team": "b"}))
        self.assertEqual(self.ok("subscription", "confirm", "jobs", sid), [{"id": sid, "confirmed": True}])
        self.assertIs(self.ok("subscription", "show", "jobs", sid)[0]["confirmed"], True)
        self.assertEqual(self.ok("subscription", "delete", "jobs", sid), [{"id": sid, "deleted": True}])
        self.fails(1, "subscription", "show", "jobs", sid)
        self.assertIn("--ttl", self.fails(64, "subscription", "update", "jobs", sid))


class PoolTests(CLICase):
    def setUp(self) -> None:
        self.zaqar = servers.shared_zaqar(pooling=True)
        self.project = f"cli-{uuid.uuid4().hex[:8]}"
        self.connection = ["--url", self.zaqar.url, "--project-id", self.project, "--roles", "admin",
                           "--format", "json"]

    def test_pools_and_flavors(self) -> None:
        """
        On a Zaqar with pooling (admin): pool create, show, update, list; flavor create, show, update, list;
        deletes. Pools are global: this test's names have a prefix of their own, deleted at the end.
        """
        uris = self.zaqar.pool_uris
        redis = getattr(self.zaqar, "redis", None)
        if not uris and redis is not None:
            uris.append(redis.uri(redis.allocate_db()))
        if not uris:
            raise unittest.SkipTest("the pooling Zaqar has no pool URI")
        pool, flavor = f"t{uuid.uuid4().hex[:8]}-p", f"t{uuid.uuid4().hex[:8]}-f"
        self.addCleanup(txzaqar, *self.connection, "pool", "delete", pool)
        self.addCleanup(txzaqar, *self.connection, "flavor", "delete", flavor)
        created = self.ok("pool", "create", pool, uris[0], "10", "--options", '{"a": 1}')[0]
        self.assertEqual((created["name"], created["uri"], created["weight"], created["options"]),
                         (pool, uris[0], 10, {"a": 1}))
        self.assertEqual(self.ok("pool", "update", pool, "--weight", "20")[0]["weight"], 20)
        self.assertEqual(self.ok("pool", "show", pool)[0]["weight"], 20)
        self.assertIn(pool, [p["name"] for p in self.ok("pool", "list", "--limit", "20")])
        self.assertEqual(self.ok("flavor", "create", flavor, pool)[0]["pool_list"], [pool])
        self.assertEqual(self.ok("flavor", "show", flavor)[0]["name"], flavor)
        self.assertEqual(self.ok("flavor", "update", flavor, pool)[0]["pool_list"], [pool])
        self.assertEqual([f["name"] for f in self.ok("flavor", "list")], [flavor])
        self.assertEqual(self.ok("pool", "show", pool)[0]["flavor"], flavor)
        self.assertEqual(self.ok("flavor", "delete", flavor), [{"name": flavor, "deleted": True}])
        self.assertEqual(self.ok("flavor", "list"), [])
        self.assertEqual(self.ok("pool", "delete", pool), [{"name": pool, "deleted": True}])
        self.assertNotIn(pool, [p["name"] for p in self.ok("pool", "list", "--limit", "20")])
        self.assertIn("--uri", self.fails(64, "pool", "update", pool))
        self.fails(1, "pool", "show", pool)
        without_roles = [a for a in self.connection if a not in ("--roles", "admin")]
        self.fails(77, "pool", "list", connection=without_roles)


class ReadmeTests(CLICase):
    def test_tail_and_redrive_block(self) -> None:
        """The README's tail and redrive block runs as printed (with $ZAQAR_URL and $OS_PROJECT_ID set)."""
        self.ok("post", "jobs", '{"order": 3}')
        block = readme.find_block("The command line: ``txzaqar``", "txzaqar queue create jobs-dead")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        env.update(ZAQAR_URL=self.zaqar.url, OS_PROJECT_ID=self.project)
        env["PATH"] = f"{os.path.dirname(sys.executable)}:{env.get('PATH', '')}"
        result = subprocess.run(["bash", "-c", "set -e\n" + "\n".join(block.commands())], capture_output=True,
                                text=True, env=env, timeout=120)
        self.assertEqual((result.returncode, result.stderr), (0, ""), result.stdout)
        out = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual(out[0], {"name": "jobs-dead", "created": True})
        self.assertEqual(out[3], {"moved": 2, "from": "jobs-dead", "to": "jobs"})
        orders = [{"order": n} for n in (3, 4, 5)]
        self.assertEqual([m["body"] for m in out[4:]], orders + orders)
        self.assertEqual(self.ok("queue", "stats", "jobs")[0]["total"], 0)
        self.assertEqual(self.ok("queue", "stats", "jobs-dead")[0]["total"], 0)

    def test_readme_block(self) -> None:
        """The README's block runs as printed (its URL and project replaced by the test server's)."""
        block = readme.find_block("The command line: ``txzaqar``", "export ZAQAR_URL=http://127.0.0.1:8888")
        script = "set -e\n" + "\n".join(block.commands()).replace(
            "http://127.0.0.1:8888", self.zaqar.url).replace("OS_PROJECT_ID=demo", f"OS_PROJECT_ID={self.project}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        env["PATH"] = f"{os.path.dirname(sys.executable)}:{env.get('PATH', '')}"
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual((result.returncode, result.stderr), (0, ""), result.stdout)
        out = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertIn({"name": "jobs", "claimed": 0, "free": 3, "total": 3, "oldest": out[7]["oldest"],
                       "newest": out[7]["newest"]}, out)
