"""
Prometheus metrics of a L{txzaqar.subscriber.Subscriber}, with
prometheus-client, for the daemon and for library users alike::

    metrics = subscriber.metrics                  # or SubscriberMetrics(subscriber, registry)
    print(generate_latest(metrics.registry).decode())

Read at scrape time, from the subscriber's own state (no second count):

 - C{txzaqar_subscriber_<name>_total{queue}}: a counter for each name of
   L{txzaqar.subscriber.STATS} (polls, claimed, processed, acked, ...),
   from L{Subscriber.queue_stats};
 - C{txzaqar_subscriber_callbacks_in_flight{queue}}: callbacks running;
 - C{txzaqar_subscriber_backoff_seconds{queue}}: the delay before the
   next claim that errors caused (0 once a poll succeeds: a healthy idle
   queue reads 0, so it can be alerted on);
 - C{txzaqar_subscriber_poll_interval_seconds{queue}}: the delay before
   the next claim after a successful poll (the idle backoff, the safety
   interval while push is up; 0 while polls fail);
 - C{txzaqar_subscriber_ready}: 1 when L{Subscriber.health} says ready.

Observed as they happen (histograms):

 - C{txzaqar_subscriber_callback_duration_seconds{queue, outcome}},
   outcome C{ok}, C{failed}, C{timeout} or C{unprocessed};
 - C{txzaqar_subscriber_message_age_seconds{queue}}: a message's age
   (from its claim) when its callback is called;
 - C{txzaqar_request_duration_seconds{operation, status}}: every attempt
   of a request of the subscriber's client, by operation (the method and
   the operation the request names, such as C{POST queues/{queue}/claims};
   for a request that names none, its L{operation} read from its path) and
   HTTP status (C{error} when no answer came).

Each L{SubscriberMetrics} registers its metrics in a
C{prometheus_client.CollectorRegistry} of its own unless given one, so two subscribers in a
process do not collide; two on one registry do (prometheus-client refuses
the second's metric names).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, GCCollector, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.logger import Logger
from twisted.python.components import registerAdapter
from zope.interface import implementer

from ..interfaces import IConnection, IRequestObserver, ISubscriber, ISubscriberMetrics
from ._backlog import QueueBacklog, QueueStatsRefresher

__all__ = ["AGE_BUCKETS", "COUNTER_HELP", "DURATION_BUCKETS", "REQUEST_BUCKETS", "QueueBacklog", "QueueStatsRefresher",
           "SubscriberMetrics", "log", "operation"]

#: This module's logger.
log = Logger(namespace="txzaqar.metrics")  # its name before the move to packages

#: Callback durations, seconds: from a fast in-memory handler to a slow job.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0, float("inf"))
#: Message ages at delivery, seconds: from "just posted" to a backlog of days.
AGE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
               86400.0, float("inf"))
#: Request durations, seconds.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, float("inf"))

#: Path segments kept as they are in an operation; any other segment is a name or an id.
_KEYWORDS = frozenset({
    "v2", "queues", "messages", "claims", "subscriptions", "stats", "metadata", "share",
    "purge", "pools", "flavors", "ping", "health", "confirm", "topics",
})
#: What the segment after a keyword stands for.
_PLACEHOLDERS = {
    "queues": "{queue}",
    "messages": "{message_id}",
    "claims": "{claim_id}",
    "subscriptions": "{subscription_id}",
    "pools": "{pool}",
    "flavors": "{flavor}",
    "topics": "{topic}",
}


def operation(method: str, path: str) -> str:
    """
    The template of a request that names no operation (see
    L{txzaqar.interfaces.IConnection.request}), for a metric label: C{method} and C{path}
    with names and ids replaced by placeholders and the query left out::

        operation("POST", "queues/orders/claims")      == "POST queues/{queue}/claims"
        operation("DELETE", "/v2/queues/q/messages/1?claim_id=c")
                                                       == "DELETE queues/{queue}/messages/{message_id}"

    A segment that is not one of Zaqar's path words, and not after one
    that names it, becomes C{{id}}, so the labels stay few whatever the path.

    @param path: as given to L{txzaqar.http.connection.Connection.request}:
        relative to C{/v2/}, or absolute from the server root.
    """
    segments = [s for s in urlsplit(path).path.split("/") if s]
    if segments[:1] == ["v2"]:
        segments = segments[1:]
    template = []
    previous = None
    for segment in segments:
        if previous is not None and previous in _PLACEHOLDERS:
            template.append(_PLACEHOLDERS[previous])
            previous = None
            continue
        if segment in _KEYWORDS:
            template.append(segment)
            previous = segment
        else:
            template.append("{id}")
            previous = None
    return f"{method.upper()} {'/'.join(template)}"


#: The help text of each counter of L{txzaqar.subscriber.STATS}: what it counts (its unit).
COUNTER_HELP = {
    "polls": "Claim requests of the queue that Zaqar answered, empty or not (requests)",
    "empty_polls": "Claim requests of the queue that found nothing to claim (requests)",
    "poll_errors": "Claim (or queue configuration) requests of the queue that failed (requests)",
    "claimed": "Messages claimed from the queue (messages)",
    "processed": "Callbacks of the queue's messages that succeeded (messages)",
    "failed": "Callbacks of the queue's messages that failed or timed out (messages)",
    "timed_out": "Callbacks that ran past callback_timeout, also counted as processed or failed (messages)",
    "acked": "Messages deleted after their callback succeeded (messages)",
    "ack_failed": "Deletes of succeeded messages that failed: the message comes back (messages)",
    "renewed": "Claim renewals of the queue's claims (requests)",
    "renew_failed": "Claim renewals that failed (requests)",
    "released": "Messages given back to the queue by releasing their claim (messages)",
    "release_failed": "Claim releases that failed (requests)",
    "left_to_expire": "Messages that failed again, whose claim is left to run out (messages)",
    "notifications": "Wake-ups of the queue received: push notifications or wake() calls (wake-ups)",
    "wakeups": "Wake-ups that made a claim come sooner; the others were coalesced (wake-ups)",
    "push_fallbacks": "Times push went down for the queue and it was polled as usual again (events)",
    "push_reconnects": "Times push came back up for the queue after being down (events)",
    "push_missed": "Safety polls that found messages no notification had announced (polls)",
}


class _State:
    """What a scrape shows of a subscriber, read on the reactor thread (plain values, copied)."""

    def __init__(self, subscriber: Any, backlog: QueueBacklog) -> None:
        self.counters = subscriber.queue_stats()
        self.names = list(subscriber.stats)
        self.in_flight = subscriber.callbacks_in_flight()
        self.backoff = subscriber.backoff_delays()
        poll_intervals = getattr(subscriber, "poll_intervals", None)
        self.poll_intervals: dict[str, float] = poll_intervals() if poll_intervals is not None else {}
        self.ready = subscriber.health().ready
        self.push = subscriber.push_states()
        last_polls = getattr(subscriber, "last_polls", None)
        self.last_polls: dict[str, float | None] = last_polls() if last_polls is not None else {}
        settings = getattr(subscriber, "settings", None)
        self.concurrency = getattr(settings, "concurrency", None)
        self.threads = getattr(settings, "threads", None)
        self.busy = getattr(subscriber, "in_flight", None)
        self.stats = dict(backlog.stats)
        self.errors = dict(backlog.errors)
        self.dead_lettered = dict(backlog.dead_lettered)
        discovered = getattr(subscriber, "discovered", None)
        self.discovered: dict[str, str] | None = discovered() if discovered is not None else None
        self.discovery_errors = getattr(subscriber, "discovery_errors", None)
        push = getattr(subscriber, "push", None)
        #: (kind, requests) of a push source that sends requests of its own (WebSocket), or None
        sent = getattr(push, "requests_sent", None)
        self.push_requests = (push.kind, sent) if push is not None and isinstance(sent, int) else None


class _SubscriberCollector:
    """
    The counters and gauges read from the subscriber when scraped: read
    (L{read}) on the reactor thread, made into metric families anywhere
    (L{families}); L{collect} does both unless a L{read} was given to the
    thread it runs in (L{frozen}).
    """

    def __init__(self, subscriber: Any, backlog: QueueBacklog) -> None:
        self._subscriber = subscriber
        self._backlog = backlog
        self._given = threading.local()

    def read(self) -> _State:
        return _State(self._subscriber, self._backlog)

    @contextmanager
    def frozen(self, state: _State) -> Iterator[None]:
        """While in it, L{collect} in this thread shows C{state} (read earlier) instead of reading."""
        self._given.state = state
        try:
            yield
        finally:
            self._given.state = None

    def describe(self) -> list[Metric]:
        # the names, without reading the subscriber at registration
        return list(self._families(list(self._subscriber.stats)).values())

    def collect(self) -> Iterator[Metric]:
        state = getattr(self._given, "state", None)
        return iter(self.families(state if state is not None else self.read()))

    def families(self, state: _State) -> Iterator[Metric]:
        """
        Each family of C{state}, filled when its turn comes: a scrape of many
        queues holds the samples of one family at a time, not of all.
        """
        ordered = sorted(state.counters.items())
        for key, family in self._families(state.names).items():
            self._fill(key, family, state, ordered)
            yield family

    @staticmethod
    def _fill(key: str, family: Any, state: _State, counters: list[tuple[str, Any]]) -> None:
        if key in state.names:
            for queue, counts in counters:
                family.add_metric([queue], counts.get(key, 0))
        elif key in ("callbacks_in_flight", "backoff_seconds", "poll_interval"):
            values = {"callbacks_in_flight": state.in_flight, "backoff_seconds": state.backoff,
                      "poll_interval": state.poll_intervals}[key]
            for queue, value in sorted(values.items()):
                family.add_metric([queue], value)
        elif key == "ready":
            family.add_metric([], 1.0 if state.ready else 0.0)
        elif key in ("push_up", "push_configured"):
            for queue, push in sorted(state.push.items()):
                up = push == "up" if key == "push_up" else push != "off"
                family.add_metric([queue], 1.0 if up else 0.0)
        elif key == "last_poll":
            for queue, when in sorted(state.last_polls.items()):
                if when is not None:
                    family.add_metric([queue], when)
        elif key in ("concurrency", "threads", "in_flight"):
            value = {"concurrency": state.concurrency, "threads": state.threads, "in_flight": state.busy}[key]
            if isinstance(value, int):
                family.add_metric([], value)
        elif key in _BACKLOG:
            value = _BACKLOG[key]
            for queue, (stats, when) in sorted(state.stats.items()):
                family.add_metric([queue], value(stats, when))
        elif key == "stats_errors":
            for queue, count in sorted(state.errors.items()):
                family.add_metric([queue], count)
        elif key == "dead_lettered":
            for (queue, dlq), count in sorted(state.dead_lettered.items()):
                family.add_metric([queue, dlq], count)
        elif key == "discovered" and state.discovered is not None:
            per_pattern = Counter(state.discovered.values())
            for pattern in sorted(per_pattern):
                family.add_metric([pattern], per_pattern[pattern])
        elif key == "discovery_errors" and isinstance(state.discovery_errors, int):
            family.add_metric([], state.discovery_errors)
        elif key == "push_requests" and state.push_requests is not None:
            family.add_metric([state.push_requests[0]], state.push_requests[1])

    def _families(self, names: list[str]) -> dict[str, Any]:
        # the names of Subscriber.stats, which has every counter from the start
        families: dict[str, Any] = {
            name: CounterMetricFamily(
                f"txzaqar_subscriber_{name}",
                COUNTER_HELP.get(name, f"Subscriber counter {name!r} (see txzaqar.subscriber.STATS)"),
                labels=["queue"])
            for name in names
        }

        def gauge(key: str, name: str, text: str, labels: tuple[str, ...] = ("queue",)) -> None:
            families[key] = GaugeMetricFamily(name, text, labels=list(labels))

        gauge("callbacks_in_flight", "txzaqar_subscriber_callbacks_in_flight",
              "Callbacks of the queue running now (callbacks)")
        gauge("backoff_seconds", "txzaqar_subscriber_backoff_seconds",
              "Delay before the queue's next claim because its last poll failed (errors only: "
              "0 once a poll succeeds, so a healthy idle queue reads 0) (seconds)")
        gauge("poll_interval", "txzaqar_subscriber_poll_interval_seconds",
              "Delay before the queue's next claim after its last successful poll: the idle "
              "backoff after empty claims (poll interval up to max interval), the safety interval "
              "while push is up, 0 after a full claim; 0 while polls fail (seconds)")
        gauge("ready", "txzaqar_subscriber_ready",
              "1 when the subscriber is ready (see /readyz), else 0 (boolean)", ())
        gauge("push_up", "txzaqar_subscriber_push_up",
              "1 while push notifications of the queue flow (its idle polling slowed to the safety "
              "interval), else 0: push off, down or unverified (boolean)")
        gauge("push_configured", "txzaqar_subscriber_push_configured",
              "1 when the queue has a push source (WebSocket or webhook), whether up or not, "
              "else 0 (boolean)")
        gauge("last_poll", "txzaqar_subscriber_last_successful_poll_timestamp_seconds",
              "When the queue's last successful poll (a claim that answered, empty or not) ended, "
              "as a Unix time (seconds)")
        gauge("concurrency", "txzaqar_subscriber_concurrency",
              "Messages the subscriber may hold at once: its callback slots (messages)", ())
        gauge("threads", "txzaqar_subscriber_threads",
              "Threads that may run plain (blocking) callbacks at once; 0: they run on the reactor "
              "(threads)", ())
        gauge("in_flight", "txzaqar_subscriber_in_flight",
              "Callback slots taken now: messages claimed or being claimed and not finished "
              "(messages); divide by txzaqar_subscriber_concurrency for saturation", ())
        gauge("discovered", "txzaqar_subscriber_discovered_queues",
              "Queues consumed because they match the pattern (psubscribe), from the last listing "
              "of the project's queues (queues)", ("pattern",))
        families["discovery_errors"] = CounterMetricFamily(
            "txzaqar_subscriber_discovery_errors",
            "Listings of the project's queues for the pattern subscriptions that failed (listings)")
        gauge("free", "txzaqar_queue_free_messages",
              "Messages of the queue not claimed, waiting, from Zaqar's stats at the last refresh "
              "(messages)")
        gauge("claimed_now", "txzaqar_queue_claimed_messages",
              "Messages of the queue claimed now, by any consumer, from Zaqar's stats at the last "
              "refresh (messages)")
        gauge("messages", "txzaqar_queue_messages",
              "All messages of the queue, free and claimed, from Zaqar's stats at the last refresh "
              "(messages)")
        gauge("oldest_age", "txzaqar_queue_oldest_message_age_seconds",
              "Age of the queue's oldest message, from Zaqar's stats at the last refresh; 0 when "
              "empty (seconds)")
        gauge("refreshed", "txzaqar_queue_stats_refreshed_timestamp_seconds",
              "When the queue's stats were last read from Zaqar, as a Unix time (seconds)")
        families["push_requests"] = CounterMetricFamily(
            "txzaqar_push_requests",
            "Requests the push source sent to Zaqar over a connection of its own (WebSocket: "
            "authentication, subscriptions and their renewals); a webhook source's go over HTTP and "
            "count in txzaqar_request_duration_seconds (requests)", labels=["kind"])
        families["stats_errors"] = CounterMetricFamily(
            "txzaqar_queue_stats_errors", "Requests for the queue's stats that failed (requests)",
            labels=["queue"])
        families["dead_lettered"] = CounterMetricFamily(
            "txzaqar_queue_dead_lettered_messages",
            "Messages seen arriving in the queue's dead-letter queue: the growth of its total between "
            "two refreshes, a lower bound (messages)", labels=["queue", "dead_letter_queue"])
        return families


#: The backlog gauges: family key -> its value from a queue's stats and when they were read.
_BACKLOG: dict[str, Callable[[Any, float], float]] = {
    "free": lambda stats, when: stats.free, "claimed_now": lambda stats, when: stats.claimed,
    "messages": lambda stats, when: stats.total, "oldest_age": lambda stats, when: _age(stats.oldest),
    "refreshed": lambda stats, when: when,
}


def _age(oldest: Any) -> float:
    """The C{age} of a stats' C{oldest} message, 0 for none."""
    age = oldest.get("age") if isinstance(oldest, Mapping) else None
    return float(age) if isinstance(age, (int, float)) else 0.0


