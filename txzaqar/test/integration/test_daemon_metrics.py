"""
C{twistd zaqar-listen --metrics} against real Zaqar servers: C{/metrics}
scraped with prometheus-client's own parser while 1,000 messages flow, and
C{/readyz} following a Zaqar of the test's own as it stops and restarts.

Ports are chosen at run time, on loopback; every wait polls a condition
with a generous deadline (no sleep stands for synchronisation).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.trial import unittest

from txzaqar import connect
from txzaqar.test.helpers.daemon import spawn_twistd
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing import servers
from txzaqar.testing.servers import shared_zaqar

#: The daemon's handler: appends "<queue> <id>" to $METRICS_TEST_RECORD per delivery.
HANDLER = '''
import os

def record(message):
    fd = os.open(os.environ["METRICS_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{message.queue.name} {message.id}\\n".encode())
    finally:
        os.close(fd)
'''


def fetch(url: str) -> tuple[int, str]:
    """GET C{url} (blocking, 5 s at most): the status and the body."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus-client: C{(name, labels) -> value}."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def per_queue(scrape: dict[Any, float], name: str) -> dict[str, float]:
    return {dict(labels)["queue"]: value for (n, labels), value in scrape.items() if n == name}


class _DaemonTests(unittest.TestCase):
    """Starting, scraping and stopping daemons with C{--metrics}."""

    timeout = 600

    def setUp(self) -> None:
        self.dir = Path(self.mktemp()).resolve()
        self.dir.mkdir(parents=True)
        (self.dir / "metrics_test_handler.py").write_text(HANDLER)
        self.record_file = self.dir / "record.txt"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.addCleanup(self.kill_all)

    def kill_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    def spawn(self, url: str, project: str, queues: list[str], *extra: str, port: int | None = None) -> str:
        """Start the daemon with C{--metrics} on C{port} (default a free one); return the metrics base URL."""
        port = servers.free_port() if port is None else port
        env = dict(os.environ)
        env["METRICS_TEST_RECORD"] = str(self.record_file)
        n = len(self.processes)
        args = [
            "--url", url, "--project-id", project,
            *[arg for q in queues for arg in ("--queue", q)],
            "--handler", "metrics_test_handler:record",
            "--metrics", f"tcp:{port}:interface=127.0.0.1", *extra,
        ]
        proc, out = spawn_twistd(self.dir, f"twistd-{n}", args, env)
        self.addCleanup(out.close)
        self.processes.append(proc)
        return f"http://127.0.0.1:{port}"

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.dir.glob("twistd-*.*")))

    async def wait_for(self, condition: Any, timeout: float, what: str) -> Any:
        def alive() -> None:
            for proc in self.processes:
                if proc.poll() is not None and not getattr(proc, "expected_exit", False):
                    self.fail(f"twistd exited with {proc.returncode}:\n{self.logs()}")

        return await wait_until(condition, what, timeout, 0.1, alive=alive, details=self.logs)

    def answers(self, url: str, status: int) -> str | None:
        """The body of C{url} if it answers C{status} now, else C{None}."""
        try:
            code, body = fetch(url)
        except OSError:
            return None  # not listening yet
        return body if code == status else None

    def deliveries(self) -> Counter[str]:
        """Deliveries the handler saw, per queue (whole lines only)."""
        try:
            lines = self.record_file.read_text().split("\n")[:-1]
        except FileNotFoundError:
            return Counter()
        return Counter(line.split()[0] for line in lines)

    async def terminate(self) -> None:
        for proc in self.processes:
            proc.expected_exit = True  # type: ignore[attr-defined]
            proc.send_signal(signal.SIGTERM)
        await self.wait_for(lambda: all(p.poll() is not None for p in self.processes), 90,
                            "twistd to exit after SIGTERM")
        for proc in self.processes:
            self.assertIn(proc.returncode, (0, -signal.SIGTERM), self.logs())
        self.assertNotIn("Traceback", self.logs())



