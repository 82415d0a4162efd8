"""
The backlog gauges of L{txzaqar.ops.metrics}: Zaqar's stats of each
subscribed queue, read by a L{QueueStatsRefresher} (paced, so that many
queues do not make many requests) into a L{QueueBacklog}, which a scrape
shows without sending a request.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import Logger

from ..errors import ZaqarError

#: The metrics' logger (namespace C{txzaqar.metrics}, as operators' filters know it).
log = Logger(namespace="txzaqar.metrics")


class QueueBacklog:
    """
    What the last refresh of Zaqar's queue stats found (a
    L{QueueStatsRefresher} fills it; L{SubscriberMetrics} shows it): per
    queue, its L{txzaqar.api.values.QueueStats} and when it was read, the
    refreshes that failed, and the messages seen moved to a dead-letter queue.
    """

    def __init__(self) -> None:
        #: C{{queue: (QueueStats, when)}}: the last stats read of each queue, and the clock's time then.
        self.stats: dict[str, tuple[Any, float]] = {}
        #: C{{queue: count}}: stats requests of each queue that failed.
        self.errors: dict[str, int] = {}
        #: C{{(queue, dead_letter_queue): count}}: messages seen arriving in the queue's dead-letter queue.
        self.dead_lettered: dict[tuple[str, str], int] = {}


class QueueStatsRefresher(Service):
    """
    Reads Zaqar's stats of every subscribed queue (and of the dead-letter
    queues the subscriber configured) every C{interval} seconds into a
    L{QueueBacklog}, so that a scrape never causes a request: at most one
    stats request per queue per interval (a refresh that takes longer than
    the interval delays the next one), C{parallel} at a time, and at most
    C{rate} requests started per second: with more than C{interval * rate}
    queues a refresh takes C{queues / rate} seconds, so that the requests
    stay bounded however many queues there are.

    Dead-lettering: Zaqar moves a message to the dead-letter queue inside
    a later claim, and its answer to a claim carries no claim count, so the
    client cannot see a message move.  What it can see is the dead-letter
    queue's total growing between two refreshes: that growth is counted
    (for each queue that names that dead-letter queue) and logged, one
    warning per refresh that saw some.  It is a lower bound: messages
    removed from the dead-letter queue in the same interval hide as many
    moves, and the first refresh only sets the baseline.

    @param subscriber: the L{txzaqar.subscriber.Subscriber} (its C{client}
        reads the stats).
    @param backlog: where the stats go (C{subscriber.metrics.backlog}).
    @param interval: seconds between refreshes.
    @param clock: the clock of the refreshes (the subscriber's reactor).
    @param rate: the most stats requests started per second (C{None}: no limit).
    """

    def __init__(self, subscriber: Any, backlog: QueueBacklog, interval: float, clock: Any,
                 parallel: int = 4, rate: float | None = None) -> None:
        self._rate = rate
        self._subscriber = subscriber
        self._backlog = backlog
        self._interval = interval
        self._clock = clock
        self._parallel = DeferredSemaphore(parallel)
        self._loop: LoopingCall | None = None
        self._failing: set[str] = set()

    def startService(self) -> None:
        """Refresh now, then every C{interval} seconds."""
        super().startService()
        loop = self._loop = LoopingCall(lambda: Deferred.fromCoroutine(self.refresh()))
        loop.clock = self._clock
        loop.start(self._interval, now=True).addErrback(
            lambda f: log.failure("refreshing the queue stats stopped", f))

    def stopService(self) -> Deferred[None] | None:
        """Stop refreshing (a refresh under way ends on its own)."""
        super().stopService()
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()
        return None

    async def refresh(self) -> None:
        """Read the stats of every subscribed queue and dead-letter queue once."""
        dead = self._subscriber.dead_letter_queues()
        names = sorted(set(self._subscriber.channels) | set(dead.values()))
        before = {name: self._backlog.stats[name][0].total for name in dead.values()
                  if name in self._backlog.stats}
        for key in dead.items():  # the counter exists from the first scrape, before a paced refresh ends
            self._backlog.dead_lettered.setdefault(key, 0)
        reads = []
        for i, name in enumerate(names):
            if i and self._rate is not None:
                await deferLater(self._clock, 1 / self._rate, lambda: None)
                if not self.running:
                    break
            reads.append(self._parallel.run(self._one, name))
        await gatherResults(reads)
        for name in set(self._backlog.stats) - set(names):
            del self._backlog.stats[name]  # unsubscribed
        for queue, dlq in sorted(dead.items()):
            now = self._backlog.stats.get(dlq)
            if dlq not in before or now is None or now[0].total <= before[dlq]:
                continue
            moved = now[0].total - before[dlq]
            key = (queue, dlq)
            self._backlog.dead_lettered[key] = self._backlog.dead_lettered.get(key, 0) + moved
            log.warn("{count} message(s) of {queue} moved to its dead-letter queue {dlq} since the last "
                     "refresh ({before} -> {after} there)", count=moved, queue=queue, dlq=dlq,
                     before=before[dlq], after=now[0].total)

    def _one(self, name: str) -> Deferred[None]:
        return Deferred.fromCoroutine(self._read(name))

    async def _read(self, name: str) -> None:
        try:
            stats = await self._subscriber.client.queue(name).stats()
        except Exception as e:
            self._backlog.errors[name] = self._backlog.errors.get(name, 0) + 1
            if name not in self._failing:
                self._failing.add(name)
                log.warn("reading the stats of {queue} failed: {error}; its backlog gauges keep the last "
                         "values read", queue=name,
                         # a ZaqarError's text starts with its class name already
                         error=str(e) if isinstance(e, ZaqarError) else f"{type(e).__name__}: {e}")
            return
        if name in self._failing:
            self._failing.discard(name)
            log.info("reading the stats of {queue} works again", queue=name)
        self._backlog.stats[name] = (stats, self._clock.seconds())
