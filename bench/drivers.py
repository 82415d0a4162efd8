"""
The benchmark's processes: each driver runs in a process of its own
(L{Drivers}), and the CPU time of a process or a process group is read
from C{/proc}.

Only the standard library (and L{txzaqar.testing.servers}' process
helper) is used here (the orchestrator's side).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from txzaqar.testing.servers import group_stats

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: The gunicorn server with the notifier pipeline and the WebSocket transport (latency, many
#: queues, scale).
PUSH_SERVER = "gunicorn-push"


def say(msg: str) -> None:
    """One line of the orchestrator's progress, on stderr."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)




def proc_cpu(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_cpu(pgid: int) -> float:
    """CPU time of every live process in process group *pgid* (a server and its workers)."""
    return sum((int(f[11]) + int(f[12])) / CLK_TCK for f in group_stats(pgid))


class DriverFailed(Exception):
    """A driver exited non-zero, printed no result, never became ready or ran past its timeout."""


class PostFailed(Exception):
    """The orchestrator's own post of a latency message failed."""


class Drivers:
    """Runs the drivers, each in a process of its own; a failure raises L{DriverFailed}."""

    def __init__(self, bench_python: Path) -> None:
        self.bench_python = bench_python

    def command(self, kind: str, spec: dict) -> list[str]:
        arg = json.dumps(spec)
        if kind == "official":
            return [str(self.bench_python), str(BENCH / "official_driver.py"), arg]
        module = {"tx": "bench.tx_driver", "ceiling": "bench.ceiling", "push": "bench.push",
                  "listener": "bench.listeners", "scrape": "bench.scrape", "scale": "bench.scale"}[kind]
        return [sys.executable, "-m", module, arg]

    @staticmethod
    def _env() -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONWARNINGS"] = "ignore"
        return env

    @staticmethod
    def _result(cmd: list[str], rc: int, out: str, err: str) -> dict:
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if rc != 0 or not lines:
            raise DriverFailed(
                f"driver failed (exit {rc}): {cmd[:3]} {cmd[-1][:200]}\n--- stderr ---\n{err[-3000:]}"
            )
        return json.loads(lines[-1])

    def run(self, kind: str, spec: dict, timeout: float) -> dict:
        cmd = self.command(kind, spec)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                               env=self._env(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DriverFailed(f"driver ran past its {timeout:.0f} s timeout: {cmd[:3]} {cmd[-1][:200]}")
        return self._result(cmd, p.returncode, p.stdout, p.stderr)

    def run_fed(self, kind: str, spec: dict, feed: Callable[[subprocess.Popen], dict],
                timeout: float) -> tuple[dict, dict]:
        """Start a driver, wait for READY, run ``feed(process)``, then collect its result."""
        cmd = self.command(kind, spec)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env=self._env(), stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            assert p.stdout is not None
            while True:
                ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
                line = p.stdout.readline() if ready else ""
                if line.strip() == "READY":
                    break
                if not ready or not line:
                    p.kill()
                    out, err = p.communicate()
                    raise DriverFailed(f"driver never became ready: {cmd[:3]}\n{err[-3000:]}")
            fed = feed(p)
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise DriverFailed(f"driver ran past its {timeout:.0f} s timeout: {cmd[:3]} {cmd[-1][:200]}")
        except BaseException:
            if p.poll() is None:
                p.kill()
                p.communicate()
            raise
        return self._result(cmd, p.returncode, out, err), fed