class DaemonMetricsTests(_DaemonTests):
    """The counters, /readyz and the metrics port of a daemon on real Zaqar servers."""

    async def test_counters_match_deliveries(self) -> None:
        """
        1,000 messages over three queues, posted while the daemon runs; every
        scrape parses, and at the end the per-queue processed and acked
        counters equal the deliveries the handler recorded.
        """
        zaqar = shared_zaqar()
        project = f"txzaqar-metrics-{uuid.uuid4().hex[:8]}"
        client = connect(zaqar.url, project_id=project, reactor=reactor)
        self.addCleanup(client.close)
        queues = [f"metrics-{uuid.uuid4().hex[:10]}" for _ in range(3)]
        for name in queues:
            self.addCleanup(client.queue(name).delete)
        base = self.spawn(zaqar.url, project, queues, "--poll-interval", "0.2", "--max-interval", "1",
                          "--batch", "20", "--concurrency", "30")
        await self.wait_for(lambda: self.answers(base + "/readyz", 200), 60, "/readyz 200")
        self.assertEqual(fetch(base + "/healthz"), (200, "ok\n"))
        for page in ("/healthz", "/readyz"):  # probes that use HEAD: same status, no body, no log line
            with urllib.request.urlopen(urllib.request.Request(base + page, method="HEAD"), timeout=5) as head:
                self.assertEqual((head.status, head.read()), (200, b""))
        whole_logs = "".join(p.read_text(errors="replace") for p in self.dir.glob("twistd-*.*"))
        self.assertNotIn("HEAD request", whole_logs)  # Twisted's "I'll eat it" line, once per probe

        posted: Counter[str] = Counter()
        scrapes = []
        for round_ in range(10):  # 1,000 messages in 10 rounds, scraping as they flow
            for i, name in enumerate(queues):
                count = 34 if i == 0 else 33
                posted[name] += len(await client.queue(name).post(
                    [{"body": {"round": round_, "n": n}} for n in range(count)]))
            code, text = fetch(base + "/metrics")
            self.assertEqual(code, 200)
            scrapes.append(samples(text))
        self.assertEqual(sum(posted.values()), 1000)

        def all_acked() -> bool:
            acked = per_queue(samples(fetch(base + "/metrics")[1]), "txzaqar_subscriber_acked_total")
            return sum(acked.values()) >= 1000

        await self.wait_for(all_acked, 240, "1,000 messages acknowledged")
        final = samples(fetch(base + "/metrics")[1])
        delivered = self.deliveries()
        self.assertEqual(delivered, posted)
        self.assertEqual(per_queue(final, "txzaqar_subscriber_processed_total"), dict(delivered))
        self.assertEqual(per_queue(final, "txzaqar_subscriber_acked_total"), dict(delivered))
        self.assertEqual(per_queue(final, "txzaqar_subscriber_failed_total"), dict.fromkeys(queues, 0))
        # counters only grow from scrape to scrape
        for earlier, later in zip(scrapes, [*scrapes[1:], final], strict=True):
            for name in ("txzaqar_subscriber_processed_total", "txzaqar_subscriber_acked_total"):
                for queue, value in per_queue(earlier, name).items():
                    self.assertLessEqual(value, per_queue(later, name)[queue])
        claims = sum(value for (name, labels), value in final.items()
                     if name == "txzaqar_request_duration_seconds_count"
                     and dict(labels) == {"operation": "POST queues/{queue}/claims", "status": "201"})
        self.assertGreater(claims, 0)
        self.assertEqual(sum(per_queue(final, "txzaqar_subscriber_message_age_seconds_count").values()),
                         1000)
        self.assertEqual(self.answers(base + "/readyz", 200), "ready\n")
        await self.terminate()
        print(f"\n  {len(scrapes) + 1} scrapes; processed per queue {sorted(delivered.values())}",
              file=sys.stderr)

    async def test_readyz_follows_zaqar(self) -> None:
        """
        C{/readyz} is 200 while Zaqar answers, 503 (naming the queue) soon
        after it stops, and 200 again once it is back on the same port;
        C{/healthz} stays 200 throughout.  The backoff gauge (errors only)
        reads 0 on the healthy idle queue, whose idle delay is in the poll
        interval gauge, and more than 0 once its polls fail.
        """
        zaqar = servers.ZaqarServer(servers.shared_redis(), port=servers.free_port())
        zaqar.start()
        self.addCleanup(zaqar.stop)
        queue = f"ready-{uuid.uuid4().hex[:10]}"
        base = self.spawn(zaqar.url, f"txzaqar-ready-{uuid.uuid4().hex[:8]}", [queue],
                          "--poll-interval", "0.2", "--max-interval", "1")
        await self.wait_for(lambda: self.answers(base + "/readyz", 200), 60, "/readyz 200")
        healthy = samples(fetch(base + "/metrics")[1])
        self.assertEqual(per_queue(healthy, "txzaqar_subscriber_backoff_seconds")[queue], 0)
        self.assertGreater(per_queue(healthy, "txzaqar_subscriber_poll_interval_seconds")[queue], 0)

        zaqar.stop()
        stopped = time.monotonic()
        # max_interval (1 s) + 10 s of slack, more if a claim was in flight
        body = await self.wait_for(lambda: self.answers(base + "/readyz", 503), 90, "/readyz 503")
        unready_after = time.monotonic() - stopped
        self.assertIn(f"{queue}: no successful poll for", body)
        self.assertIn("last error: ConnectionFailed", body)
        self.assertEqual(fetch(base + "/healthz"), (200, "ok\n"))
        scrape = samples(fetch(base + "/metrics")[1])
        self.assertEqual(scrape[("txzaqar_subscriber_ready", ())], 0)
        self.assertGreater(per_queue(scrape, "txzaqar_subscriber_poll_errors_total")[queue], 0)
        self.assertGreater(per_queue(scrape, "txzaqar_subscriber_backoff_seconds")[queue], 0)

        zaqar.start()
        restarted = time.monotonic()
        await self.wait_for(lambda: self.answers(base + "/readyz", 200), 90, "/readyz 200 again")
        ready_after = time.monotonic() - restarted
        await self.terminate()
        print(f"\n  /readyz: 503 {unready_after:.1f}s after Zaqar stopped, 200 {ready_after:.1f}s "
              "after it was back", file=sys.stderr)

    async def test_metrics_port_in_use(self) -> None:
        """
        C{--metrics} on a port another process holds: the daemon exits with
        status 71 at startup after one critical line, without a traceback.
        """
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        zaqar = servers.shared_zaqar()
        self.spawn(zaqar.url, f"txzaqar-inuse-{uuid.uuid4().hex[:8]}", ["jobs"], port=taken.getsockname()[1])
        [proc] = self.processes
        proc.expected_exit = True  # type: ignore[attr-defined]
        await self.wait_for(lambda: proc.poll() is not None, 60, "the daemon to exit")
        self.assertEqual(proc.returncode, 71, self.logs())
        critical = [line for line in self.logs().splitlines() if "cannot start:" in line]
        self.assertEqual(len(critical), 1, self.logs())
        self.assertIn("metrics endpoint could not listen", critical[0])
        self.assertIn("Address already in use", critical[0])
        self.assertNotIn("Traceback", self.logs())


