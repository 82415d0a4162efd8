"""
L{WebhookPush}: Zaqar's webhook notifications as wake-ups.

Zaqar's notifier (C{[storage] message_pipeline = zaqar.notification.notifier})
POSTs every posted message, as C{{"Message_Type": "Notification",
"queue_name": Q, "ttl": ..., "body": ...}}, to the C{subscriber} URL of each
subscription of the queue.  The body carries no message id, so a
notification is only a wake-up: the target claims from C{Q} at once.

The source owns one subscription per watched queue, with a secret path
under the application's public URL as the subscriber, renews it at half
its ttl, and deletes it when the queue is unwatched or the source stops.
It confirms the subscription itself through the client (C{PUT .../confirm}),
so servers with C{[notification] require_confirmation = true} deliver to it
too; the confirmation request such a server POSTs is answered and counted.
"""

from __future__ import annotations

import hmac
import json
import random
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IReactorTime, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory
from twisted.python.failure import Failure
from twisted.web.http import Request as HTTPRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site
from zope.interface import implementer

from .._support import validation as v
from .._support.backoff import Backoff, added
from ..errors import ClientValidationError, Conflict, NotFound
from ..interfaces import IClient, ISubscription, IWakeSource, IWakeTarget
from ._target import tell

__all__ = ["MAX_BODY", "BoundedRequest", "QuietSite", "WebhookPush", "WebhookResource"]

#: The push sources' logger (namespace C{txzaqar.push}).
log = Logger(namespace="txzaqar.push")

#: The largest notification body accepted, in bytes (a larger one is a 413).
#: Zaqar's own post limit is 256 KiB for a whole post, but a webhook
#: notification holds one message and the body is not needed: it is
#: dropped unread.
MAX_BODY = 64 * 1024

#: What a path given instead of the generated secret may be made of
#: (URL-safe characters: it goes into the subscriber URL unquoted).
_PATH_RE = re.compile(r"[A-Za-z0-9._~-]+")

