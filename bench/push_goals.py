"""
The push rows of the benchmark (issue 11): which variants the latency and
many-queues workloads run, the driver spec of each, and the goals they are
checked against.  ``bench.run`` does the running and the table.

Latency variants, side by side with the polling clients in the same run
and on the same server (gunicorn with the notifier pipeline and Zaqar's
WebSocket transport):

* the official client in a busy loop (claim again at once after an empty
  claim): the fastest polling can get, at its idle cost;
* the Subscriber with ``client.subscriber(push="websocket")`` and with a
  ``WebhookPush`` (default polling settings: the safety net);
* the bare listeners (``bench.listeners``): a WebSocket connection and a
  webhook sink that only time-stamp each notification.  Their "p50"
  is post->notification, the physical limit the push rows are held to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from bench.stats import nearest_rank

OFFICIAL_01 = "official poll 0.1s"
OFFICIAL_1 = "official poll 1s"
BUSY = "official busy loop"
#: transport -> (Subscriber row, bare listener row)
PUSH_ROWS = {
    "websocket": ("txzaqar Subscriber push websocket", "bare WebSocket listener"),
    "webhook": ("txzaqar Subscriber push webhook", "bare webhook sink"),
}
#: Absolute p50 bounds on gunicorn, in ms.
P50_BOUND = {"websocket": 40.0, "webhook": 15.0}

#: (label, kind, settings) rows added to the latency workload.
LATENCY_VARIANTS: list[tuple[str, str, dict]] = [
    (BUSY, "official", {"interval": 0.0}),
    (PUSH_ROWS["websocket"][0], "push", {"push": "websocket"}),
    (PUSH_ROWS["webhook"][0], "push", {"push": "webhook"}),
    (PUSH_ROWS["websocket"][1], "listener", {"op": "websocket"}),
    (PUSH_ROWS["webhook"][1], "listener", {"op": "webhook"}),
]

#: The push sources the many-queues workload also runs with.
MANY_PUSH = ("websocket", "webhook")


#: Run back to back in every repetition (which first alternates), so that the rows a goal
#: compares see the same load on the machine: the rate-matched Subscriber and the official
#: client, each push Subscriber and its transport's bare listener.
PAIRS = [(OFFICIAL_01, "txzaqar Subscriber poll 0.115s"), *PUSH_ROWS.values()]


def paired(variants: list[tuple[str, str, dict]], rep: int) -> list[tuple[str, str, dict]]:
    """``variants`` in their order, but each of L{PAIRS} together where the first of it was."""
    out = list(variants)
    for pair in PAIRS:
        members = sorted((v for v in out if v[0] in pair), key=lambda v: pair.index(v[0]))
        if len(members) != 2:
            continue
        if rep % 2:
            members.reverse()
        at = min(out.index(m) for m in members)
        out = [v for v in out if v[0] not in pair]
        out[at:at] = members
    return out


def pooled_difference(latencies: list[dict], a: str, b: str, q: float) -> float | None:
    """
    The ``q`` percentile of ``a``'s post->callback latencies minus ``b``'s, each
    over every repetition's messages together (``latencies``: the run's
    ``{"variant", "rep", "ms"}`` records); ``None`` when one has none.
    """
    pools: dict[str, list[float]] = {a: [], b: []}
    for record in latencies:
        if record["variant"] in pools:
            pools[record["variant"]].extend(record["ms"])
    if not pools[a] or not pools[b]:
        return None
    return nearest_rank(pools[a], q) - nearest_rank(pools[b], q)


def latency_spec(kind: str, settings: dict, *, url: str, project: str, queue: str, websocket_url: str,
                 expect: int, deadline: float) -> dict:
    """The driver spec of one latency variant (``kind``: official, tx, push or listener)."""
    spec: dict[str, Any] = {"url": url, "project": project, "queue": queue, "expect": expect,
                            "deadline": deadline}
    if kind == "official":
        return {**spec, "op": "poll_latency", **settings}
    if kind == "tx":
        return {**spec, "op": "latency", "options": settings}
    if kind == "push":
        options = {k: v for k, v in settings.items() if k != "push"}
        return {**spec, "op": "latency", "push": settings["push"], "websocket_url": websocket_url,
                "options": options}
    if kind == "listener":
        return {**spec, "op": settings["op"], "websocket_url": websocket_url}
    raise ValueError(f"unknown latency kind {kind!r}")


class Goal(NamedTuple):
    """One goal for the summary to judge."""

    text: str
    measured: float | None
    ok: Callable[[float], bool]
    fmt: str
    #: about 1,000 idle queues: judged only on a run that used that many
    many_queues: bool = False


def _at_most(bound: float) -> Callable[[float], bool]:
    return lambda x: x <= bound


def goals(value: Callable[[str, str, str, str], float | None],
          ratio: Callable[[str, str, str, str, str], float | None], queues: int) -> list[Goal]:
    """
    The push goals, for the summary to judge.

    @param value: ``(workload, server, variant, metric)`` -> the median over repetitions.
    @param ratio: ``(workload, server, variant, metric, reference)`` -> the median
        of the per-repetition ratios.
    @param queues: The idle queues the many-queues workload used (the row labels carry it).
    """
    g = "gunicorn"
    out: list[Goal] = []

    def diff(a: str, b: str, metric: str) -> float | None:
        x, y = value("latency", g, a, metric), value("latency", g, b, metric)
        return None if x is None or y is None else x - y

    for transport, (row, bare) in PUSH_ROWS.items():
        out.append(Goal(f"{transport} push adds <= one claim: p50 post->callback within 8 ms of the bare "
                        "listener's post->notification",
                        diff(row, bare, "p50 ms"), _at_most(8), "{:+.1f} ms"))
        out.append(Goal(f"{transport} push adds <= one claim: p99 within 20 ms of the bare listener's",
                        diff(row, bare, "p99 ms"), _at_most(20), "{:+.1f} ms"))
        bound = P50_BOUND[transport]
        out.append(Goal(f"{transport} push: p50 post->callback <= {bound:.0f} ms",
                        value("latency", g, row, "p50 ms"), _at_most(bound), "{:.1f} ms"))
        out.append(Goal(f"{transport} push: p50 at least 2x better than {OFFICIAL_01}",
                        ratio("latency", g, row, "p50 ms", OFFICIAL_01), _at_most(0.5), "x{:.2f}"))
        out.append(Goal(f"{transport} push: idle req/s at most 1/100 of {OFFICIAL_01}",
                        ratio("latency", g, row, "idle req/s", OFFICIAL_01), _at_most(0.01), "x{:.3f}"))
        out.append(Goal(f"{transport} push: idle <= 0.05 HTTP requests/s per queue (the safety poll)",
                        value("latency", g, row, "idle req/s"), _at_most(0.05), "{:.3f} req/s"))
        out.append(Goal(f"{transport} push: idle client CPU no higher than {OFFICIAL_1}",
                        diff(row, OFFICIAL_1, "idle client CPU %"), _at_most(0), "{:+.3f} points"))
    for transport in MANY_PUSH:
        measured = value("many queues", g, f"Subscriber with {transport} push on {queues} idle queues",
                         "req/s backed off")
        out.append(Goal(f"1,000 idle queues with {transport} push: <= 5 requests/s",
                        measured, _at_most(5), "{:.2f} req/s", many_queues=True))
    return out
