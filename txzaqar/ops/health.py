"""
The operations endpoint of a subscriber: C{/metrics}, C{/healthz} and
C{/readyz} on a C{twisted.web} L{Site}, which C{twistd zaqar-listen
--metrics ENDPOINT} serves (and a library user can too)::

    service = metrics_service(reactor, "tcp:9102:interface=127.0.0.1", subscriber)
    service.setServiceParent(application)

 - C{/metrics}: the subscriber's L{txzaqar.ops.metrics.SubscriberMetrics}, in
   the Prometheus text format (or OpenMetrics when the scraper asks for
   it), written by prometheus-client;
 - C{/healthz}: C{200 ok} while the process runs (and its reactor answers);
 - C{/readyz}: C{200 ready} when L{Subscriber.health} says ready, else
   C{503} with one reason per line (queue names and error classes only).

Not prometheus-client's C{MetricsResource}: that one runs the collectors
on the global reactor's thread pool (which also resolves host names),
where they would read the subscriber's state while the reactor changes
it.  Here the metrics are collected on the reactor thread (a snapshot:
prometheus-client's metric values, copied) and, with L{metrics_service},
formatted on a thread of the service's own, because formatting is most of
the cost of a scrape.  Measured on a busy 2-core machine (the in-memory
Zaqar, a subscriber that had delivered a little on each queue): 10 queues
took about 5 ms to collect and 7 ms to format (49 kB), 100 queues 13-33
ms and 18-49 ms (244 kB), 1,000 queues 110-125 ms and 80-110 ms (1 MB).
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from gzip import compress
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from .._support.threads import OwnedThreadPool, RunInThread

#: This module's logger.
log = Logger(namespace="txzaqar.health")  # its name before the move to packages

#: The content type of the plain-text answers.
PLAIN = b"text/plain; charset=utf-8"


def _head(request: Any, body: bytes) -> bytes:
    """
    A HEAD answer for a page whose GET answers C{body}: the same status
    and headers, C{Content-Length} and no body (Twisted's default HEAD
    handling calls GET and logs a warning about the body on every probe).
    """
    request.setHeader(b"content-length", b"%d" % len(body))
    return b""


class HealthzPage(Resource):
    """C{/healthz}: C{200 ok} while the process runs."""

    #: No children: this page answers every path below it.
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        """
        Answer C{ok}.

        @return: the body.
        """
        request.setHeader(b"content-type", PLAIN)
        request.setHeader(b"cache-control", b"no-store")
        return b"ok\n"

    def render_HEAD(self, request: Any) -> bytes:
        """C{/healthz}'s headers and status, without a body (probes often use HEAD)."""
        return _head(request, self.render_GET(request))


#: The most reasons C{/readyz} answers (the others are counted in one more line).
READYZ_REASONS = 50


class ReadyzPage(Resource):
    """
    C{/readyz}: C{200 ready} when C{subscriber.health()} is ready, else
    C{503} with one reason per line (at most L{READYZ_REASONS}, then how
    many more).
    """

    #: No children: this page answers every path below it.
    isLeaf = True

    def __init__(self, subscriber: Any) -> None:
        super().__init__()
        self._subscriber = subscriber

    def render_GET(self, request: Any) -> bytes:
        """
        Answer C{ready}, or set the status to 503 and answer the reasons.

        @return: the body.
        """
        health = self._subscriber.health()
        request.setHeader(b"content-type", PLAIN)
        request.setHeader(b"cache-control", b"no-store")
        if health.ready:
            return b"ready\n"
        request.setResponseCode(503)
        reasons = list(health.reasons)
        shown = reasons[:READYZ_REASONS]
        if len(reasons) > len(shown):  # many queues, one outage: the first ones say it
            shown.append(f"and {len(reasons) - len(shown):,} more")
        return "".join(f"{reason}\n" for reason in shown).encode("utf-8")

    def render_HEAD(self, request: Any) -> bytes:
        """C{/readyz}'s status (200 or 503) and headers, without a body."""
        return _head(request, self.render_GET(request))


class _Snapshot:
    """Metrics collected once: what prometheus-client's encoders format (they call C{collect})."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._metrics = list(registry.collect())

    def collect(self) -> Iterator[Any]:
        return iter(self._metrics)


def _format(encoder: Callable[[Any], bytes], snapshot: Any, gzip: bool = False) -> bytes:
    """
    C{snapshot} formatted by C{encoder}, gzipped if asked (in the
    formatting thread), with the cyclic garbage collector paused: the tens
    of thousands of short-lived objects of a large scrape would otherwise
    set off a full collection, which holds every thread (the reactor's
    too) for as long as it walks the process's objects (220 ms measured
    at 1,000 queues); they are freed by reference counting as soon as
    the text is made, so the pause leaves no garbage behind.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        body = encoder(snapshot)
    finally:
        if paused:
            gc.enable()
    return compress(body, 1) if gzip else body


#: The text of a scrape handed to the reactor to write at a time: with a thread
#: to send from (L{MetricsPage}'s C{call_from_thread}), a scrape is sent as it is
#: formatted, one metric family after another, so its text (18 MB at 10,000
#: queues) is never held whole.
CHUNK = 256 * 1024