#: The message types a Zaqar notifier POSTs besides notifications.
_CONFIRMATION_TYPES = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise ClientValidationError("url", f"must be an http(s) URL string, not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientValidationError("url", "must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ClientValidationError("url", "must have no query or fragment")
    try:
        _ = parts.port  # urllib checks the port only when asked for it
    except ValueError as e:
        raise ClientValidationError("url", f"has a bad port: {e}") from None
    return url


def _check_path(path: object) -> str:
    if path is None:
        return secrets.token_urlsafe(24)
    if not isinstance(path, str) or not path:
        raise ClientValidationError("path", "must be a non-empty string")
    if "/" in path:
        raise ClientValidationError("path", "must be one path segment, without '/'")
    if not _PATH_RE.fullmatch(path) or path in (".", ".."):
        raise ClientValidationError("path", "may only contain letters, digits, '.', '_', '~' and '-'")
    return path


class BoundedRequest(Request):
    """
    A request that keeps at most L{MAX_BODY} + 1 bytes of its body (the
    rest is read and dropped), so an oversized POST costs no memory and is
    still answered with a 413.
    """

    _kept = 0

    def gotLength(self, length: int | None) -> None:
        """Keep the body in memory, whatever length it announces (see C{Request.gotLength})."""
        super().gotLength(0)

    def handleContentChunk(self, data: bytes) -> None:
        """Keep the part of C{data} within the bound (see C{Request.handleContentChunk})."""
        room = MAX_BODY + 1 - self._kept
        if room > 0:
            kept = data[:room]
            self._kept += len(kept)
            super().handleContentChunk(kept)


class QuietSite(Site):
    """
    A L{Site} that writes no access log: Twisted's would write every
    request line, secret path included, to the global log.
    """

    def log(self, request: HTTPRequest) -> None:
        """Log nothing (see the class docstring)."""


class WebhookResource(Resource):
    """
    The C{twisted.web} resource Zaqar's notifier POSTs to: mounted at the
    path of the public URL, it answers only its one secret child.

      - another path: 404; another method: 405;
      - a body over L{MAX_BODY} bytes: 413; not JSON, or not a Zaqar
        notification or confirmation request for a valid queue name: 400;
      - a notification for a watched queue: 204, and the queue is woken;
      - a notification for a queue not watched (one unwatched a moment
        ago, whose subscription the notifier had already read): 204 and
        nothing else, since a 4xx would not stop the notifier either;
      - a confirmation request: 204 (L{WebhookPush} confirms its
        subscriptions itself).

    Every answer is made at once, on the reactor thread: the notifier
    waits for it in one of its few worker threads.
    """

    #: Every path below it is this resource's to answer (404 for all but the secret one).
    isLeaf = True

    def __init__(self, push: WebhookPush, secret: str) -> None:
        super().__init__()
        self._push = push
        self._secret = secret.encode("ascii")

    def render(self, request: Request) -> bytes:
        """
        Answer one request (see the class docstring for what it answers).

        @return: an empty body.
        """
        code = self._answer(request)
        request.setResponseCode(code)
        if code == 405:
            request.setHeader(b"allow", b"POST")
        if code >= 400:
            self._push.rejected += 1
        return b""

    def _answer(self, request: Request) -> int:
        postpath = request.postpath or []
        if len(postpath) != 1 or not hmac.compare_digest(postpath[0], self._secret):
            log.debug("webhook: a request for another path")
            return 404
        if request.method != b"POST":
            return 405
        length = request.getHeader(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return 413
        assert request.content is not None
        body = request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return 413
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeper than Python's stack
            log.debug("webhook: a body that is not JSON")
            return 400
        return self._push.received(document)


@implementer(IWakeSource)
class WebhookPush:
    """
    Zaqar's webhook notifications as wake-ups (an L{IWakeSource}); see the
    module docstring.

    Listening on its own port::

        push = WebhookPush(client, "https://hooks.example.com:8443/zaqar", reactor,
                           listen="tcp:8443")
        subscriber = Subscriber(client, push=push)

    or, with C{listen=None}, mounted in the application's site at the URL's
    path (C{root.putChild(b"zaqar", push.resource)}).

    A queue is reported up (L{IWakeTarget.push_up}) once its subscription
    exists and is confirmed; any failure to make, confirm or renew it
    (Zaqar down, a 4xx) reports it down once (L{IWakeTarget.push_down}) and
    is retried after L{backoff}, until it succeeds and the queue is up
    again.  A renewal that finds the subscription gone makes a new one.

    @param client: the L{IClient} whose queues' subscriptions are made,
        renewed and deleted.
    @param url: the public base URL Zaqar can reach (C{http://} or
        C{https://}); the subscriber URL is it plus a secret path segment.
        With C{listen} given, a port of C{0} in it (C{http://127.0.0.1:0/h})
        stands for the port listened on, known after L{start}.
    @param reactor: provides C{IReactorTime} (renewals, backoff) and, with
        C{listen} given, what the endpoint needs (C{IReactorTCP}, ...).
    @param listen: a server endpoint string (C{"tcp:8443"}) or an
        C{IStreamServerEndpoint} to listen on from L{start}; C{None} when
        the application mounts L{resource} in its own site.
    @param subscription_ttl: seconds each subscription lives (renewed at
        half of it); at least 60.
    @param path: the secret path segment (letters, digits, C{._~-});
        C{secrets.token_urlsafe(24)} when omitted.  Give one (kept secret)
        to find the same subscriptions again after a restart.
    @raise ClientValidationError: a bad C{url}, C{listen},
        C{subscription_ttl} or C{path}.
    """

    #: What pushes (see L{IWakeSource.kind}).
    kind = "webhook"

    def __init__(
        self,
        client: IClient,
        url: str,
        reactor: Any,
        *,
        listen: str | IStreamServerEndpoint | None = None,
        subscription_ttl: int = 3600,
        path: str | None = None,
    ) -> None:
        #: The public base URL (without the secret path).
        self.url = _check_url(url)
        self._ttl = v.integer("subscription_ttl", subscription_ttl, v.MIN_SUBSCRIPTION_TTL, 10**9)
        self._secret = _check_path(path)
        self._client = client
        self._clock: IReactorTime = reactor
        self._endpoint = self._check_listen(reactor, listen)
        if self._endpoint is None and urlsplit(self.url).port == 0:
            raise ClientValidationError("url", "port 0 stands for the port listened on: give listen too")
        #: The C{twisted.web} resource notifications are POSTed to (a L{WebhookResource}).
        self.resource: IResource = WebhookResource(self, self._secret)
        #: The port listened on after L{start} (with C{listen} given), else C{None}.
        self.port: IListeningPort | None = None
        #: Notifications accepted (for a watched queue).
        self.notifications = 0
        #: Notifications for queues not watched (answered 204, woke nothing).
        self.ignored = 0
        #: Confirmation requests received.
        self.confirmations = 0
        #: Requests refused with a 4xx status.
        self.rejected = 0
        #: Seconds to wait before retry C{n} (0 first) after a failure.
        self.backoff: Callable[[int], float] = Backoff(1.0, 60.0, 2.0, jitter=added(random.random))
        self._target: IWakeTarget | None = None
        self._state = "new"
        self._watches: dict[str, _Watch] = {}
        #: Unwatched queues whose subscription is being deleted: a new
        #: watch of one waits for that (its create would find the old
        #: subscription, and the delete then remove it).
        self._closing: dict[str, Deferred[None]] = {}
        self._connections: WrappingFactory | None = None

    @staticmethod
    def _check_listen(reactor: Any, listen: object) -> IStreamServerEndpoint | None:
        if listen is None or IStreamServerEndpoint.providedBy(listen):
            return listen
        if not isinstance(listen, str):
            raise ClientValidationError("listen", "must be an endpoint string or an IStreamServerEndpoint")
        try:
            return serverFromString(reactor, listen)
        except Exception as e:  # serverFromString raises ValueError, KeyError, TypeError...
            raise ClientValidationError("listen", f"{listen!r} is not a server endpoint: {e}") from None

    def __repr__(self) -> str:
        return f"<WebhookPush {self.url} {self._state}, {len(self.queues_up)}/{len(self._watches)} up>"

    # -- public state ---------------------------------------------------------

    @property
    def state(self) -> str:
        """C{"new"}, C{"started"} (listening, when listening is ours) or C{"stopped"}."""
        return self._state

    @property
    def queues_up(self) -> frozenset[str]:
        """The watched queues whose subscription exists and is confirmed."""
        return frozenset(name for name, watch in self._watches.items() if watch.up)

    @property
    def watched(self) -> frozenset[str]:
        """The queues watched."""
        return frozenset(self._watches)

    @property
    def subscriber_url(self) -> str:
        """The URL Zaqar POSTs to: L{url} and the secret path.  It is a secret: do not log it."""
        parts = urlsplit(self.url)
        if self.port is not None and parts.port == 0:
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            parts = parts._replace(netloc=f"{host}:{getattr(self.port.getHost(), 'port', 0)}")
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + self._secret))

    # -- IWakeSource ----------------------------------------------------------

    def start(self, target: IWakeTarget) -> Deferred[None]:
        """
        Listens (with C{listen} given) before subscribing; fails with the
        endpoint's error (e.g. L{twisted.internet.error.CannotListenError})
        if it cannot listen.
        """
        self._target = target

        async def start() -> None:
            if self._endpoint is not None:
                site = QuietSite(self._site_root(), requestFactory=BoundedRequest, reactor=self._clock)
                self._connections = WrappingFactory(site)
                try:
                    self.port = await self._endpoint.listen(self._connections)
                except Exception as e:
                    log.error("webhook push cannot listen for {url}: {error}", url=self.url, error=str(e))
                    raise
                log.info("webhook push listening on {address} for {url}",
                         address=str(self.port.getHost()), url=self.url)
            self._state = "started"
            for watch in list(self._watches.values()):
                self._begin(watch)

        return Deferred.fromCoroutine(start())

    def _site_root(self) -> IResource:
        """The resource tree that puts L{resource} at the path of L{url}."""
        segments = [s for s in urlsplit(self.url).path.split("/") if s]
        if not segments:
            return self.resource
        root = parent = Resource()
        for segment in segments[:-1]:
            child = Resource()
            parent.putChild(segment.encode(), child)
            parent = child
        parent.putChild(segments[-1].encode(), self.resource)
        return root

    def watch(self, queue_name: str) -> None:
        """The queue's L{IWakeTarget.push_up} follows once its subscription exists and is confirmed."""
        if queue_name in self._watches:
            return
        watch = _Watch(queue_name, self._client.queue(queue_name))
        self._watches[queue_name] = watch
        if self._state == "started":
            self._begin(watch)

    def unwatch(self, queue_name: str) -> Deferred[None]:
        """Stops renewing the subscription, and deletes it once a request for it in flight is answered."""
        watch = self._watches.pop(queue_name, None)
        if watch is None:
            return self._after_close(queue_name) if queue_name in self._closing else succeed(None)
        closed = Deferred.fromCoroutine(self._close(watch))
        if closed.called:
            return closed
        self._closing[queue_name] = closed

        def finished(_: None) -> None:
            del self._closing[queue_name]
            again = self._watches.get(queue_name)
            if again is not None and not again.begun and self._state == "started":
                self._run(again)

        closed.addCallback(finished)
        return self._after_close(queue_name)

    def _after_close(self, queue_name: str) -> Deferred[None]:
        """A new Deferred firing with C{None} once the subscription of C{queue_name} is deleted."""
        done: Deferred[None] = Deferred()

        def fire(result: None) -> None:
            done.callback(None)
            return result

        self._closing[queue_name].addCallback(fire)
        return done

    def _begin(self, watch: _Watch) -> None:
        """Start the upkeep of C{watch}, or let L{unwatch} start it once the old subscription is deleted."""
        if watch.name not in self._closing:
            self._run(watch)

    def stop(self) -> Deferred[None]:
        """
        Deletes every subscription first, then stops listening and closes the connections Zaqar's notifier keeps open.
        """
        if self._state == "stopped":
            return succeed(None)
        self._state = "stopped"
        watches = list(self._watches.values())
        self._watches.clear()

        async def stop() -> None:
            await DeferredList([Deferred.fromCoroutine(self._close(w)) for w in watches])
            if self.port is not None:
                try:
                    await maybeDeferred(self.port.stopListening)
                except Exception:
                    log.failure("webhook push: stopping listening failed")
            if self._connections is not None:
                for protocol in list(self._connections.protocols):
                    protocol.transport.abortConnection()
            log.info("webhook push stopped")

        return Deferred.fromCoroutine(stop())

    # -- receiving ------------------------------------------------------------

    def received(self, document: Any) -> int:
        """
        Handle the JSON body of a POST on the secret path.

        @param document: the parsed JSON.
        @return: the status to answer: 204, or 400 for a body that is not a
            Zaqar notification or confirmation request.
        """
        if not isinstance(document, dict):
            return 400
        queue_name = document.get("queue_name")
        try:
            v.queue_name(queue_name)
        except ClientValidationError:
            log.debug("webhook: a body without a valid queue_name")
            return 400
        assert isinstance(queue_name, str)
        kind = document.get("Message_Type")
        if kind in _CONFIRMATION_TYPES:
            self.confirmations += 1
            log.debug("webhook: {kind} for {queue}", kind=kind, queue=queue_name)
            return 204
        if kind != "Notification":
            log.debug("webhook: a body of an unknown Message_Type")
            return 400
        if queue_name not in self._watches or self._target is None:
            self.ignored += 1
            log.debug("webhook: a notification for {queue}, not watched", queue=queue_name)
            return 204
        self.notifications += 1
        try:
            self._target.wake(queue_name)
        except Exception:
            log.failure("webhook: waking {queue} failed", queue=queue_name)
        return 204

    # -- the subscription of each queue ---------------------------------------

    def _run(self, watch: _Watch) -> None:
        """Make sure the subscription of C{watch} exists, is confirmed and renewed."""
        watch.timer = None
        watch.begun = True
        watch.pending = Deferred.fromCoroutine(self._ensure(watch))
        watch.pending.addCallbacks(self._ensured, self._failed, callbackArgs=(watch,), errbackArgs=(watch,))

    async def _ensure(self, watch: _Watch) -> None:
        subscription = watch.subscription
        if subscription is not None:
            try:
                subscription = await subscription.update(ttl=self._ttl)
            except NotFound:
                # expired (a renewal failed for too long) or deleted by someone: make a new one
                subscription = watch.subscription = None
                watch.confirmed = False
        if subscription is None:
            subscription = await self._create(watch)
            watch.subscription = subscription
            watch.confirmed = getattr(subscription, "confirmed", None) is True
        if not watch.confirmed:
            # A server with require_confirmation = true delivers nothing
            # until this; on one without, it is harmless.  Confirming here
            # rather than on its confirmation request works when the server
            # has no [signed_url] secret_key to sign that request with.
            await subscription.confirm()
            watch.confirmed = True

    async def _create(self, watch: _Watch) -> ISubscription:
        url = self.subscriber_url
        try:
            return await watch.queue.subscribe(url, ttl=self._ttl)
        except Conflict:
            # A confirmed subscription with this subscriber exists (ours,
            # from before a restart with the same path): take it over.
            async for subscription in watch.queue.iter_subscriptions(limit=20):
                if subscription.subscriber == url:
                    return await subscription.update(ttl=self._ttl)
            raise

    def _ensured(self, _: None, watch: _Watch) -> None:
        watch.pending = None
        watch.failures = 0
        if watch.closed:
            return
        watch.timer = self._clock.callLater(self._ttl / 2, self._run, watch)
        if not watch.up:
            watch.up = True
            watch.reported_down = False
            log.info("webhook push up for {queue}", queue=watch.name)
            self._tell("push_up", lambda target: target.push_up(watch.name))

    def _failed(self, failure: Failure, watch: _Watch) -> None:
        watch.pending = None
        if watch.closed:
            return
        reason = self._reason(failure)
        delay = self.backoff(watch.failures)
        watch.failures += 1
        watch.timer = self._clock.callLater(delay, self._run, watch)
        if watch.up or not watch.reported_down:
            watch.up = False
            watch.reported_down = True
            log.warn("webhook push down for {queue}: {reason}; retrying in {delay:.1f} s",
                     queue=watch.name, reason=reason, delay=delay)
            self._tell("push_down", lambda target: target.push_down(watch.name, reason))
        else:
            log.debug("webhook push for {queue} failed again: {reason}", queue=watch.name, reason=reason)

    def _reason(self, failure: Failure) -> str:
        """One line saying why, without the secret path (a server may quote the subscriber)."""
        text = " ".join(str(failure.value).split()) or type(failure.value).__name__
        return text.replace(self._secret, "<secret>")[:300]

    def _tell(self, method: str, call: Callable[[IWakeTarget], object]) -> None:
        tell(self._target, log, method, call)

    async def _close(self, watch: _Watch) -> None:
        """Stop renewing C{watch}'s subscription and delete it; never fails."""
        watch.closed = True
        if watch.timer is not None and watch.timer.active():
            watch.timer.cancel()
        watch.timer = None
        if watch.pending is not None:
            await watch.pending  # its callbacks swallow its failure
        if watch.subscription is not None:
            try:
                await watch.subscription.delete()
            except Exception as e:
                log.warn("webhook push: deleting the subscription of {queue} failed: {reason}",
                         queue=watch.name, reason=self._reason(Failure(e)))
            watch.subscription = None
        watch.up = False


class _Watch:
    """The subscription of one watched queue, and where its upkeep stands."""

    def __init__(self, name: str, queue: Any) -> None:
        self.name = name
        #: The L{IQueue} its subscription is made on.
        self.queue = queue
        self.subscription: ISubscription | None = None
        #: Whether the subscription is known to be confirmed.
        self.confirmed = False
        #: Whether push_up was reported last (and no push_down since).
        self.up = False
        #: Whether push_down was reported since the last push_up.
        self.reported_down = False
        #: Failures in a row (the backoff's attempt number).
        self.failures = 0
        #: The next renewal or retry.
        self.timer: Any = None
        #: The upkeep in flight.
        self.pending: Deferred[None] | None = None
        #: Unwatched or stopped: nothing more is scheduled or reported.
        self.closed = False
        #: Whether its upkeep started.
        self.begun = False
