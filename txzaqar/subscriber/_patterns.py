"""
Pattern subscriptions of the L{Subscriber <txzaqar.subscriber.Subscriber>}
(C{psubscribe}, C{punsubscribe}, C{discover}): the queues whose names match
a glob pattern, found by listing the project's queues every
C{discovery_interval} seconds and when told to.  A mixin of the
Subscriber, kept apart so that its module stays short.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attr
from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.internet.task import LoopingCall

from .._support.validation import MAX_PAGE
from ..errors import BadRequest, ClientValidationError, ZaqarError
from .events import log

__all__ = ["Discovery", "PatternSubscriptions"]


class PatternSubscriptions:
    """The pattern subscriptions of a Subscriber (a mixin: the Subscriber is C{self})."""

    if TYPE_CHECKING:
        from ..interfaces import IClient
        from ._channel import _Channel
        from .settings import SubscriberSettings

        _client: IClient
        _channels: dict[str, _Channel]
        _clock: Any
        _stopping: bool
        running: int
        settings: SubscriberSettings

        def _subscribe(self, queue_name: str, callback: Callable[[Any], Any] | None,
                       configure: dict[str, Any] | None, concurrency: int | None) -> None: ...

        def unsubscribe(self, queue_name: str | Iterable[str] | None = None) -> Deferred[None]: ...

    def _init_patterns(self) -> None:
        self._patterns: dict[str, Callable[[Any], Any] | None] = {}
        #: the queues subscribed by discovery, and the pattern of each
        self._discovered: dict[str, str] = {}
        self._discovery_loop: LoopingCall | None = None
        self._discovery_lock = DeferredLock()
        self._discovery_failing = False
        #: Listings of the queues for the patterns (L{discover}) that failed.
        self.discovery_errors = 0

    def _stop_discovery(self) -> None:
        if self._discovery_loop is not None:
            if self._discovery_loop.running:
                self._discovery_loop.stop()
            self._discovery_loop = None

    @property
    def patterns(self) -> frozenset[str]:
        """The glob patterns subscribed with L{psubscribe}."""
        return frozenset(self._patterns)

    def discovered(self) -> dict[str, str]:
        """
        The queues subscribed by discovery (L{psubscribe}), each to the
        pattern that matched it: a C{dict} of queue name to pattern.
        """
        return dict(self._discovered)

    def psubscribe(self, pattern: str | Iterable[str] | Mapping[str, Callable[[Any], Any] | None],
                   callback: Callable[[Any], Any] | None = None) -> None:
        """
        The queues are discovered at once if the service is running, else
        when it starts, then every C{discovery_interval} seconds.
        """
        wanted = _wanted(pattern, callback, "pattern")
        for each, function in wanted.items():
            if not each or len(each) > 256:
                raise ClientValidationError("pattern", f"must be 1 to 256 characters, not {each!r:.60}")
            if each in self._patterns:
                raise ClientValidationError("pattern", f"already subscribed to {each!r}; punsubscribe first")
            if function is not None and not callable(function):
                raise ClientValidationError("callback", f"must be callable, not {function!r:.60}")
        self._patterns.update(wanted)
        if self.running and not self._stopping:
            self._start_discovery()

    def punsubscribe(self, pattern: str | Iterable[str] | None = None) -> Deferred[None]:
        """
        C{None} (no argument): every pattern.  The queues discovered for
        them (and not matched by another pattern) are unsubscribed.
        """
        names = _names(pattern, self._patterns, "pattern", "a pattern")
        for name in names:
            self._patterns.pop(name, None)
        if not self._patterns:
            self._stop_discovery()
        gone = [queue for queue, matched in self._discovered.items() if matched in names]
        for queue in gone:
            del self._discovered[queue]
        return self.unsubscribe(gone) if gone else succeed(None)

    def discover(self) -> Deferred[Discovery]:
        """
        List the project's queues now; waits for a listing in flight first.
        """
        return self._discovery_lock.run(lambda: Deferred.fromCoroutine(self._discover()))

    async def _discover(self) -> Discovery:
        if not self._patterns:
            return Discovery(frozenset(), frozenset())
        page = self._client.max_queues_per_page
        try:
            names = {queue.name for queue in await self._client.queues(limit=page)}
        except Exception as e:
            self.discovery_errors += 1
            if not self._discovery_failing:
                self._discovery_failing = True
                # a server that keeps Zaqar's default max_queues_per_page refuses larger pages
                advice = (f" (pages of {page} queues: is the server's max_queues_per_page lower?)"
                          if isinstance(e, BadRequest) and page > MAX_PAGE else "")
                log.warn("listing the queues for the patterns {patterns} failed: {error}{advice}; "
                         "trying again every {interval}s (logged once until it works)",
                         patterns=sorted(self._patterns), advice=advice,
                         error=str(e) if isinstance(e, ZaqarError) else f"{type(e).__name__}: {e}",
                         interval=self.settings.discovery_interval)
            raise
        if self._discovery_failing:
            self._discovery_failing = False
            log.info("listing the queues for the patterns works again")
        added: set[str] = set()
        for name in sorted(names - set(self._channels)):
            for pattern, callback in self._patterns.items():
                if fnmatch.fnmatchcase(name, pattern):
                    self._subscribe(name, callback, None, None)
                    self._discovered[name] = pattern
                    added.add(name)
                    break
        removed = {name for name, pattern in self._discovered.items()
                   if name not in names or pattern not in self._patterns}
        for name in removed:
            del self._discovered[name]
        if removed:
            self.unsubscribe(sorted(removed))
        if added or removed:
            log.info("discovered queues: {added_count} added ({added}), {removed_count} dropped ({removed})",
                     added_count=len(added), removed_count=len(removed),
                     added=_some(added), removed=_some(removed))
        return Discovery(frozenset(added), frozenset(removed))

    def _start_discovery(self) -> None:
        if self._discovery_loop is not None and self._discovery_loop.running:
            self.discover().addErrback(lambda _: None)
            return
        loop = self._discovery_loop = LoopingCall(self._discover_quietly)
        loop.clock = self._clock
        loop.start(self.settings.discovery_interval, now=True)

    def _discover_quietly(self) -> Deferred[None]:
        # an error is logged (once) and counted by _discover: the loop goes on
        return self.discover().addCallbacks(lambda _: None, lambda _: None)


def _names(given: Any, every: Iterable[str], field: str, what: str) -> list[str]:
    """
    The names of an C{unsubscribe} or C{punsubscribe} call: C{every} for
    C{None}, one name, or a list, tuple or set of them.

    @raise ClientValidationError: anything else (C{field} names the argument).
    """
    if given is None:
        return list(every)
    if isinstance(given, str):
        return [given]
    if isinstance(given, (list, tuple, set, frozenset)) and all(isinstance(n, str) for n in given):
        return list(given)
    raise ClientValidationError(field, f"must be {what}, a list of them or None, not {given!r:.60}")


def _some(names: Iterable[str], at_most: int = 10) -> str:
    """Up to C{at_most} of C{names}, sorted, and how many more: a log line stays short with many queues."""
    shown = sorted(names)
    more = f" and {len(shown) - at_most:,} more" if len(shown) > at_most else ""
    return ", ".join(shown[:at_most]) + more or "none"


def _wanted(queue_name: Any, callback: Any, what: str = "queue_name") -> dict[str, Any]:
    """
    The queues of a C{subscribe} call and their callbacks.

    @raise ClientValidationError: not a name, a collection of names or a
        mapping of names; an empty one; a callback beside a mapping.
    """
    if isinstance(queue_name, str):
        return {queue_name: callback}
    if isinstance(queue_name, Mapping):
        if callback is not None:
            raise ClientValidationError("callback", "give the callbacks in the mapping, not beside it")
        wanted = dict(queue_name)
    elif isinstance(queue_name, (list, tuple, set, frozenset)):
        wanted = dict.fromkeys(queue_name, callback)
        if len(wanted) != len(queue_name):
            raise ClientValidationError(what, "a name is given twice")
    else:
        raise ClientValidationError(what, "must be a queue name, a list, tuple or set of them, "
                                    f"or a mapping of them to callbacks, not {queue_name!r:.60}")
    if not wanted:
        raise ClientValidationError(what, "no name given")
    for name in wanted:
        if not isinstance(name, str):
            raise ClientValidationError(what, f"must be a str, not {name!r:.60}")
    return wanted


@attr.s(frozen=True, auto_attribs=True)
class Discovery:
    """What one listing of the queues changed (L{Subscriber.discover})."""

    #: The queues that matched a pattern and are consumed from now on.
    added: frozenset[str]
    #: The discovered queues dropped: deleted, or their pattern unsubscribed.
    removed: frozenset[str]
