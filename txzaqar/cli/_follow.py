"""
The commands that keep going: C{txzaqar tail} (messages as they arrive,
read without consuming them, or claimed and deleted with C{--consume})
and C{txzaqar redrive} (messages moved out of a dead-letter queue: claim,
post, then delete, so that a message is never lost, at worst duplicated).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python import usage

from .. import PartialPostError, ZaqarError

#: The most items one listing page or claim asks for (the server's limit).
PAGE = 20


class Stop:
    """
    A request to stop (SIGINT or SIGTERM: the reactor shutting down) and the
    waits it cuts short (a push notification cuts one short too: L{wake}).
    """

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._wake: Deferred[None] | None = None
        self._woken = False
        #: Whether a stop was asked for.
        self.requested = False

    def request(self) -> None:
        """Ask to stop: a L{sleep} under way ends now."""
        self.requested = True
        wake, self._wake = self._wake, None
        if wake is not None and not wake.called:
            wake.callback(None)

    def wake(self) -> None:
        """End a L{sleep} under way now, without stopping; with none under way, the next one does not wait."""
        self._woken = True
        wake, self._wake = self._wake, None
        if wake is not None:
            self._ring(wake)

    @staticmethod
    def _ring(wake: Deferred[None]) -> None:
        if not wake.called:
            wake.callback(None)

    async def sleep(self, seconds: float) -> None:
        """Wait C{seconds}, or less when a stop is asked for or a L{wake} comes."""
        if self.requested or self._woken:
            self._woken = False
            return
        wake: Deferred[None] = Deferred()
        self._wake = wake
        call = self._clock.callLater(seconds, self._ring, wake)
        try:
            await wake
        finally:
            if call.active():
                call.cancel()
            self._wake = None
            self._woken = False


class Seen:
    """The ids already printed: the last C{size} of them (a listing may start over: print each once)."""

    def __init__(self, size: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def add(self, message_id: str) -> bool:
        """Remember C{message_id}; C{True} when it is new."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


async def read_new(queue: Any, marker: str | None, seen: Seen, emit: Callable[[Any], None]) -> str | None:
    """
    List C{queue}'s messages after C{marker} (claimed, delayed and this
    client's own included: a delayed one would otherwise be listed only
    after the marker had passed it), C{emit} each not yet seen; return the
    marker to go on from.
    """
    listing = queue.iter_messages(limit=PAGE, echo=True, include_claimed=True, include_delayed=True,
                                  marker=marker)
    async for message in listing:
        if seen.add(message.id):
            emit(message)
    marker = listing.marker
    return marker


async def tail(queue: Any, emit: Callable[[Any], None], stop: Stop, follow: bool, interval: float) -> None:
    """Print C{queue}'s messages once each, without consuming them; with C{follow}, until stopped."""
    seen = Seen()
    marker = await read_new(queue, None, seen, emit)
    while follow and not stop.requested:
        await stop.sleep(interval)
        if not stop.requested:
            marker = await read_new(queue, marker, seen, emit)


async def drain(queue: Any, emit: Callable[[Any], None], stop: Stop) -> int:
    """Claim, print and delete C{queue}'s messages until it has none; return how many."""
    count = 0
    while not stop.requested:
        claim = await queue.claim(limit=PAGE)
        if not claim:
            break
        for message in claim:
            emit(message)
            await queue.delete_message(message.id, claim_id=claim.id)
            count += 1
    return count


async def consume(client: Any, name: str, emit: Callable[[Any], None], stop: Stop, interval: float,
                  push: Any = None, safety_interval: float = 300.0, clock: Any = None) -> None:
    """
    Claim, print and delete C{name}'s messages with a Subscriber (on
    C{clock}, C{None}: the reactor) until stopped; with C{push} (a
    L{txzaqar.interfaces.IWakeSource}) its notifications wake the
    Subscriber, whose idle polling slows to C{safety_interval} while they flow.
    """
    options: dict[str, Any] = {} if push is None else {"push": push, "safety_interval": safety_interval}
    if clock is not None:
        options["clock"] = clock
    subscriber = client.subscriber(poll_interval=interval, max_interval=max(interval, 30.0), **options)
    subscriber.subscribe(name, emit)
    subscriber.startService()
    try:
        while not stop.requested:
            await stop.sleep(3600)
    finally:
        await subscriber.stopService()


