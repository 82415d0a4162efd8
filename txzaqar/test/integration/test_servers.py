"""
Tests for the real-server harness (txzaqar.testing.servers).

These start real processes (Redis, Zaqar under gunicorn and under its
built-in server), so they block; that is fine for harness tests.  They fail
(not skip) when the server venv cannot be built.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from twisted.trial import unittest

from txzaqar.testing import servers

HEADERS = {
    "Client-ID": "3e9a0e2e-6e3a-4f39-9a5a-1c2c8d3f2a10",
    "X-Project-ID": "txzaqar-harness-test",
}


def request(url, method="GET", body=None, headers=None):
    """Blocking HTTP call; returns (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    for k, v in {
        **HEADERS,
        "Content-Type": "application/json",
        **(headers or {}),
    }.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    return status, (json.loads(raw) if raw else None)


def refuses(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


def pid_gone(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


class ServerLifecycleTests(unittest.TestCase):
    """A Zaqar of each mode starts, answers /v2/ping with 204, and stops."""

    # trial never calls setUpClass; the shared helpers are cached per
    # process, so calling them in setUp costs nothing after the first time.
    def setUp(self):
        self.venv = servers.ensure_server_venv()
        self.redis = servers.shared_redis()

    def _lifecycle(self, mode):
        server = servers.ZaqarServer(self.redis, mode=mode, venv=self.venv)
        started = time.monotonic()
        server.start()
        self.addCleanup(server.stop)
        startup = time.monotonic() - started
        self.assertTrue(server.url.startswith("http://127.0.0.1:"))
        self.assertEqual(servers.ping(server.url), 204)
        status, _ = request(server.url + "/v2/queues/harness-" + mode, "PUT")
        self.assertEqual(status, 201)

        pid, port = server.pid, server.port
        assert pid is not None and port is not None
        record = json.loads(server.pid_file.read_text())
        self.assertEqual(record["pid"], pid)
        server.stop()
        self.assertTrue(pid_gone(pid), f"pid {pid} still running")
        self.assertFalse(servers.group_alive(pid), f"process group {pid} still has members")
        self.assertTrue(refuses(port), f"port {port} still accepts connections")
        self.assertFalse(server.pid_file.exists())
        self.assertLess(startup, 60)

    def test_gunicorn(self):
        self._lifecycle("gunicorn")

    def test_builtin(self):
        self._lifecycle("builtin")

    def test_pooling(self):
        """
        With pooling on SQLite, pools can be created and listed (admin calls
        need X-Roles: admin in no-auth mode), and then queues work.
        """
        server = servers.ZaqarServer(self.redis, pooling=True, venv=self.venv)
        server.start()
        self.addCleanup(server.stop)
        admin = {"X-Roles": "admin"}
        status, _ = request(
            server.url + "/v2/pools/p1",
            "PUT",
            {"weight": 100, "uri": server.pool_uris[0]},
            admin,
        )
        self.assertEqual(status, 201)
        status, body = request(server.url + "/v2/pools", headers=admin)
        self.assertEqual(status, 200)
        self.assertEqual([p["name"] for p in body["pools"]], ["p1"])
        status, _ = request(server.url + "/v2/queues/pooled", "PUT")
        self.assertEqual(status, 201)

    def test_shared_zaqar_is_cached(self):
        """shared_zaqar() starts one server per process and reuses it."""
        first = servers.shared_zaqar()
        self.assertIs(servers.shared_zaqar(), first)
        self.assertEqual(servers.ping(first.url), 204)


class KillStaleTests(unittest.TestCase):
    """kill_stale() stops servers of dead owners, and only those."""

    def _fake_run(self, runs, owner_pid, owner_start):
        proc = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            start_new_session=True,
        )

        def cleanup():
            if proc.poll() is None:
                proc.kill()
            proc.wait()

        self.addCleanup(cleanup)
        run = Path(runs) / f"{owner_pid}-test"
        run.mkdir(parents=True)
        (run / "owner.json").write_text(json.dumps({"pid": owner_pid, "start_time": owner_start}))
        (run / "fake.pid").write_text(
            json.dumps({"pid": proc.pid, "start_time": servers.start_time(proc.pid)})
        )
        return proc, run

    def test_dead_owner(self):
        runs = tempfile.mkdtemp()
        # an owner that is gone: a PID with a start time that cannot match
        proc, run = self._fake_run(runs, os.getpid(), "no-such-start-time")
        self.assertEqual(servers.kill_stale(runs), 1)
        self.assertIsNotNone(proc.wait(5))
        self.assertFalse(run.exists())

    def test_live_owner(self):
        runs = tempfile.mkdtemp()
        proc, run = self._fake_run(runs, os.getpid(), servers.start_time(os.getpid()))
        self.assertEqual(servers.kill_stale(runs), 0)
        self.assertIsNone(proc.poll())
        self.assertTrue(run.exists())

    def test_run_directory_being_made(self):
        """A run directory still being made (no owner.json yet) is left alone while its maker lives."""
        runs = Path(tempfile.mkdtemp())
        live = runs / f".making-{os.getpid()}-abcdef"
        live.mkdir()
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        gone = runs / f".making-{dead.pid}-abcdef"
        gone.mkdir()
        self.assertEqual(servers.kill_stale(runs), 0)
        self.assertTrue(live.exists())
        self.assertFalse(gone.exists())