#: Label names a scrape may have: each has few values (queue names are the operator's own list).
BOUNDED_LABELS = {"queue", "dead_letter_queue", "outcome", "operation", "status", "le", "version",
                  "implementation", "major", "minor", "patchlevel", "generation"}
#: Units in a name that are not Prometheus base units.
NOT_BASE_UNITS = ("_milliseconds", "_ms", "_microseconds", "_minutes", "_hours", "_kilobytes",
                  "_megabytes", "_percent")


def monitoring_names() -> set[str]:
    """The metric names the shipped alerting rules and dashboard use."""
    import json
    import re

    import yaml  # type: ignore[import-untyped]

    import txzaqar.ops

    folder = Path(txzaqar.ops.__file__).parent / "monitoring"
    rules = yaml.safe_load((folder / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((folder / "dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in re.findall(r"\b((?:txzaqar|process|python)_[a-z_]+)\b", expr)}


class ScrapeNamingTests(_DaemonTests):
    """A real scrape (the daemon on a real Zaqar) against Prometheus' naming rules and the shipped monitoring."""

    async def test_names_and_monitoring(self) -> None:
        zaqar = shared_zaqar()
        project = f"txzaqar-names-{uuid.uuid4().hex[:8]}"
        client = connect(zaqar.url, project_id=project, reactor=reactor)
        self.addCleanup(client.close)
        queue, dead = f"names-{uuid.uuid4().hex[:10]}", f"dead-{uuid.uuid4().hex[:10]}"
        for name in (queue, dead):
            self.addCleanup(client.queue(name).delete)
        base = self.spawn(zaqar.url, project, [queue], "--poll-interval", "0.2", "--max-interval", "1",
                          "--stats-interval", "1", "--dead-letter-queue", dead, "--max-claim-count", "5")
        await self.wait_for(lambda: self.answers(base + "/readyz", 200), 60, "/readyz 200")
        await client.queue(queue).post([{"body": {"n": n}} for n in range(5)])
        await self.wait_for(lambda: sum(self.deliveries().values()) >= 5, 60,
                            "5 deliveries")

        def refreshed() -> str | None:
            text = fetch(base + "/metrics")[1]
            return text if f'txzaqar_queue_messages{{queue="{dead}"}}' in text else None

        text = await self.wait_for(refreshed, 60, "the queue stats refreshed")
        families = list(text_string_to_metric_families(text))
        names = {s.name for f in families for s in f.samples} | {f.name for f in families}
        self.assertNotIn("_created", text)
        for family in families:
            self.assertRegex(family.name, r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
            self.assertTrue(family.documentation, family.name)
            self.assertFalse(family.name.endswith(NOT_BASE_UNITS), family.name)
            for sample in family.samples:
                if family.type == "counter":
                    self.assertTrue(sample.name.endswith("_total"), sample.name)
                else:
                    self.assertFalse(sample.name.endswith("_total"), sample.name)
                self.assertLessEqual(set(sample.labels), BOUNDED_LABELS, sample.name)
        helps = [f.documentation for f in families if f.name.startswith("txzaqar_")]
        self.assertEqual(len(helps), len(set(helps)), "every txzaqar metric has a help text of its own")
        for name in ("process_cpu_seconds", "python_gc_objects_collected", "python_info", "txzaqar_build_info",
                     "txzaqar_subscriber_concurrency", "txzaqar_subscriber_threads", "txzaqar_subscriber_in_flight"):
            self.assertIn(name, {f.name for f in families})
        self.assertEqual(per_queue(samples(text), "txzaqar_queue_messages")[dead], 0)
        missing = {n for n in monitoring_names() if n not in names}
        self.assertEqual(missing, set(), "metrics the alerts or the dashboard use that a scrape lacks")
        await self.terminate()
        print(f"\n  {len(families)} families, {len(text.splitlines())} lines; the monitoring uses "
              f"{len(monitoring_names())} metric names", file=sys.stderr)
