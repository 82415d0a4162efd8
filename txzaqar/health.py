"""
The operations endpoint of a subscriber: C{/metrics}, C{/healthz} and
C{/readyz} on a C{twisted.web} L{Site}, which C{twistd zaqar-listen
--metrics ENDPOINT} serves (and a library user can too)::

    service = metrics_service(reactor, "tcp:9102:interface=127.0.0.1", subscriber)
    service.setServiceParent(application)

 - C{/metrics}: the subscriber's L{txzaqar.metrics.SubscriberMetrics}, in
   the Prometheus text format (or OpenMetrics when the scraper asks for
   it), written by prometheus-client;
 - C{/healthz}: C{200 ok} while the process runs (and its reactor answers);
 - C{/readyz}: C{200 ready} when L{Subscriber.health} says ready, else
   C{503} with one reason per line (queue names and error classes only).

The metrics are rendered on the reactor thread rather than through
prometheus-client's C{MetricsResource}: that one runs the collectors on
the global reactor's thread pool (which also resolves host names), where
they would read the subscriber's state while the reactor changes it.
Rendering reads a few dicts and takes well under a millisecond for
dozens of queues.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import serverFromString
from twisted.web.resource import Resource
from twisted.web.server import Site

PLAIN = b"text/plain; charset=utf-8"


class HealthzPage(Resource):
    """C{/healthz}: C{200 ok} while the process runs."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"content-type", PLAIN)
        request.setHeader(b"cache-control", b"no-store")
        return b"ok\n"


class ReadyzPage(Resource):
    """
    C{/readyz}: C{200 ready} when C{subscriber.health()} is ready, else
    C{503} with one reason per line.
    """

    isLeaf = True

    def __init__(self, subscriber: Any) -> None:
        super().__init__()
        self._subscriber = subscriber

    def render_GET(self, request: Any) -> bytes:
        health = self._subscriber.health()
        request.setHeader(b"content-type", PLAIN)
        request.setHeader(b"cache-control", b"no-store")
        if health.ready:
            return b"ready\n"
        request.setResponseCode(503)
        return "".join(f"{reason}\n" for reason in health.reasons).encode("utf-8")


class MetricsPage(Resource):
    """C{/metrics}: C{registry} in the format the scraper asks for, by prometheus-client."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Any) -> bytes:
        accept = request.getHeader(b"accept")
        encoder, content_type = choose_encoder(accept.decode("latin-1") if accept else "")
        body = encoder(self._registry)
        request.setHeader(b"content-type", content_type.encode("latin-1"))
        request.setHeader(b"cache-control", b"no-store")
        return body


def health_resource(subscriber: Any, registry: CollectorRegistry | None = None) -> Resource:
    """
    The root resource: C{/metrics}, C{/healthz}, C{/readyz} (anything
    else is a 404).

    @param subscriber: a L{txzaqar.subscriber.Subscriber}.
    @param registry: what C{/metrics} shows; C{subscriber.metrics.registry}
        (made now if need be) when omitted.
    """
    if registry is None:
        registry = subscriber.metrics.registry
    root = Resource()
    root.putChild(b"metrics", MetricsPage(registry))
    root.putChild(b"healthz", HealthzPage())
    root.putChild(b"readyz", ReadyzPage(subscriber))
    return root


def health_site(subscriber: Any, registry: CollectorRegistry | None = None) -> Site:
    """A L{Site} of L{health_resource}, which logs no request (scrapes come every few seconds)."""
    site = Site(health_resource(subscriber, registry))
    site.log = lambda request: None  # type: ignore[method-assign]
    return site


def metrics_service(reactor: Any, endpoint: str, subscriber: Any,
                    registry: CollectorRegistry | None = None) -> StreamServerEndpointService:
    """
    A service listening on C{endpoint} with L{health_site} while it runs
    (a port it cannot listen on is logged as an error; the subscriber
    goes on without it).

    @param endpoint: a Twisted server endpoint string, e.g.
        C{tcp:9102:interface=127.0.0.1}.
    @raise ValueError: (or another C{Exception} of the endpoint parser)
        for a bad C{endpoint}; see L{check_endpoint}.
    """
    return StreamServerEndpointService(serverFromString(reactor, endpoint),
                                       health_site(subscriber, registry))


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
