"""
L{txzaqar.testing.faults}: the schedule is deterministic for a seed, and
each fault kind does what it says, with the proxy driven in memory (a
C{MemoryReactorClock} for the upstream connection and C{StringTransport}s
for both sides).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

import txzaqar.testing
from txzaqar.testing.faults import (
    FAULT_KINDS,
    FORWARDED_KINDS,
    FaultProxy,
    FaultSchedule,
    ProxiedRequest,
    parse_response,
)

UPSTREAM = "http://127.0.0.1:8888"
BODY = b'[{"body": {"n": 1}, "ttl": 60}]'
REQUEST = (
    b"POST /v2/queues/q/messages HTTP/1.1\r\nHost: 127.0.0.1:9999\r\nConnection: keep-alive\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(BODY),) + BODY
)
ANSWER_BODY = b'{"resources": ["/v2/queues/q/messages/5f0c"]}'
ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=UTF-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (len(ANSWER_BODY),) + ANSWER_BODY
)


class Proxied:
    """One request through a proxy whose schedule faults every request with I{kind}."""

    def __init__(self, kind: str | None, **kwargs: Any) -> None:
        self.reactor = MemoryReactorClock()
        kinds: tuple[str, ...] = (kind,) if kind else FAULT_KINDS
        schedule = FaultSchedule(1, 1.0 if kind else 0.0, kinds)
        self.proxy = FaultProxy(UPSTREAM, schedule, self.reactor, **kwargs)
        self.client = StringTransport()
        self.protocol = self.proxy.factory.buildProtocol(None)
        self.protocol.makeConnection(self.client)

    def send(self, data: bytes = REQUEST) -> None:
        self.protocol.dataReceived(data)

    def upstream(self, answer: bytes | None = ANSWER) -> bytes:
        """Let the upstream connection answer (None: refuse it); what the proxy sent it."""
        factory: Any = self.reactor.tcpClients[-1][2]
        if answer is None:
            factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
            return b""
        upstream: Any = factory.buildProtocol(None)
        transport = StringTransport()
        upstream.makeConnection(transport)
        upstream.dataReceived(answer)
        upstream.connectionLost(Failure(ConnectionDone()))
        return transport.value()

    @property
    def reset(self) -> bool:
        return bool(self.client.disconnected)

    @property
    def closed(self) -> bool:
        return bool(self.client.disconnecting) and not self.client.disconnected

    @property
    def entry(self) -> ProxiedRequest:
        [entry] = self.proxy.log
        return entry


class ScheduleTests(SynchronousTestCase):
    def test_deterministic(self) -> None:
        """The same seed faults the same occurrences of a request the same way; another seed does not."""
        a = [FaultSchedule(7, 0.3).fault_for(n) for n in range(500)]
        b = [FaultSchedule(7, 0.3).fault_for(n) for n in range(500)]
        c = [FaultSchedule(7, 0.3).fault_for(n) for n in range(500)]
        d = [FaultSchedule(8, 0.3).fault_for(n) for n in range(500)]
        self.assertEqual(a, b)
        self.assertEqual(b, c)
        self.assertNotEqual(a, d)

    def test_order_free(self) -> None:
        """Occurrence I{n}'s fault does not depend on which were asked before."""
        schedule = FaultSchedule(3, 0.5)
        forwards = [schedule.fault_for(n) for n in range(50)]
        backwards = [schedule.fault_for(n) for n in reversed(range(50))]
        self.assertEqual(forwards, backwards[::-1])

    def test_by_identity(self) -> None:
        """
        The fault is drawn for the request's identity: method, path and
        body (by default) or what C{identify} says, and the occurrence.
        """
        schedule = FaultSchedule(3, 0.5)

        def draws(method: str, path: str, body: bytes = b"") -> list[str | None]:
            return [schedule.fault_for(n, method, path, body) for n in range(40)]

        get = draws("GET", "/v2/queues/a/stats")
        self.assertEqual(get, draws("GET", "/v2/queues/a/stats"))
        self.assertNotEqual(get, draws("GET", "/v2/queues/b/stats"))
        self.assertNotEqual(get, draws("HEAD", "/v2/queues/a/stats"))
        self.assertNotEqual(draws("POST", "/v2/queues/a/messages", b"[1]"), draws("POST", "/v2/queues/a/messages", b"[2]"))
        self.assertEqual(schedule.identity("GET", "/v2/queues/a/stats"), "GET /v2/queues/a/stats")
        self.assertTrue(schedule.identity("POST", "/x", b"[1]").startswith("POST /x body:"))
        named = FaultSchedule(3, 0.5, identify=lambda method, path, body: "the same request")
        self.assertEqual([named.fault_for(n, "GET", "/a") for n in range(40)],
                         [named.fault_for(n, "DELETE", "/b", b"x") for n in range(40)])

    def test_rate(self) -> None:
        """About C{rate} of the requests are faulted, with every kind drawn."""
        faults = [FaultSchedule(1, 0.2).fault_for(n) for n in range(5000)]
        faulted = [f for f in faults if f is not None]
        self.assertTrue(900 < len(faulted) < 1100, len(faulted))
        self.assertEqual(set(faulted), set(FAULT_KINDS))
        self.assertEqual([FaultSchedule(1, 0).fault_for(n) for n in range(100)], [None] * 100)
        self.assertNotIn(None, [FaultSchedule(1, 1).fault_for(n) for n in range(100)])

    def test_kinds(self) -> None:
        """Only the kinds given are drawn."""
        faults = {FaultSchedule(1, 1, ("stall", "trickle")).fault_for(n) for n in range(200)}
        self.assertEqual(faults, {"stall", "trickle"})

    def test_applies(self) -> None:
        """A request that C{applies} excludes is never faulted."""
        schedule = FaultSchedule(1, 1, applies=lambda method, path: method == "DELETE")
        self.assertIsNone(schedule.fault_for(0, "GET", "/v2/queues"))
        self.assertIsNotNone(schedule.fault_for(0, "DELETE", "/v2/queues/q"))

    def test_bad_arguments(self) -> None:
        """A rate outside 0..1, no kinds or an unknown kind is a C{ValueError}."""
        self.assertRaises(ValueError, FaultSchedule, 1, 1.5)
        self.assertRaises(ValueError, FaultSchedule, 1, -0.1)
        self.assertRaises(ValueError, FaultSchedule, 1, 0.5, [])
        self.assertRaises(ValueError, FaultSchedule, 1, 0.5, ["stall", "meteor"])
        self.assertRaises(ValueError, FaultProxy, "https://127.0.0.1:1", FaultSchedule(1, 0), MemoryReactorClock())
        self.assertRaises(ValueError, FaultProxy, "http://127.0.0.1", FaultSchedule(1, 0), MemoryReactorClock())


