"""
The workloads of L{bench.run.Bench} that measure the daemon and the
Subscriber at scale: the scrape cost (L{bench.scrape}, no server) and one
daemon on many discovered queues with WebSocket push (L{bench.scale}).
"""

from __future__ import annotations

import signal
import statistics
from functools import partial
from typing import TYPE_CHECKING, Any

from bench import summary
from bench.drivers import PUSH_SERVER, say

#: The page of a queue listing the push server allows (C{[transport] max_queues_per_page}) and
#: the scale run's daemon asks for (C{--max-queues-per-page}): Zaqar's default is 20.
SCALE_PAGE = 1000



class ScaleWorkloads:
    """A mixin of L{bench.run.Bench}: C{self} is the Bench."""

    if TYPE_CHECKING:
        args: Any
        drivers: Any
        sizes: dict[str, Any]
        servers: dict[str, Any]
        extra: Any
        project: str

        def guarded(self, workload: str, variant: str, rep: int) -> Any: ...

        def problem(self, workload: str, variant: str, rep: int, what: str) -> None: ...

        def record(self, workload: str, server: str, variant: str, rep: int, metric: str, value: float,
                   **extra: Any) -> None: ...

        def qname(self, *parts: Any) -> str: ...

    def w_scrape(self, rep: int) -> None:
        """
        The scrape cost (L{bench.scrape}): each scrape's longest reactor gap
        and the idle gap, their medians over the repetition's scrapes
        recorded; every queue's message must have been delivered.
        """
        assert self.drivers is not None
        size = self.sizes["scrape"]
        label = summary.scrape_label(size["queues"])
        workload, server = summary.SCRAPE_WORKLOAD, summary.SCRAPE_SERVER
        with self.guarded(workload, label, rep):
            got = self.drivers.run("scrape", {"op": "scrape", **size}, timeout=300 + size["scrapes"] * 10)
            if got["delivered"] != size["queues"]:
                self.problem(workload, label, rep,
                             f"{got['delivered']} of {size['queues']} queues' messages delivered")
                return
            held, idle = statistics.median(got["held_ms"]), statistics.median(got["idle_ms"])
            self.record(workload, server, label, rep, summary.SCRAPE_HELD, held)
            self.record(workload, server, label, rep, summary.SCRAPE_IDLE, idle)
            self.record(workload, server, label, rep, "lines", got["lines"])
            self.extra["scrapes"].append({"rep": rep, "queues": size["queues"], "held_ms": got["held_ms"],
                                          "idle_ms": got["idle_ms"], "bytes": got["bytes"]})
            say(f"scrape cost on {size['queues']} queues: the reactor held {held:.1f} ms (median of "
                f"{len(got['held_ms'])} scrapes, max {max(got['held_ms']):.1f} ms), idle gap {idle:.1f} ms, "
                f"{got['lines']} lines")

    def w_scale(self, rep: int) -> None:
        """
        One daemon on many discovered queues with WebSocket push
        (L{bench.scale}): every message posted must reach its handler
        once, and the daemon must exit 0 on SIGTERM.
        """
        assert self.drivers is not None
        if "gunicorn" not in self.args.servers:
            return
        size = self.sizes["scale"]
        srv = self.servers[PUSH_SERVER]
        label = summary.scale_label(size["queues"])
        workload, server = summary.SCALE_WORKLOAD, "gunicorn"
        spec = {**size, "url": srv.url, "websocket_url": srv.websocket_url, "project": f"{self.project}-scale{rep}",
                "prefix": self.qname("scale", rep), "seed": rep,
                "daemon_args": ["--max-queues-per-page", str(SCALE_PAGE)]}
        timeout = 1800 + size["queues"] * 0.2 + size["new"] * size["discovery_interval"] * 3
        with self.guarded(workload, label, rep):
            got = self.drivers.run("scale", {"op": "scale", **spec}, timeout=timeout)
            wrong = []
            if got["missing"] or got["duplicates"] or got["strangers"]:
                wrong.append(f"missing {got['missing']}, delivered twice {got['duplicates']}, "
                             f"never posted {got['strangers']}")
            if got["daemon_exit"] not in (0, -signal.SIGTERM):  # twistd ends by the signal it was stopped by
                wrong.append(f"the daemon exited {got['daemon_exit']} on SIGTERM: {got['log_tail'][-500:]}")
            for what in wrong:
                self.problem(workload, label, rep, what)
            if wrong:
                return
            record = partial(self.record, workload, server, label, rep)
            record(summary.SCALE_IDLE, got["idle_req_s"])
            record("idle WebSocket req/s", got["idle_websocket_req_s"])
            record(summary.SCALE_RSS, got["VmHWM"] / 1024)
            record("peak RSS MiB once every queue was up", got["up_memory_kib"]["VmHWM"] / 1024)
            record("RSS MiB in the idle window", got["idle_memory_kib"]["VmRSS"] / 1024)
            record("RSS MiB after the scrapes", got["VmRSS"] / 1024)
            record(summary.SCALE_SCRAPE, statistics.median(got["scrape_ms"]))
            record(summary.SCALE_NEW, max(got["new_s"]) - got["discovery_interval"])
            record("new queue: creation -> delivery s (max)", max(got["new_s"]))
            record("push: post -> delivery s (max of probes)", max(got["probe_s"]))
            record("s until every queue up", got["up_s"])
            record("s to create the queues", got["created_s"])
            self.extra["scale"].append({"rep": rep, **{k: v for k, v in got.items() if k != "log_tail"}})
            say(f"scale: {got['queues']} queues up in {got['up_s']:.0f} s; idle {got['idle_req_s']:.2f} req/s "
                f"({got['idle_http_by_operation']}, WebSocket {got['idle_websocket_req_s']:.2f}); peak RSS "
                f"{got['VmHWM'] / 1024:.0f} MiB; scrape {statistics.median(got['scrape_ms']):.0f} ms; new queue "
                f"consumed in {max(got['new_s']):.1f} s (interval {got['discovery_interval']:.0f} s)")