class RedriveFailed(Exception):
    """
    A redrive stopped part-way; C{moved} were moved, C{duplicated} (pairs of
    the dead-letter queue's message id and its copy's id) were posted but
    not deleted, and C{cause} is why.
    """

    def __init__(self, cause: BaseException, moved: int, duplicated: Sequence[tuple[str, str]]) -> None:
        super().__init__(str(cause))
        #: What stopped it.
        self.cause = cause
        #: How many messages were moved before.
        self.moved = moved
        #: C{(id in the dead-letter queue, id of its copy)} of each message now in both queues.
        self.duplicated = list(duplicated)


async def _release(claim: Any) -> None:
    try:
        await claim.release()
    except ZaqarError:
        pass  # its messages come back when the claim expires


#: Zaqar's least message ttl (seconds).
MIN_TTL = 60


def remaining_ttl(message: Any) -> int | None:
    """
    What is left of C{message}'s ttl (its ttl less its age, Zaqar's least
    ttl at least), so that a moved message expires when it would have;
    C{None} (the target queue's default) when the server gave neither.
    """
    if not isinstance(message.ttl, int):
        return None
    age = message.age if isinstance(message.age, int) else 0
    return max(MIN_TTL, message.ttl - age)


async def redrive(source: Any, target: Any, limit: int | None) -> int:
    """
    Move messages from C{source} to C{target} (at most C{limit}): claim a
    page, post its bodies (with the rest of their ttl: L{remaining_ttl}),
    delete them from C{source};
    until C{source} has none or C{limit} were moved. Return how many moved.

    @raise RedriveFailed: a request failed; the claim of what was not moved
        is released.
    """
    moved = 0
    while limit is None or moved < limit:
        claim = await source.claim(limit=PAGE if limit is None else min(PAGE, limit - moved))
        if not claim:
            break
        messages = list(claim)
        try:
            ids = await target.post([{"body": m.body, "ttl": remaining_ttl(m)} for m in messages])
        except PartialPostError as e:  # the first ones were posted: delete those, release the rest
            duplicated: list[tuple[str, str]] = []
            try:
                moved += await _delete(source, claim, list(zip(messages, e.posted_ids, strict=False)))
            except RedriveFailed as failed:
                moved, duplicated = moved + failed.moved, failed.duplicated
            await _release(claim)
            raise RedriveFailed(e, moved, duplicated) from e
        except BaseException as e:
            await _release(claim)
            raise RedriveFailed(e, moved, []) from e
        try:
            moved += await _delete(source, claim, list(zip(messages, ids, strict=True)))
        except RedriveFailed as e:
            await _release(claim)
            raise RedriveFailed(e.cause, moved + e.moved, e.duplicated) from e.cause
    return moved


async def _delete(source: Any, claim: Any, pairs: list[tuple[Any, str]]) -> int:
    """Delete each posted message from C{source}; return how many; L{RedriveFailed} naming those left."""
    failed: list[tuple[str, str]] = []
    cause: BaseException | None = None
    for message, new_id in pairs:
        try:
            await source.delete_message(message.id, claim_id=claim.id)
        except ZaqarError as e:
            failed.append((message.id, new_id))
            cause = cause or e
    if cause is not None:
        raise RedriveFailed(cause, len(pairs) - len(failed), failed)
    return len(pairs)


def check_redrive(source: str, target: str, limit: int | None) -> None:
    """A C{usage.UsageError} for a redrive that cannot be meant."""
    if source == target:
        raise usage.UsageError("--to must name another queue than the dead-letter queue")
    if limit is not None and limit < 1:
        raise usage.UsageError(f"--limit must be at least 1, not {limit}")


class on_shutdown:  # noqa: N801 (used as a function: with on_shutdown(reactor, stop))
    """
    While in this block, the reactor's shutdown (SIGINT, SIGTERM) requests
    C{stop} and waits for the block to end (the command winds down and exits 0).
    """

    def __init__(self, reactor: Any, stop: Stop) -> None:
        self._reactor = reactor
        self._stop = stop
        self._done: Deferred[None] = Deferred()
        self._trigger: Any = None

    def _shutdown(self) -> Deferred[None]:
        self._stop.request()
        return self._done

    def __enter__(self) -> on_shutdown:
        self._trigger = self._reactor.addSystemEventTrigger("before", "shutdown", self._shutdown)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._stop.requested:
            self._reactor.removeSystemEventTrigger(self._trigger)
        self._done.callback(None)