class ForwardingTests(SynchronousTestCase):
    def test_unfaulted(self) -> None:
        """An unfaulted request goes upstream on a connection of its own, and its answer back."""
        p = Proxied(None)
        p.send(REQUEST[:40])
        self.assertEqual(p.reactor.tcpClients, [])  # not until the whole body is in
        p.send(REQUEST[40:])
        host, port = p.reactor.tcpClients[0][:2]
        self.assertEqual((host, port), ("127.0.0.1", 8888))
        sent = p.upstream()
        self.assertIn(b"Connection: close", sent)
        self.assertNotIn(b"keep-alive", sent)
        self.assertTrue(sent.startswith(b"POST /v2/queues/q/messages HTTP/1.1\r\n"))
        self.assertTrue(sent.endswith(BODY))
        answer = parse_response(p.client.value())
        assert answer is not None
        self.assertEqual((answer.status, answer.body), (201, ANSWER_BODY))
        self.assertTrue(p.closed)
        self.assertEqual((p.entry.n, p.entry.method, p.entry.path, p.entry.fault, p.entry.upstream_status),
                         (0, "POST", "/v2/queues/q/messages", None, 201))
        self.assertEqual(p.entry.body, BODY)

    def test_chunked_answer(self) -> None:
        """A chunked answer is passed on whole, with a Content-Length."""
        p = Proxied(None)
        p.send()
        p.upstream(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n")
        self.assertTrue(p.client.value().endswith(b"Content-Length: 6\r\nConnection: close\r\n\r\nabcdef"))

    def test_upstream_down(self) -> None:
        """When Zaqar cannot be reached the client's connection is reset."""
        p = Proxied(None)
        p.send()
        p.upstream(None)
        self.assertTrue(p.reset)
        self.assertEqual(p.client.value(), b"")
        self.assertIsNone(p.entry.upstream_status)

    def test_chunked_request(self) -> None:
        """A chunked request is answered 411, not forwarded."""
        p = Proxied(None)
        p.send(b"POST /v2/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        self.assertTrue(p.client.value().startswith(b"HTTP/1.1 411 "))
        self.assertEqual(p.reactor.tcpClients, [])

    def test_occurrences(self) -> None:
        """Each request is logged with its identity and how many of the same came before (a retry is the next)."""
        reactor = MemoryReactorClock()
        proxy = FaultProxy(UPSTREAM, FaultSchedule(1, 0), reactor)
        other = REQUEST.replace(b"/v2/queues/q/", b"/v2/queues/r/")
        for data in (REQUEST, other, REQUEST, REQUEST):
            protocol = proxy.factory.buildProtocol(None)
            protocol.makeConnection(StringTransport())
            protocol.dataReceived(data)
        self.assertEqual([(e.n, e.occurrence) for e in proxy.log], [(0, 0), (1, 0), (2, 1), (3, 2)])
        self.assertEqual(proxy.log[0].identity, proxy.schedule.identity("POST", "/v2/queues/q/messages", BODY))
        self.assertNotEqual(proxy.log[1].identity, proxy.log[0].identity)

    def test_order_of_arrival_does_not_matter(self) -> None:
        """
        Two proxies with the same seed that get the same requests in
        different orders (as concurrent scenarios interleave) fault each
        occurrence of each request the same way.
        """
        requests = [
            REQUEST.replace(b"/v2/queues/q/", b"/v2/queues/q%d/" % (i,)) for i in range(30)
        ] * 3

        def faults(order: list[bytes]) -> dict[tuple[str, int], str | None]:
            proxy = FaultProxy(UPSTREAM, FaultSchedule(4, 0.5), MemoryReactorClock())
            for data in order:
                protocol = proxy.factory.buildProtocol(None)
                protocol.makeConnection(StringTransport())
                protocol.dataReceived(data)
            return {(e.path, e.occurrence): e.fault for e in proxy.log}

        forwards = faults(requests)
        self.assertEqual(forwards, faults(requests[::-1]))
        self.assertEqual(len(forwards), 90)
        self.assertTrue(any(forwards.values()) and not all(forwards.values()))

    def test_numbers_and_lazy_export(self) -> None:
        """Requests are numbered in arrival order; the names are exported by C{txzaqar.testing}."""
        reactor = MemoryReactorClock()
        proxy = FaultProxy(UPSTREAM, FaultSchedule(1, 0), reactor)
        for _ in range(3):
            protocol = proxy.factory.buildProtocol(None)
            protocol.makeConnection(StringTransport())
            protocol.dataReceived(REQUEST)
        self.assertEqual([e.n for e in proxy.log], [0, 1, 2])
        self.assertEqual(proxy.received, 3)
        self.assertIs(txzaqar.testing.FaultProxy, FaultProxy)
        self.assertIs(txzaqar.testing.FaultSchedule, FaultSchedule)

    def test_log_limit(self) -> None:
        """With C{log_limit} only the last requests are kept; the counts cover all."""
        reactor = MemoryReactorClock()
        proxy = FaultProxy(UPSTREAM, FaultSchedule(1, 1.0, ("unavailable",)), reactor, log_limit=2)
        for _ in range(5):
            protocol = proxy.factory.buildProtocol(None)
            protocol.makeConnection(StringTransport())
            protocol.dataReceived(REQUEST)
        self.assertEqual([e.n for e in proxy.log], [3, 4])
        self.assertEqual((proxy.received, proxy.counts()), (5, {"unavailable": 5}))

    def test_listen(self) -> None:
        """C{listen} uses a loopback port by default; C{url} names it; C{stop} stops listening."""
        reactor = MemoryReactorClock()
        proxy = FaultProxy(UPSTREAM, FaultSchedule(1, 0), reactor)
        self.assertRaises(RuntimeError, lambda: proxy.url)
        proxy.listen()
        port, factory, _, interface = reactor.tcpServers[0]
        self.assertEqual((port, interface, factory), (0, "127.0.0.1", proxy.factory))
        self.assertTrue(proxy.url.startswith("http://"))
        self.successResultOf(proxy.stop())


class FaultKindTests(SynchronousTestCase):
    def test_refused(self) -> None:
        """C{refused}: reset at once, nothing forwarded; logged with the request."""
        p = Proxied("refused")
        p.send()
        self.assertTrue(p.reset)
        self.assertEqual(p.reactor.tcpClients, [])
        self.assertEqual((p.entry.fault, p.entry.method, p.entry.path), ("refused", "POST", "/v2/queues/q/messages"))
        self.assertFalse(p.entry.forwarded)

    def test_reset_before(self) -> None:
        """C{reset_before}: closed without an answer, nothing forwarded."""
        p = Proxied("reset_before")
        p.send()
        self.assertTrue(p.closed)
        self.assertEqual((p.client.value(), p.reactor.tcpClients), (b"", []))

    def test_reset_after(self) -> None:
        """C{reset_after}: forwarded (Zaqar answered), then reset with no byte of the answer."""
        p = Proxied("reset_after")
        p.send()
        p.upstream()
        self.assertTrue(p.reset)
        self.assertEqual(p.client.value(), b"")
        self.assertEqual(p.entry.upstream_status, 201)
        self.assertIn("reset_after", FORWARDED_KINDS)

    def test_reset_mid_body(self) -> None:
        """C{reset_mid_body}: the head and half the body, then a reset."""
        p = Proxied("reset_mid_body")
        p.send()
        p.upstream()
        head, _, body = p.client.value().partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: %d" % (len(ANSWER_BODY),), head)
        self.assertEqual(body, ANSWER_BODY[: len(ANSWER_BODY) // 2])
        self.assertTrue(p.reset)

    def test_stall(self) -> None:
        """C{stall}: forwarded, then nothing at all until C{stall_limit}, then a reset."""
        p = Proxied("stall", stall_limit=30)
        p.send()
        p.upstream()
        p.reactor.advance(29)
        self.assertEqual(p.client.value(), b"")
        self.assertFalse(p.reset or p.closed)
        p.reactor.advance(1)
        self.assertTrue(p.reset)
        self.assertEqual(p.client.value(), b"")

    def test_stall_client_gives_up(self) -> None:
        """A stalled client that closes cancels the proxy's timer."""
        p = Proxied("stall", stall_limit=30)
        p.send()
        p.upstream()
        p.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(p.reactor.getDelayedCalls(), [])

    def test_trickle(self) -> None:
        """C{trickle}: the whole answer, C{trickle_bytes} at a time every C{trickle_interval}."""
        p = Proxied("trickle", trickle_bytes=10, trickle_interval=0.5)
        p.send()
        p.upstream()
        self.assertEqual(len(p.client.value()), 10)
        p.reactor.advance(0.5)
        self.assertEqual(len(p.client.value()), 20)
        for _ in range(100):
            p.reactor.advance(0.5)
        answer = parse_response(p.client.value())
        assert answer is not None
        self.assertEqual((answer.status, answer.body), (201, ANSWER_BODY))
        self.assertTrue(p.closed)

    def test_unavailable(self) -> None:
        """C{unavailable}: a 503 with Zaqar's JSON error body, nothing forwarded."""
        p = Proxied("unavailable")
        p.send()
        answer = parse_response(p.client.value())
        assert answer is not None
        self.assertEqual(answer.status, 503)
        self.assertEqual(set(json.loads(answer.body)), {"title", "description"})
        self.assertEqual(answer.header(b"content-type"), b"application/json; charset=UTF-8")
        self.assertEqual(p.reactor.tcpClients, [])

    def test_bad_gateway_html(self) -> None:
        """C{bad_gateway_html}: a 502 with an HTML page, nothing forwarded."""
        p = Proxied("bad_gateway_html")
        p.send()
        answer = parse_response(p.client.value())
        assert answer is not None
        self.assertEqual((answer.status, answer.header(b"content-type")), (502, b"text/html"))
        self.assertIn(b"<html>", answer.body)
        self.assertEqual(p.reactor.tcpClients, [])

    def test_truncated_json(self) -> None:
        """C{truncated_json}: Zaqar's answer with half its body, and a length that matches."""
        p = Proxied("truncated_json")
        p.send()
        p.upstream()
        answer = parse_response(p.client.value())
        assert answer is not None
        self.assertEqual(answer.body, ANSWER_BODY[: len(ANSWER_BODY) // 2])
        self.assertEqual(answer.header(b"content-length"), b"%d" % (len(answer.body),))
        self.assertRaises(ValueError, json.loads, answer.body)

    def test_wrong_content_type(self) -> None:
        """C{wrong_content_type}: Zaqar's answer whole, as C{text/html}."""
        p = Proxied("wrong_content_type")
        p.send()
        p.upstream()
        answer = parse_response(p.client.value())
        assert answer is not None
        self.assertEqual((answer.body, answer.header(b"content-type")), (ANSWER_BODY, b"text/html"))

    def test_every_kind_is_logged(self) -> None:
        """Each kind is recorded with the request it hit, and counted."""
        for kind in FAULT_KINDS:
            p = Proxied(kind)
            p.send()
            self.assertEqual([(e.n, e.method, e.path, e.fault) for e in p.proxy.faults()],
                             [(0, "POST", "/v2/queues/q/messages", kind)])
            self.assertEqual(p.proxy.counts(), {kind: 1})
