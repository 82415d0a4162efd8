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
 - C{txzaqar_subscriber_backoff_seconds{queue}}: the current backoff
   delay (0 when not backing off);
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

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.logger import Logger
from twisted.python.components import registerAdapter
from zope.interface import implementer

from ..interfaces import IConnection, IRequestObserver, ISubscriber, ISubscriberMetrics

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


class _SubscriberCollector:
    """The counters and gauges read from the subscriber when scraped."""

    def __init__(self, subscriber: Any) -> None:
        self._subscriber = subscriber

    def describe(self) -> list[Metric]:
        # the names, without reading the subscriber at registration
        return list(self._families().values())

    def collect(self) -> Iterator[Metric]:
        subscriber = self._subscriber
        families = self._families()
        by_queue = subscriber.queue_stats()
        for name, family in families.items():
            if name in _GAUGES:
                continue
            for queue, counts in sorted(by_queue.items()):
                family.add_metric([queue], counts.get(name, 0))
        for queue, count in sorted(subscriber.callbacks_in_flight().items()):
            families["callbacks_in_flight"].add_metric([queue], count)
        for queue, delay in sorted(subscriber.backoff_delays().items()):
            families["backoff_seconds"].add_metric([queue], delay)
        families["ready"].add_metric([], 1.0 if subscriber.health().ready else 0.0)
        for queue, state in sorted(subscriber.push_states().items()):
            families["push_up"].add_metric([queue], 1.0 if state == "up" else 0.0)
        return iter(families.values())

    def _families(self) -> dict[str, Any]:
        # the names of Subscriber.stats, which has every counter from the start
        families: dict[str, Any] = {
            name: CounterMetricFamily(f"txzaqar_subscriber_{name}", f"Subscriber counter {name!r}, "
                                      "per queue (see txzaqar.subscriber.STATS)", labels=["queue"])
            for name in self._subscriber.stats
        }
        families["callbacks_in_flight"] = GaugeMetricFamily(
            "txzaqar_subscriber_callbacks_in_flight", "Callbacks running now, per queue",
            labels=["queue"])
        families["backoff_seconds"] = GaugeMetricFamily(
            "txzaqar_subscriber_backoff_seconds",
            "Current backoff delay of each queue's poll loop (0 when not backing off)",
            labels=["queue"])
        families["ready"] = GaugeMetricFamily(
            "txzaqar_subscriber_ready", "1 when the subscriber is ready (see /readyz), else 0")
        families["push_up"] = GaugeMetricFamily(
            "txzaqar_subscriber_push_up",
            "1 while push notifications of the queue flow (its idle polling slowed to the safety "
            "interval), else 0 (polled as usual)", labels=["queue"])
        return families


_GAUGES = frozenset({"callbacks_in_flight", "backoff_seconds", "ready", "push_up"})


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

    def __init__(self, subscriber: Any, registry: CollectorRegistry | None = None) -> None:
        #: The registry; expose it with prometheus-client (C{generate_latest(registry)}, or
        #: L{txzaqar.ops.health.health_site}).
        self.registry = registry if registry is not None else CollectorRegistry()
        self._subscriber = subscriber
        #: C{txzaqar_subscriber_callback_duration_seconds}: callback durations by queue and outcome.
        self.callback_duration = Histogram(
            "txzaqar_subscriber_callback_duration_seconds",
            "How long callbacks ran, by queue and outcome (ok, failed, timeout, unprocessed)",
            ["queue", "outcome"], registry=self.registry, buckets=DURATION_BUCKETS)
        #: C{txzaqar_subscriber_message_age_seconds}: messages' ages when their callback was called.
        self.message_age = Histogram(
            "txzaqar_subscriber_message_age_seconds",
            "Age of messages (from their claim) when their callback was called, by queue",
            ["queue"], registry=self.registry, buckets=AGE_BUCKETS)
        #: C{txzaqar_request_duration_seconds}: each attempt of a request to Zaqar, by operation and status.
        self.request_duration = Histogram(
            "txzaqar_request_duration_seconds",
            "Duration of each attempt of a request to Zaqar, by operation and status "
            "(the HTTP status, or 'error' when no answer came)",
            ["operation", "status"], registry=self.registry, buckets=REQUEST_BUCKETS)
        self.registry.register(_SubscriberCollector(subscriber))
        subscriber.add_observer(self)
        self._connection: IConnection | None = subscriber.connection()
        if self._connection is not None:
            self._connection.observers.append(self)

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


# What txzaqar.subscriber.Subscriber.metrics makes: registered here, in the operations layer.
registerAdapter(SubscriberMetrics, ISubscriber, ISubscriberMetrics)