class _BuildInfo:
    """C{txzaqar_build_info{version}}: always 1."""

    def collect(self) -> Iterator[Metric]:
        from .._version import __version__

        family = GaugeMetricFamily("txzaqar_build_info", "The txzaqar version running, as a label; "
                                   "always 1 (info)", labels=["version"])
        family.add_metric([__version__], 1.0)
        yield family


@implementer(ISubscriberMetrics, IRequestObserver)
class SubscriberMetrics:
    """
    The Prometheus metrics of one subscriber (see the module's docstring).
    Made, it observes the subscriber and its client's connection until
    L{detach}.

    @param subscriber: a L{txzaqar.subscriber.Subscriber} (or another
        L{txzaqar.interfaces.ISubscriber} with a C{client}).
    @param registry: the C{prometheus_client.CollectorRegistry} to register in; a new one
        of this object's own when omitted.
    """

    def __init__(self, subscriber: Any, registry: CollectorRegistry | None = None,
                 standard: bool | None = None) -> None:
        own = registry is None
        #: The registry; expose it with prometheus-client (C{generate_latest(registry)}, or
        #: L{txzaqar.ops.health.health_site}).
        self.registry = registry if registry is not None else CollectorRegistry()
        self._subscriber = subscriber
        #: What the last refresh of Zaqar's queue stats found (see L{QueueStatsRefresher}).
        self.backlog = QueueBacklog()
        #: C{txzaqar_subscriber_callback_duration_seconds}: callback durations by queue and outcome.
        self.callback_duration = Histogram(
            "txzaqar_subscriber_callback_duration_seconds",
            "How long callbacks ran, by queue and outcome: ok, failed, timeout, unprocessed (seconds)",
            ["queue", "outcome"], registry=self.registry, buckets=DURATION_BUCKETS)
        #: C{txzaqar_subscriber_message_age_seconds}: messages' ages when their callback was called.
        self.message_age = Histogram(
            "txzaqar_subscriber_message_age_seconds",
            "Age of messages (from their posting, as Zaqar tells it in the claim) when their "
            "callback was called, by queue (seconds)",
            ["queue"], registry=self.registry, buckets=AGE_BUCKETS)
        #: C{txzaqar_request_duration_seconds}: each attempt of a request to Zaqar, by operation and status.
        self.request_duration = Histogram(
            "txzaqar_request_duration_seconds",
            "Duration of each attempt of a request to Zaqar, by operation and status "
            "(the HTTP status, or 'error' when no answer came) (seconds)",
            ["operation", "status"], registry=self.registry, buckets=REQUEST_BUCKETS)
        self._collector = _SubscriberCollector(subscriber, self.backlog)
        self.registry.register(self._collector)
        self.registry.register(_BuildInfo())
        if standard if standard is not None else own:
            _standard_collectors(self.registry)
        subscriber.add_observer(self)
        self._connection: IConnection | None = subscriber.connection()
        if self._connection is not None:
            self._connection.observers.append(self)

    def exposition(self) -> Any:
        """
        The registry as a scrape shows it, read now (call it on the
        reactor thread; it is cheap) and collectable later in any thread
        (formatting it is the expensive part): the subscriber's state as
        it was at this call, prometheus-client's own metrics (thread-safe)
        when collected; no C{_created} series.

        @return: an object with C{collect()}, for prometheus-client's encoders.
        """
        return _Exposition(self.registry, self._collector, self._collector.read())

    def refresher(self, interval: float, clock: Any, rate: float | None = None) -> QueueStatsRefresher:
        """
        A L{QueueStatsRefresher} of this subscriber's queue stats into
        L{backlog}, every C{interval} seconds on C{clock}, at most C{rate}
        requests per second (start it, or give it a parent service).
        """
        return QueueStatsRefresher(self._subscriber, self.backlog, interval, clock, rate=rate)

    def detach(self) -> None:
        self._subscriber.remove_observer(self)
        if self._connection is not None and self in self._connection.observers:
            self._connection.observers.remove(self)

    # ISubscriberObserver

    def message_delivered(self, queue: str, message: Any) -> None:
        age = getattr(message, "age", None)
        if isinstance(age, (int, float)):
            self.message_age.labels(queue).observe(age)

    def callback_finished(self, queue: str, seconds: float, outcome: str) -> None:
        self.callback_duration.labels(queue, outcome).observe(seconds)

    # IRequestObserver, of the subscriber's connection

    def request_finished(self, method: str, path: str, status: int | None, seconds: float,
                         operation: str | None = None) -> None:
        label = str(status) if status is not None else "error"
        name = f"{method.upper()} {operation}" if operation is not None else _template(method, path)
        self.request_duration.labels(name, label).observe(seconds)


_template = operation


def _standard_collectors(registry: CollectorRegistry) -> None:
    """Register new process, platform and garbage-collector collectors, as prometheus-client's default registry has."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


class _Exposition:
    """What L{SubscriberMetrics.exposition} returns."""

    def __init__(self, registry: CollectorRegistry, collector: _SubscriberCollector, state: _State) -> None:
        self._registry = registry
        self._collector = collector
        self._state = state

    def collect(self) -> Iterator[Metric]:
        with self._collector.frozen(self._state):
            for metric in self._registry.collect():
                if metric.type in ("counter", "histogram", "gaugehistogram", "summary"):
                    metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
                yield metric


# What txzaqar.subscriber.Subscriber.metrics makes: registered here, in the operations layer.
registerAdapter(SubscriberMetrics, ISubscriber, ISubscriberMetrics)
