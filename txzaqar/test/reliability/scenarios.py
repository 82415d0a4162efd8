"""
The four scenarios of the reliability suite.  Each adds its figures to a
L{Report} and checks what must hold (nothing lost, no unexplained
duplicate, no message stored twice, resumption within one backoff step).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import attr

import txzaqar
from txzaqar.errors import ZaqarError
from txzaqar.queue_values import PartialPostError
from txzaqar.testing.faults import FORWARDED_KINDS, FaultProxy, FaultSchedule, ProxiedRequest

from .stack import PROJECT, Report, Stack, sleep

#: The clients' request timeout: a stall costs this, not minutes.
TIMEOUT = 2.0
#: The claim ttl of the Subscribers (Zaqar's minimum).
CLAIM_TTL = 60
#: The faults that stop a request before it reaches Zaqar.
NOT_FORWARDED = ("refused", "reset_before", "unavailable", "bad_gateway_html")


@attr.s(frozen=True, auto_attribs=True)
class Sizes:
    """How much each scenario does."""

    messages_per_queue: int
    posts: int
    restart_messages: int
    outage: float
    deadline: float  # seconds the Subscriber scenario may take at most


CI = Sizes(messages_per_queue=100, posts=60, restart_messages=150, outage=10.0, deadline=240.0)
FULL = Sizes(messages_per_queue=1000, posts=500, restart_messages=1500, outage=60.0, deadline=900.0)


def _connect(reactor: Any, url: str, **kwargs: Any) -> Any:
    return txzaqar.connect(url, project_id=PROJECT, reactor=reactor, **kwargs)


def _kinds(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _add_faults(report: Report, name: str, proxy: FaultProxy) -> None:
    """The faults injected: the total, then one row per kind (the table stays narrow)."""
    counts = proxy.counts()
    report.add(name, "faults injected", f"{sum(counts.values()):,} of {proxy.received:,} requests")
    for kind, count in sorted(counts.items()):
        report.add(name, f"fault: {kind}", count)


@attr.s(frozen=True, auto_attribs=True)
class Delivery:
    key: tuple[str, int]
    id: str
    claim_id: str | None
    at: float


def explain(first: Delivery, again: Delivery, log: list[ProxiedRequest]) -> str:
    """
    Why I{again} redelivered I{first}'s message, from the proxy's log:
    C{"same claim"} (a violation), C{"ack lost"}, C{"claim released"},
    C{"claim expired"} or C{"unexplained"}.
    """
    if first.claim_id is not None and first.claim_id == again.claim_id:
        return "same claim"
    deletes = [e for e in log if e.method == "DELETE" and first.id in e.path and first.at <= e.received <= again.at]
    acked = [e for e in deletes if e.fault not in NOT_FORWARDED
             and e.upstream_status is not None and e.upstream_status < 300]
    if deletes and not acked:
        return "ack lost"
    if first.claim_id and any(
        e.method == "DELETE" and f"/claims/{first.claim_id}" in e.path and e.upstream_status is not None
        for e in log
    ):
        return "claim released"
    if again.at - first.at >= CLAIM_TTL - 5:
        return "claim expired"
    return "unexplained"


async def subscribers(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report) -> None:
    """Subscribers on 3 queues behind the proxy with 20 % of requests faulted."""
    await _consume(reactor, stack, sizes.messages_per_queue, sizes.deadline, report,
                   "Subscribers, 3 queues, 20 % faulted", f"rel-sub-{seed}", FaultSchedule(seed, 0.2))


async def acks(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report) -> None:
    """
    Subscribers on 3 queues with 60 % of the acknowledging DELETEs stopped
    before Zaqar (so some acknowledgements are lost after every retry):
    the duplicates this makes must all be explained by the proxy's log.
    """
    schedule = FaultSchedule(seed + 2, 0.6, NOT_FORWARDED, applies=lambda method, path: method == "DELETE")
    await _consume(reactor, stack, max(30, sizes.messages_per_queue // 4), sizes.deadline, report,
                   "Subscribers, 60 % of acks stopped", f"rel-acks-{seed}", schedule)


async def _consume(reactor: Any, stack: Stack, per_queue: int, deadline: float, report: Report,
                   name: str, prefix: str, schedule: FaultSchedule) -> None:
    proxy = FaultProxy(stack.url, schedule, reactor, stall_limit=10)
    proxy.listen()
    direct = _connect(reactor, stack.url)
    queues = [f"{prefix}-{i}" for i in range(3)]
    expected: set[tuple[str, int]] = set()
    for q in queues:
        await direct.queue(q).create()
        docs = [{"body": {"q": q, "i": i}, "ttl": 3600} for i in range(per_queue)]
        await direct.queue(q).post(docs)
        expected |= {(q, i) for i in range(per_queue)}
    deliveries: list[Delivery] = []

    def handle(message: Any) -> None:
        deliveries.append(Delivery((message.body["q"], message.body["i"]), message.id, message.claim_id,
                                   reactor.seconds()))

    client = _connect(reactor, proxy.url, timeout=TIMEOUT)
    subscriber = client.subscriber(batch=10, concurrency=20, claim_ttl=CLAIM_TTL, grace=60,
                                   poll_interval=0.2, max_interval=2.0, ack_delay=0.2)
    for q in queues:
        subscriber.subscribe(q, handle)
    started = reactor.seconds()
    subscriber.startService()
    left = -1
    stats_errors = 0
    while reactor.seconds() - started < deadline:
        await sleep(reactor, 1.0)
        if {d.key for d in deliveries} >= expected:
            try:
                left = sum([(await direct.queue(q).stats()).total for q in queues])
            except ZaqarError:
                # Zaqar 23 on Redis sometimes answers 503 "Queue stats
                # could not be read" while claims expire: ask again later
                stats_errors += 1
                continue
            if left == 0:
                break
    await subscriber.stopService()
    elapsed = reactor.seconds() - started
    await proxy.stop()
    seen: dict[tuple[str, int], Delivery] = {}
    reasons: Counter[str] = Counter()
    for d in deliveries:
        if d.key in seen:
            reasons[explain(seen[d.key], d, proxy.log)] += 1
        seen[d.key] = d
    lost = len(expected - set(seen))
    duplicates = sum(reasons.values())
    _add_faults(report, name, proxy)
    report.add(name, "messages", len(expected))
    report.add(name, "processed at least once", len(set(seen) & expected))
    report.add(name, "lost", lost)
    report.add(name, "duplicated", f"{duplicates} ({_kinds(reasons)})")
    report.add(name, "left on the server", left)
    if stats_errors:
        report.add(name, "unfaulted stats reads Zaqar answered 503", stats_errors)
    report.add(name, "took", f"{elapsed:.0f} s")
    unexplained = reasons["unexplained"] + reasons["same claim"]
    report.check(lost == 0, f"{name}: {lost} messages never processed")
    report.check(left == 0, f"{name}: {left} messages left on the server")
    report.check(reasons["same claim"] == 0, f"{name}: {reasons['same claim']} redelivered under a valid claim")
    report.check(unexplained == 0, f"{name}: {reasons['unexplained']} unexplained duplicates")
    for q in queues:
        await direct.queue(q).delete()
    await direct.close()


def _posted_keys(entry: ProxiedRequest) -> set[tuple[int, int]]:
    try:
        docs = json.loads(entry.body)
    except ValueError:
        return set()
    docs = docs.get("messages", docs) if isinstance(docs, dict) else docs
    return {(d["body"]["p"], d["body"]["j"]) for d in docs if isinstance(d, dict) and "body" in d}


async def posting(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report) -> None:
    """Posts (1 to 30 messages, so some take two requests) through the proxy, 20 % faulted."""
    name = "Posting, 20 % faulted"
    proxy = FaultProxy(stack.url, FaultSchedule(seed + 1, 0.2), reactor, stall_limit=10)
    proxy.listen()
    client = _connect(reactor, proxy.url, timeout=TIMEOUT)
    direct = _connect(reactor, stack.url)
    queue = f"rel-post-{seed}"
    await direct.queue(queue).create()
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    returned: dict[str, tuple[int, int]] = {}  # id -> key, from posts that succeeded or partly did
    failed_keys: set[tuple[int, int]] = set()  # keys the client was told were not stored (or not known)
    for p in range(sizes.posts):
        docs = [{"body": {"p": p, "j": j}, "ttl": 3600} for j in range(rng.randint(1, 30))]
        try:
            ids = await client.queue(queue).post(docs)
        except PartialPostError as e:
            outcomes["partial"] += 1
            returned.update(zip(e.posted_ids, [(p, j) for j in range(len(e.posted_ids))], strict=True))
            failed_keys |= {(p, d["body"]["j"]) for d in e.unposted}
        except ZaqarError:
            outcomes["raised"] += 1
            failed_keys |= {(p, j) for j in range(len(docs))}
        else:
            outcomes["ok"] += 1
            returned.update(zip(ids, [(p, j) for j in range(len(docs))], strict=True))
    await proxy.stop()
    stored = await direct.queue(queue).messages(limit=20, echo=True, include_claimed=True)
    copies: Counter[tuple[int, int]] = Counter()
    by_id: dict[str, tuple[int, int]] = {}
    for m in stored:
        key = (m.body["p"], m.body["j"])
        copies[key] += 1
        by_id[m.id] = key
    wrong = sum(1 for i, key in returned.items() if by_id.get(i) != key)
    twice = sum(1 for n in copies.values() if n > 1)
    # Stored although the client was told otherwise: only where a POST
    # carrying it reached Zaqar and its answer was faulted (ambiguous).
    forwarded: set[tuple[int, int]] = set()
    for entry in proxy.requests("POST", "/messages"):
        if entry.fault in FORWARDED_KINDS and entry.forwarded:
            forwarded |= _posted_keys(entry)
    surprise = {k for k in failed_keys if copies[k]}
    unexplained = surprise - forwarded
    report.add(name, "posts", f"{sizes.posts} ({_kinds(outcomes)})")
    _add_faults(report, name, proxy)
    report.add(name, "messages stored", len(stored))
    report.add(name, "returned ids missing or wrong", wrong)
    report.add(name, "stored twice", twice)
    report.add(name, "reported not stored, but stored", f"{len(surprise)} (answer lost after Zaqar stored them: "
               f"{len(surprise & forwarded)})")
    report.check(wrong == 0, f"{name}: {wrong} returned ids not stored as posted")
    report.check(twice == 0, f"{name}: {twice} messages stored twice")
    report.check(not unexplained, f"{name}: {len(unexplained)} stored messages reported unsent, never forwarded")
    await direct.queue(queue).delete()
    await client.close()
    await direct.close()


async def restarts(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report) -> None:
    """A steady producer and a Subscriber while Zaqar, then Redis (append-only), restart."""
    name = "Zaqar and Redis restarted"
    queue = f"rel-restart-{seed}"
    direct = _connect(reactor, stack.url)
    await direct.queue(queue).create()
    producer = _connect(reactor, stack.url, timeout=TIMEOUT)
    processed: set[int] = set()
    deliveries = 0

    def handle(message: Any) -> None:
        nonlocal deliveries
        deliveries += 1
        processed.add(message.body["k"])

    consumer = _connect(reactor, stack.url, timeout=TIMEOUT)
    subscriber = consumer.subscriber(batch=10, concurrency=20, claim_ttl=CLAIM_TTL, poll_interval=0.2,
                                     max_interval=1.0, ack_delay=0.2)
    subscriber.subscribe(queue, handle)
    subscriber.startService()
    stored: set[int] = set()
    failed = 0
    done = False

    async def produce() -> None:
        nonlocal failed
        k = 0
        while not done:
            try:
                await producer.queue(queue).post({"body": {"k": k}, "ttl": 3600})
                stored.add(k)
            except ZaqarError:
                failed += 1
                await sleep(reactor, 0.1)
            k += 1

    from twisted.internet.defer import Deferred

    production = Deferred.fromCoroutine(produce())
    per_phase = sizes.restart_messages // 3

    async def until(count: int) -> None:
        while len(stored) < count:
            await sleep(reactor, 0.05)

    await until(per_phase)
    t0 = reactor.seconds()
    await stack.stop_zaqar()
    await stack.start_zaqar()
    zaqar_down = reactor.seconds() - t0
    await until(2 * per_phase)
    t0 = reactor.seconds()
    await stack.restart_redis()
    redis_down = reactor.seconds() - t0
    await until(3 * per_phase)
    done = True
    await production
    started = reactor.seconds()
    while not stored <= processed and reactor.seconds() - started < 3 * CLAIM_TTL:
        await sleep(reactor, 0.5)
    await subscriber.stopService()
    lost = len(stored - processed)
    report.add(name, "restarts (stop to answering)", f"Zaqar {zaqar_down:.1f} s, Redis {redis_down:.1f} s")
    report.add(name, "posts acknowledged / raised", f"{len(stored)} / {failed}")
    report.add(name, "processed", len(stored & processed))
    report.add(name, "lost", lost)
    report.add(name, "deliveries beyond one per message", deliveries - len(processed))
    report.check(lost == 0, f"{name}: {lost} acknowledged posts never processed")
    await direct.queue(queue).delete()
    await producer.close()
    await direct.close()


async def outage(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report) -> None:
    """Zaqar down for C{sizes.outage} s under 3 idle Subscribers: each resumes within one backoff step."""
    name = f"{sizes.outage:.0f} s outage"
    max_interval = 5.0
    proxy = FaultProxy(stack.url, FaultSchedule(seed, 0.0), reactor)
    proxy.listen()
    direct = _connect(reactor, stack.url)
    queues = [f"rel-outage-{seed}-{i}" for i in range(3)]
    for q in queues:
        await direct.queue(q).create()
    got: set[str] = set()
    client = _connect(reactor, proxy.url, timeout=TIMEOUT)
    subscriber = client.subscriber(poll_interval=1.0, max_interval=max_interval)
    for q in queues:
        subscriber.subscribe(q, lambda m: got.add(m.body["q"]))
    subscriber.startService()
    await sleep(reactor, 2 * max_interval)
    await stack.stop_zaqar()
    await sleep(reactor, sizes.outage)
    await stack.start_zaqar()
    back = reactor.seconds()
    for q in queues:
        await direct.queue(q).post({"body": {"q": q}})
    while got != set(queues) and reactor.seconds() - back < 10 * max_interval:
        await sleep(reactor, 0.2)
    await subscriber.stopService()
    await proxy.stop()
    delays = []
    for q in queues:
        answered = [e.received for e in proxy.requests(contains=f"/queues/{q}/")
                    if e.received >= back and e.forwarded]
        delays.append(answered[0] - back if answered else float("inf"))
    worst = max(delays)
    # One backoff step is at most max_interval; the margin allows for the
    # request itself and a loaded machine.
    limit = max_interval * 1.5 + TIMEOUT
    report.add(name, "Subscribers resumed", f"{len(got)} of {len(queues)}")
    report.add(name, "first answered poll after the return",
               "worst " + (f"{worst:.1f} s" if worst != float("inf") else "never")
               + f" (max_interval {max_interval:g} s)")
    report.check(got == set(queues), f"{name}: only {sorted(got)} got their message after the return")
    report.check(worst <= limit, f"{name}: a Subscriber took {worst:.1f} s to resume (limit {limit:g} s)")
    for q in queues:
        await direct.queue(q).delete()
    await direct.close()