#: The end of an OpenMetrics exposition, which its encoder adds to each call.
EOF = b"# EOF\n"


class _One:
    """One metric family, as an encoder formats it (it calls C{collect})."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric

    def collect(self) -> Iterator[Any]:
        yield self._metric


def _stream(encoder: Callable[[Any], bytes], snapshot: Any, send: Callable[[bytes], None],
            gzip: bool = False, eof: bool = False) -> None:
    """
    C{snapshot} formatted by C{encoder} one family at a time and passed to
    C{send} in chunks of about L{CHUNK} bytes (gzipped as one stream if
    asked; with C{eof}, OpenMetrics' one L{EOF} at the end), with the
    garbage collector paused as L{_format} does.
    """
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip else None
    pending: list[bytes] = []

    def flush(final: bool) -> None:
        data = b"".join(pending)
        pending.clear()
        if compressor is not None:
            data = compressor.compress(data) + (compressor.flush() if final else b"")
        if data:
            send(data)

    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        size = 0
        for metric in snapshot.collect():
            text = encoder(_One(metric))
            if eof and text.endswith(EOF):
                text = text[:-len(EOF)]
            pending.append(text)
            size += len(text)
            if size >= CHUNK:
                flush(False)
                size = 0
        if eof:
            pending.append(EOF)
        flush(True)
    finally:
        if paused:
            gc.enable()


class MetricsPage(Resource):
    """
    C{/metrics}: C{registry} in the format the scraper asks for, by
    prometheus-client.

    @param run_in_thread: where the collected metrics are formatted (see
        L{RunInThread}); on the reactor thread when C{None}.
    @param call_from_thread: with C{run_in_thread}, the reactor's
        C{callFromThread}: the text is then sent as it is formatted, in
        chunks (L{CHUNK}), rather than formatted whole first.
    """

    #: No children: this page answers every path below it.
    isLeaf = True

    def __init__(self, registry: CollectorRegistry, run_in_thread: RunInThread | None = None,
                 exposition: Callable[[], Any] | None = None,
                 call_from_thread: Callable[..., None] | None = None) -> None:
        super().__init__()
        self._call_from_thread = call_from_thread
        self._registry = registry
        self._run_in_thread = run_in_thread
        self._exposition = exposition

    def render_GET(self, request: Any) -> Any:
        """
        Answer the metrics, formatted in C{run_in_thread} when given.

        @return: the body, or C{NOT_DONE_YET} when it is formatted in another thread (a failure there
            answers 500).
        """
        accept = request.getHeader(b"accept")
        encoder, content_type = choose_encoder(accept.decode("latin-1") if accept else "")
        request.setHeader(b"content-type", content_type.encode("latin-1"))
        request.setHeader(b"cache-control", b"no-store")
        # read on the reactor thread: cheap with an exposition (a copy of the
        # subscriber's state), the whole collection without
        snapshot = self._exposition() if self._exposition is not None else _Snapshot(self._registry)
        gzip = b"gzip" in (request.getHeader(b"accept-encoding") or b"")
        if gzip:
            request.setHeader(b"content-encoding", b"gzip")
        format = partial(_format, encoder, gzip=gzip)
        if self._run_in_thread is None:
            return format(snapshot)
        gone: list[Failure] = []
        request.notifyFinish().addErrback(gone.append)  # the scraper hung up
        if self._call_from_thread is not None:
            return self._send_streamed(request, encoder, snapshot, gzip,
                                       content_type.startswith("application/openmetrics-text"), gone)

        def write(body: bytes) -> None:
            if not gone:
                request.write(body)
                request.finish()

        def failed(failure: Failure) -> None:
            log.failure("formatting the metrics failed", failure)
            if not gone:
                request.setResponseCode(500)
                request.setHeader(b"content-type", PLAIN)
                request.write(b"formatting the metrics failed\n")
                request.finish()

        self._run_in_thread(format, snapshot).addCallbacks(write, failed)
        return NOT_DONE_YET

    def _send_streamed(self, request: Any, encoder: Callable[[Any], bytes], snapshot: Any, gzip: bool,
                       eof: bool, gone: list[Failure]) -> Any:
        assert self._run_in_thread is not None and self._call_from_thread is not None
        call_from_thread = self._call_from_thread
        sent = []

        def write(data: bytes) -> None:  # on the reactor thread, in the order the chunks were made
            sent.append(len(data))
            if not gone:
                request.write(data)

        def finished(_: object) -> None:
            if not gone:
                request.finish()

        def failed(failure: Failure) -> None:
            log.failure("formatting the metrics failed", failure)
            if gone:
                return
            if sent:  # the answer has begun: cut it short, so the scraper sees a failed scrape
                request.loseConnection()
                return
            request.setResponseCode(500)
            request.setHeader(b"content-type", PLAIN)
            request.setHeader(b"content-encoding", b"identity")
            request.write(b"formatting the metrics failed\n")
            request.finish()

        stream = partial(_stream, encoder, send=partial(call_from_thread, write), gzip=gzip, eof=eof)
        self._run_in_thread(stream, snapshot).addCallbacks(finished, failed)
        return NOT_DONE_YET


def health_resource(subscriber: Any, registry: CollectorRegistry | None = None,
                    run_in_thread: RunInThread | None = None,
                    call_from_thread: Callable[..., None] | None = None) -> Resource:
    """
    The root resource: C{/metrics}, C{/healthz}, C{/readyz} (anything
    else is a 404).

    @param subscriber: a L{txzaqar.subscriber.Subscriber}.
    @param registry: what C{/metrics} shows; C{subscriber.metrics.registry}
        (made now if need be) when omitted.
    @param run_in_thread: where C{/metrics} is formatted (L{MetricsPage}).
    @param call_from_thread: the reactor's C{callFromThread}: C{/metrics}
        is sent as it is formatted (L{MetricsPage}).
    """
    exposition = None
    if registry is None:
        metrics = subscriber.metrics
        registry = metrics.registry
        exposition = getattr(metrics, "exposition", None)
    root = Resource()
    root.putChild(b"metrics", MetricsPage(registry, run_in_thread, exposition, call_from_thread))
    root.putChild(b"healthz", HealthzPage())
    root.putChild(b"readyz", ReadyzPage(subscriber))
    return root


def health_site(subscriber: Any, registry: CollectorRegistry | None = None,
                run_in_thread: RunInThread | None = None,
                call_from_thread: Callable[..., None] | None = None) -> Site:
    """A L{Site} of L{health_resource}, which logs no request (scrapes come every few seconds)."""
    site = Site(health_resource(subscriber, registry, run_in_thread, call_from_thread))
    site.log = lambda request: None  # type: ignore[method-assign]
    return site


class HealthService(MultiService):
    """
    L{health_site} listening on an endpoint while this service runs, and
    the one thread (of its own, not the reactor's pool, which also
    resolves names) that formats C{/metrics}.  Made by L{metrics_service}.
    """

    def __init__(self, reactor: Any, endpoint: str, subscriber: Any,
                 registry: CollectorRegistry | None = None) -> None:
        super().__init__()
        self._reactor = reactor
        self._description = endpoint
        self._threads = OwnedThreadPool(reactor, "txzaqar-metrics")
        # sent as formatted with a reactor that takes calls from threads (tests' fakes may not)
        send = reactor.callFromThread if IReactorFromThreads.providedBy(reactor) else None
        self._site = health_site(subscriber, registry, self._threads.run, send)
        self._endpoint = serverFromString(reactor, endpoint)
        self._listening: Deferred[Any] | None = None
        #: Why the endpoint could not be listened on (C{None} while it is,
        #: or before the service started).  The daemon ends on it.
        self.listen_error: BaseException | None = None

    @property
    def pool(self) -> ThreadPool:
        """The one thread that formats C{/metrics} (started and stopped with this service)."""
        pool = self._threads.pool
        assert pool is not None  # owned, never given
        return pool

    def startService(self) -> None:
        """Start the formatting thread, then listen (a failure is logged and kept in L{listen_error})."""
        self._threads.start()
        super().startService()
        self.listen_error = None
        listening = self._endpoint.listen(self._site)
        listening.addErrback(self._not_listening)
        self._listening = listening

    def _not_listening(self, failure: Failure) -> None:
        self.listen_error = failure.value
        log.error("cannot serve /metrics on {endpoint}: {error}", endpoint=self._description,
                  error=f"{type(failure.value).__name__}: {failure.value}")

    def stopService(self) -> Deferred[None]:
        """Stop listening, then the formatting thread (joined off the reactor thread)."""
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        listening, self._listening = self._listening, None
        try:
            if listening is not None:
                port = await listening
                if port is not None:
                    await maybeDeferred(port.stopListening)
            await super().stopService()
        finally:
            self._threads.stop()


def metrics_service(reactor: Any, endpoint: str, subscriber: Any,
                    registry: CollectorRegistry | None = None) -> HealthService:
    """
    A L{HealthService}: C{/metrics}, C{/healthz} and C{/readyz} of
    C{subscriber} on C{endpoint} while it runs (a port it cannot listen
    on is logged as an error and kept in L{HealthService.listen_error};
    C{twistd zaqar-listen} then exits with status 1).

    @param endpoint: a Twisted server endpoint string, e.g.
        C{tcp:9102:interface=127.0.0.1}.
    @raise ValueError: (or another C{Exception} of the endpoint parser)
        for a bad C{endpoint}; see L{check_endpoint}.
    """
    return HealthService(reactor, endpoint, subscriber, registry)


def check_endpoint(endpoint: str) -> None:
    """
    Parse C{endpoint} as a server endpoint string, without a reactor and
    without listening.

    @raise ValueError: with a message naming what is wrong.
    """
    try:
        serverFromString(_NO_REACTOR, endpoint)
    except Exception as e:
        raise ValueError(f"{endpoint!r} is not a server endpoint such as "
                         f"tcp:9102:interface=127.0.0.1 ({type(e).__name__}: {e})") from None


#: What endpoint parsing is given in place of a reactor: the parsers only
#: keep it, for listening later.
_NO_REACTOR: Any = object()
