"""
The five scenarios of the reliability suite.  Each adds its figures to a
L{Report} and checks what must hold: nothing lost; every duplicate
explained by the proxy's log (L{tracing}); every processed message's
acknowledgement sent, and none lost before its retries ran out; no
message stored twice; resumption within one backoff step; every wait
ended by a deadline (L{Waits}).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from typing import Any

import attr
from twisted.internet.defer import Deferred, maybeDeferred

import txzaqar
from txzaqar.api.values import PartialPostError
from txzaqar.errors import ZaqarError
from txzaqar.testing.faults import FAULT_KINDS, FORWARDED_KINDS, FaultProxy, FaultSchedule, ProxiedRequest

from .stack import PROJECT, Report, Stack, Waits, WaitTimedOut, sleep
from .tracing import (
    ACK_NOT_RETRIED,
    ATTEMPTS,
    CLAIM_TTL,
    LOST_BEFORE_RETRIES,
    LOST_WITH_RETRIES_LEFT,
    NOT_SENT,
    SAME_CLAIM,
    UNEXPLAINED,
    Acknowledgement,
    AckTrace,
    Delivery,
    deleted_ids,
    stable_identity,
)

#: The clients' request timeout: a stall costs this, not minutes.
TIMEOUT = 2.0
#: The faults that stop a request before it reaches Zaqar.
NOT_FORWARDED = ("refused", "reset_before", "unavailable", "bad_gateway_html")
#: Seconds from its start during which the Subscribers scenario faults
#: requests: its first pass, well before the claims it faulted expire.
FAULT_WINDOW = CLAIM_TTL - 10.0
#: Seconds after a delivery by which its acknowledgement's attempts are
#: over (C{ATTEMPTS} of at most C{TIMEOUT} each, with under a second of
#: backoff, after C{ack_delay}), with a margin.
SETTLED_AFTER = ATTEMPTS * TIMEOUT + 4.0


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
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def _add_faults(report: Report, name: str, proxy: FaultProxy) -> None:
    """The faults injected: the total, then one row per kind (the table stays narrow)."""
    counts = proxy.counts()
    report.add(name, "faults injected", f"{sum(counts.values()):,} of {proxy.received:,} requests")
    for kind, count in sorted(counts.items()):
        report.add(name, f"fault: {kind}", count)


async def subscribers(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report, waits: Waits) -> None:
    """
    Subscribers on 3 queues behind the proxy with 20 % of requests
    faulted during the first L{FAULT_WINDOW} seconds (every message is
    claimed by then; those of a claim whose answer was lost come back,
    unfaulted, when it expires: one expiry, not a chance of several).
    """
    await _consume(reactor, stack, waits, report, "Subscribers, 3 queues, 20 % faulted", f"rel-sub-{seed}",
                   sizes.messages_per_queue, sizes.deadline, seed, 0.2, FAULT_KINDS, first_acks_only=False,
                   window=FAULT_WINDOW)


async def acks(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report, waits: Waits) -> None:
    """
    Subscribers on 3 queues with 60 % of the attempts at acknowledging a
    message's first delivery stopped before Zaqar (and nothing else
    faulted), so that some acknowledgements are lost after all their
    retries: those messages come back once, when their claim expires, and
    every duplicate must be explained by the proxy's log.
    """
    await _consume(reactor, stack, waits, report, "Subscribers, 60 % of acks stopped", f"rel-acks-{seed}",
                   max(30, sizes.messages_per_queue // 4), sizes.deadline, seed + 2, 0.6, NOT_FORWARDED,
                   first_acks_only=True)


async def _consume(reactor: Any, stack: Stack, waits: Waits, report: Report, name: str, prefix: str,
                   per_queue: int, deadline: float, seed: int, rate: float, kinds: tuple[str, ...], *,
                   first_acks_only: bool, window: float = math.inf) -> None:
    """
    Subscribers on 3 queues of I{per_queue} messages through a proxy
    faulting I{rate} of the requests made in the first I{window} seconds
    (with I{first_acks_only}: of the DELETEs acknowledging a message's
    first delivery, and nothing else); then the checks of the module
    docstring.
    """
    names: dict[str, str] = {}  # message id -> "queue/i", the same in every run
    delivered: Counter[str] = Counter()  # message id -> deliveries so far
    started = math.inf

    def applies(method: str, path: str) -> bool:
        if reactor.seconds() - started >= window:
            return False
        if not first_acks_only:
            return True
        ids = deleted_ids(method, path)
        return bool(ids) and all(delivered[i] <= 1 for i in ids)

    schedule = FaultSchedule(seed, rate, kinds, applies=applies, identify=stable_identity(names))
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
        key = (message.body["q"], message.body["i"])
        names[message.id] = f"{key[0]}/{key[1]}"
        delivered[message.id] += 1
        deliveries.append(Delivery(key, message.id, message.claim_id, reactor.seconds()))

    client = _connect(reactor, proxy.url, timeout=TIMEOUT)
    attempts = 1 + int(getattr(client.connection, "retries", ATTEMPTS - 1))
    subscriber = client.subscriber(batch=10, concurrency=20, claim_ttl=CLAIM_TTL, grace=60,
                                   poll_interval=0.2, max_interval=2.0, ack_delay=0.2)
    for q in queues:
        subscriber.subscribe(q, handle)
    started = reactor.seconds()
    subscriber.startService()
    left = -1
    stats_errors = 0
    stopped_early: list[tuple[Delivery, Acknowledgement]] = []
    waited_out = False
    waits.current = "every message processed and the queues empty"
    while True:
        if reactor.seconds() - started >= deadline:
            waited_out = True
            break
        await sleep(reactor, 1.0)
        if {d.key for d in deliveries} >= expected:
            # Fail fast: an acknowledgement settled long enough ago (its
            # retries would be over) and lost before its retries ran out
            # has already failed the scenario; waiting for its claim to
            # expire would only cost time.
            settled = reactor.seconds() - SETTLED_AFTER
            stopped_early = [(d, a) for d, a in AckTrace(proxy.log, attempts).outcomes(deliveries, settled)
                             if a.outcome == LOST_BEFORE_RETRIES]
            if stopped_early:
                break
            try:
                left = sum([(await direct.queue(q).stats()).total for q in queues])
            except ZaqarError:
                # Zaqar 23 on Redis sometimes answers 503 "Queue stats
                # could not be read" while claims expire: ask again later
                stats_errors += 1
                continue
            if left == 0:
                break
    await waits.on(maybeDeferred(subscriber.stopService), 60, "the Subscriber to stop")
    elapsed = reactor.seconds() - started
    await proxy.stop()
    trace = AckTrace(proxy.log, attempts)
    reasons = trace.redeliveries(deliveries)
    outcomes = trace.outcomes(deliveries)
    seen = {d.key for d in deliveries}
    lost = len(expected - seen)
    _add_faults(report, name, proxy)
    report.add(name, "messages", len(expected))
    report.add(name, "processed at least once", len(seen & expected))
    report.add(name, "lost", lost)
    report.add(name, "duplicated", f"{sum(reasons.values())} ({_kinds(reasons)})")
    report.add(name, "acknowledgements", f"{len(outcomes):,} ({_kinds(Counter(a.outcome for _, a in outcomes))})")
    if stopped_early:
        report.add(name, "left on the server", "not waited for (an acknowledgement was lost with retries left)")
    else:
        report.add(name, "left on the server", left)
    if stats_errors:
        report.add(name, "unfaulted stats reads Zaqar answered 503", stats_errors)
    report.add(name, "took", f"{elapsed:.0f} s")
    report.check(not waited_out, f"{name}: gave up after {deadline:g} s waiting for every message to be processed "
                 f"and the queues to empty ({len(seen & expected)} of {len(expected)} processed, "
                 f"{left if left >= 0 else 'unknown'} left)")
    report.check(lost == 0, f"{name}: {lost} messages never processed")
    report.check(left == 0 or bool(stopped_early) or waited_out, f"{name}: {left} messages left on the server")
    report.check(reasons[SAME_CLAIM] == 0, f"{name}: {reasons[SAME_CLAIM]} redelivered under a valid claim")
    report.check(reasons[UNEXPLAINED] == 0, f"{name}: {reasons[UNEXPLAINED]} unexplained duplicates")
    report.check(reasons[ACK_NOT_RETRIED] == 0, f"{name}: {reasons[ACK_NOT_RETRIED]} duplicates of messages "
                 "whose acknowledgement was not retried")
    report.check(not stopped_early or any(a.outcome == LOST_BEFORE_RETRIES for _, a in outcomes),
                 f"{name}: stopped waiting at an acknowledgement with too few attempts {SETTLED_AFTER:g} s after "
                 "its delivery, but its retries came later: the machine is too slow for SETTLED_AFTER")
    for outcome, what in ((LOST_BEFORE_RETRIES, f"{LOST_WITH_RETRIES_LEFT} (fewer than {attempts} attempts, "
                                                "none answered by Zaqar)"),
                          (NOT_SENT, "processed messages never acknowledged")):
        bad = [(d, a) for d, a in outcomes if a.outcome == outcome]
        examples = "; ".join(f"{d.name} ({a.describe()})" for d, a in bad[:3])
        report.check(not bad, f"{name}: {len(bad)} {what}: {examples}{'; ...' if len(bad) > 3 else ''}")
    for q in queues:
        await direct.queue(q).delete()
    await client.close()
    await direct.close()


def _posted_keys(entry: ProxiedRequest) -> set[tuple[int, int]]:
    try:
        docs = json.loads(entry.body)
    except ValueError:
        return set()
    docs = docs.get("messages", docs) if isinstance(docs, dict) else docs
    return {(d["body"]["p"], d["body"]["j"]) for d in docs if isinstance(d, dict) and "body" in d}


async def posting(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report, waits: Waits) -> None:
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


async def restarts(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report, waits: Waits) -> None:
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

    production = Deferred.fromCoroutine(produce())
    per_phase = sizes.restart_messages // 3
    # posts go one at a time, some 20 a second or more: generous deadlines
    posting_time = max(120.0, per_phase / 2)
    try:
        await waits.until(lambda: len(stored) >= per_phase, posting_time, f"{per_phase} posts acknowledged")
        t0 = reactor.seconds()
        await waits.on(stack.stop_zaqar(), 120, "Zaqar to stop")
        await waits.on(stack.start_zaqar(), 120, "Zaqar to start again")
        zaqar_down = reactor.seconds() - t0
        await waits.until(lambda: len(stored) >= 2 * per_phase, posting_time,
                          f"{2 * per_phase} posts acknowledged (after Zaqar's restart)")
        t0 = reactor.seconds()
        await waits.on(stack.restart_redis(), 120, "Redis to restart")
        redis_down = reactor.seconds() - t0
        await waits.until(lambda: len(stored) >= 3 * per_phase, posting_time,
                          f"{3 * per_phase} posts acknowledged (after Redis's restart)")
    finally:
        done = True
    await waits.on(production, 60, "the producer's last post")
    try:
        await waits.until(lambda: stored <= processed, 3 * CLAIM_TTL, "every acknowledged post to be processed",
                          interval=0.5)
    except WaitTimedOut as e:
        report.check(False, f"{name}: {e}")
    await waits.on(maybeDeferred(subscriber.stopService), 60, "the Subscriber to stop")
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


async def outage(reactor: Any, stack: Stack, sizes: Sizes, seed: int, report: Report, waits: Waits) -> None:
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
    await waits.on(stack.stop_zaqar(), 120, "Zaqar to stop")
    await sleep(reactor, sizes.outage)
    await waits.on(stack.start_zaqar(), 120, "Zaqar to start again")
    back = reactor.seconds()
    for q in queues:
        await direct.queue(q).post({"body": {"q": q}})
    try:
        await waits.until(lambda: got == set(queues), 10 * max_interval,
                          "each Subscriber's message after Zaqar's return")
    except WaitTimedOut as e:
        report.check(False, f"{name}: {e}")
    await waits.on(maybeDeferred(subscriber.stopService), 60, "the Subscriber to stop")
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
