"""
The state of the in-memory Zaqar: projects, queues, messages, claims and
subscriptions, and how they change with time.

No HTTP here: operations take plain values and return stored objects (or
nothing); a missing or refused thing is a L{records.ModelError}, which the wire
layer (L{txzaqar.testing.memory.wire}) turns into Zaqar's status and body.
Time comes from an injected L{IReactorTime}: messages, claims and
subscriptions expire when it says so, lazily (an expired thing is
dropped the next time it is read).

Where Redis is sloppy the model is exact; each difference is noted beside
the code that makes it.
"""

from __future__ import annotations

import datetime
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime

from . import encryption
from .records import (
    ClaimNotFound,
    MessageClaimed,
    MessageNotClaimed,
    NewMessage,
    NoSuchClaim,
    NoSuchMessage,
    NoSuchMessages,
    NoSuchQueue,
    NoSuchSubscription,
    Project,
    QueueStats,
    StoredClaim,
    StoredMessage,
    StoredSubscription,
    SubscriptionExists,
)

__all__ = ["ZaqarState"]


class ZaqarState:
    """
    Every project of one in-memory Zaqar, on an injected clock.
    """

    def __init__(self, clock: IReactorTime) -> None:
        #: The L{IReactorTime} all times follow.
        self.clock = clock
        self._projects: dict[str, Project] = {}
        self._seq = 0
        #: Wall-clock dates (stats C{created}, share C{expires}) start from
        #: the real time now and move with the clock.
        self._wall_offset = time.time() - clock.seconds()
        #: Called as C{observer(project_id, queue_name, count)} after
        #: C{count} messages were posted to a queue: what Zaqar's notifier
        #: pipeline sees (the in-memory push, L{txzaqar.testing.memory.push},
        #: is one).  An observer must not raise.
        self.post_observers: list[Callable[[str, str, int], None]] = []

    # -- time -----------------------------------------------------------------

    def now(self) -> int:
        """The clock, in whole seconds (Zaqar's times are integers)."""
        return int(self.clock.seconds())

    def wall(self) -> datetime.datetime:
        """The wall-clock time now, as a naive UTC datetime."""
        ts = self._wall_offset + self.clock.seconds()
        return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).replace(tzinfo=None)

    def created_at(self, message: StoredMessage) -> datetime.datetime:
        """The wall-clock (UTC) time a message was posted."""
        return datetime.datetime.fromtimestamp(self._wall_offset + message.created, tz=datetime.UTC)

    # -- projects and views ---------------------------------------------------

    def project(self, project_id: str) -> Project:
        """A project, created on first use (as Zaqar's are)."""
        project = self._projects.get(project_id)
        if project is None:
            project = self._projects[project_id] = Project()
        return project

    def _peek(self, project_id: str) -> Project:
        return self._projects.get(project_id, Project())

    def queue_names(self, project_id: str) -> list[str]:
        """The queues of a project, sorted."""
        return sorted(self._peek(project_id).queues)

    def metadata(self, project_id: str, queue_name: str) -> dict[str, Any] | None:
        """A copy of a queue's stored metadata (no defaults), or C{None} if it does not exist."""
        queues = self._peek(project_id).queues
        return dict(queues[queue_name]) if queue_name in queues else None

    def message_bodies(self, project_id: str, queue_name: str) -> list[Any]:
        """The bodies of a queue's live messages (claimed and delayed too), oldest first."""
        return [m.body for m in self._live(self._peek(project_id), queue_name, self.now())]

    # -- queues -----------------------------------------------------------------

    def queue_listing(self, project_id: str, name: str | None, metadata_filter: dict[str, Any],
                      marker: str | None, limit: int) -> tuple[list[str], int]:
        """
        One page of a project's queue names, sorted.  The C{name} regular
        expression and the metadata filter are applied (Zaqar 23.0.1 ignores
        them: quirk 7 of L{txzaqar.testing.quirks}), before paging, so a page is short only at the end.

        @return: C{(page, total)}, C{total} counting every queue of the project.
        @raise re.error: C{name} is not a regular expression (a 500, as in Zaqar).
        """
        project = self.project(project_id)
        names = sorted(project.queues)
        total = len(names)
        if name is not None:
            pattern = re.compile(name)
            names = [n for n in names if pattern.search(n)]
        if metadata_filter:
            names = [n for n in names
                     if all(project.queues[n].get(k) == v for k, v in metadata_filter.items())]
        if marker:
            names = [n for n in names if n > marker]
        return names[:limit], total

    def ensure_queue(self, project_id: str, queue_name: str) -> dict[str, Any]:
        """The stored metadata of a queue, which is created (empty) if it does not exist."""
        project = self.project(project_id)
        if queue_name not in project.queues:
            project.queues[queue_name] = {}
        return project.queues[queue_name]

    def create_queue(self, project_id: str, queue_name: str, metadata: dict[str, Any] | None) -> bool:
        """
        Create a queue.  An existing queue keeps its metadata (quirk 3 of L{txzaqar.testing.quirks}:
        PUT of an existing queue ignores its body).

        @return: whether the queue is new.
        """
        project = self.project(project_id)
        if queue_name in project.queues:
            return False
        project.queues[queue_name] = dict(metadata or {})
        return True

    def set_metadata(self, project_id: str, queue_name: str, metadata: dict[str, Any]) -> None:
        """Store a queue's metadata as given (creating the queue if need be)."""
        self.project(project_id).queues[queue_name] = metadata

    def delete_queue(self, project_id: str, queue_name: str) -> None:
        """Delete a queue and its messages (not its subscriptions)."""
        project = self.project(project_id)
        project.queues.pop(queue_name, None)
        for mid in project.msgsets.pop(queue_name, []):
            project.messages.pop(mid, None)

    def queue_stats(self, project_id: str, queue_name: str) -> QueueStats | None:
        """
        Counts of a queue's live messages, or C{None} if it has none.
        Messages under live claims count as claimed (Redis counts some of
        them as free).
        """
        project = self.project(project_id)
        if queue_name not in project.queues:
            return None
        now = self.now()
        live = self._live(project, queue_name, now)
        if not live:
            return None
        claimed = sum(1 for m in live if m.claimed(now))
        return QueueStats(claimed=claimed, free=len(live) - claimed, total=len(live),
                          oldest=live[0], newest=live[-1])

    def purge(self, project_id: str, queue_name: str, messages: bool, subscriptions: bool) -> None:
        """
        Remove a queue's messages, claimed and delayed ones too, and every
        subscription of it (Redis pops only free messages and deletes the
        first 10 subscriptions).
        """
        project = self.project(project_id)
        if messages:
            for message in self._live(project, queue_name, self.now()):
                self._remove_message(project, message)
        if subscriptions:
            for sid in [s.id for s in project.subscriptions.values() if s.source == queue_name]:
                del project.subscriptions[sid]

    # -- messages ---------------------------------------------------------------

    def _live(self, project: Project, queue_name: str, now: int) -> list[StoredMessage]:
        """The queue's unexpired messages in order; expired ones are dropped."""
        ids = project.msgsets.get(queue_name)
        if not ids:
            return []
        live = []
        keep = []
        for mid in ids:
            message = project.messages.get(mid)
            if message is None:
                continue
            if message.expires <= now:
                del project.messages[mid]
                continue
            keep.append(mid)
            live.append(message)
        if len(keep) != len(ids):
            project.msgsets[queue_name] = keep
        return live

    def post_messages(self, project_id: str, queue_name: str, messages: list[NewMessage],
                      client_id: str) -> list[str]:
        """
        Store messages at the end of a queue.  An encrypted queue also
        keeps a stand-in ciphertext, which claims and pop return (quirk
        8.5, see L{encryption}).

        @return: their new ids, in order.
        """
        project = self.project(project_id)
        now = self.now()
        ids = []
        msgset = project.msgsets.setdefault(queue_name, [])
        encrypted = encryption.encrypts(project.queues.get(queue_name))
        for message in messages:
            self._seq += 1
            mid = str(uuid.uuid4())
            project.messages[mid] = StoredMessage(
                id=mid, queue=queue_name, body=message.body, ttl=int(message.ttl),
                created=now, expires=now + int(message.ttl), client_id=client_id,
                seq=self._seq, delay_expires=now + int(message.delay),
                ciphertext=encryption.ciphertext(message.body) if encrypted else None,
            )
            msgset.append(mid)
            ids.append(mid)
        for observer in list(self.post_observers):
            observer(project_id, queue_name, len(ids))
        return ids

    def list_messages(self, project_id: str, queue_name: str, marker: str | None, limit: int,
                      include_claimed: bool, include_delayed: bool, echo: bool,
                      client_id: str) -> list[StoredMessage]:
        """
        One page of a queue's messages after C{marker}, filtered before
        paging (so a page is short only at the end).  A marker naming the
        first message does not restart the listing (quirk 1 of L{txzaqar.testing.quirks}), and
        C{include_claimed} works without a marker (quirk 2 of L{txzaqar.testing.quirks}).  Messages
        from C{client_id} show only with C{echo}.
        """
        project = self.project(project_id)
        if queue_name not in project.queues:
            return []
        if not self.delays_messages(project_id, queue_name):
            include_delayed = True
        now = self.now()
        live = self._live(project, queue_name, now)
        if marker:
            for index, message in enumerate(live):
                if message.id == marker:
                    live = live[index + 1:]
                    break
        page: list[StoredMessage] = []
        for message in live:
            if not include_claimed and message.claimed(now):
                continue
            if not include_delayed and now < message.delay_expires:
                continue
            if not echo and message.client_id == client_id:
                continue
            page.append(message)
            if len(page) == limit:
                break
        return page

    def delays_messages(self, project_id: str, queue_name: str) -> bool:
        """
        Whether a queue has a C{_default_message_delay}: only such a queue
        keeps a message's delay (quirk 4 of L{txzaqar.testing.quirks}) and hides delayed messages.
        """
        metadata = self._peek(project_id).queues.get(queue_name, {})
        return bool(metadata.get("_default_message_delay"))

    def decrypts(self, project_id: str, queue_name: str) -> bool:
        """Whether GET and listings of a queue decrypt (it is encrypted now; see L{encryption})."""
        return encryption.encrypts(self._peek(project_id).queues.get(queue_name))

    def messages_by_id(self, project_id: str, queue_name: str,
                       message_ids: list[str]) -> list[StoredMessage]:
        """
        The live messages of a queue with these ids, in the order asked.

        @raise NoSuchMessages: none of them exists.
        """
        project = self.project(project_id)
        now = self.now()
        found = []
        if queue_name in project.queues:
            self._live(project, queue_name, now)
            for mid in message_ids:
                message = project.messages.get(mid)
                if message is not None and message.queue == queue_name and message.expires > now:
                    found.append(message)
        if not found:
            raise NoSuchMessages(project_id, queue_name, message_ids)
        return found

    def message(self, project_id: str, queue_name: str, message_id: str) -> StoredMessage:
        """
        A live message.

        @raise NoSuchQueue: the queue does not exist.
        @raise NoSuchMessage: the message does not exist in the queue.
        """
        project = self.project(project_id)
        if queue_name not in project.queues:
            raise NoSuchQueue(project_id, queue_name)
        message = project.messages.get(message_id)
        if message is None or message.queue != queue_name or message.expires <= self.now():
            raise NoSuchMessage(project_id, queue_name, message_id)
        return message

    def delete_messages(self, project_id: str, queue_name: str, message_ids: list[str]) -> None:
        """Delete messages by id, claimed or not; missing ones are ignored."""
        project = self.project(project_id)
        if queue_name in project.queues:
            for mid in message_ids:
                message = project.messages.get(mid)
                if message is not None and message.queue == queue_name:
                    self._remove_message(project, message)

    def delete_message(self, project_id: str, queue_name: str, message_id: str,
                       claim_id: str | None) -> None:
        """
        Delete one message: a missing one is already gone; a claimed one
        only with its live claim's id.

        @raise ClaimNotFound: C{claim_id} names no live claim of the queue.
        @raise MessageClaimed: a live claim holds the message and C{claim_id}
            is not it.
        @raise MessageNotClaimed: C{claim_id} is given but the message is free.
        """
        project = self.project(project_id)
        now = self.now()
        message = project.messages.get(message_id)
        if (queue_name not in project.queues or message is None or message.queue != queue_name
                or message.expires <= now):
            return
        if claim_id is not None:
            try:
                uuid.UUID(claim_id)
            except ValueError:
                raise ClaimNotFound() from None
        if claim_id is None:
            if message.claimed(now):
                raise MessageClaimed()
        elif not message.claimed(now):
            raise MessageNotClaimed()
        elif message.claim_id != claim_id:
            if self._live_claim(project, queue_name, claim_id, now) is None:
                raise ClaimNotFound()
            raise MessageClaimed()
        self._remove_message(project, message)

    def _remove_message(self, project: Project, message: StoredMessage) -> None:
        project.messages.pop(message.id, None)
        ids = project.msgsets.get(message.queue)
        if ids is not None and message.id in ids:
            ids.remove(message.id)
        if message.claim_id:
            claim = project.claims.get(message.claim_id)
            if claim is not None and message.id in claim.message_ids:
                claim.message_ids.remove(message.id)

    def pop(self, project_id: str, queue_name: str,
            count: int) -> tuple[str | None, list[StoredMessage]]:
        """
        Claim up to C{count} messages for a second and delete them; popping
        counts as a claim for dead-lettering.

        @return: C{(claim_id, messages)}; C{(None, [])} when none was free.
        """
        project = self.project(project_id)
        claim, claimed = self.claim(project_id, queue_name, limit=count, ttl=1, grace=0)
        for message in claimed:
            self._remove_message(project, message)
        if claim is not None:
            project.claims.pop(claim.id, None)
        return (claim.id if claim else None), claimed

    # -- claims -------------------------------------------------------------------

    def _live_claim(self, project: Project, queue_name: str, claim_id: str,
                    now: int) -> StoredClaim | None:
        claim = project.claims.get(claim_id)
        if claim is None or claim.queue != queue_name:
            return None
        if claim.expires <= now:
            del project.claims[claim_id]
            return None
        return claim

    def claim(self, project_id: str, queue_name: str, limit: int, ttl: int,
              grace: int) -> tuple[StoredClaim | None, list[StoredMessage]]:
        """
        Claim up to C{limit} free, undelayed messages for C{ttl} seconds; a
        message that would expire sooner lives until C{grace} seconds after
        the claim.  Messages claimed more than the queue's
        C{_max_claim_count} times move to its C{_dead_letter_queue} instead.

        @return: C{(claim, messages)}; C{(None, [])} when nothing was claimed.
        """
        project = self.project(project_id)
        now = self.now()
        claim_expires = now + ttl
        claimed: list[StoredMessage] = []
        for message in self._live(project, queue_name, now):
            if len(claimed) == limit:
                break
            # Only free messages (Redis's claim script also takes claimed
            # messages that follow the first free one).
            if message.claimed(now) or now < message.delay_expires:
                continue
            claimed.append(message)
        if not claimed:
            return None, []
        claim = StoredClaim(id=str(uuid.uuid4()), queue=queue_name, ttl=ttl, expires=claim_expires,
                            message_ids=[m.id for m in claimed])
        project.claims[claim.id] = claim
        for message in claimed:
            message.claim_id = claim.id
            message.claim_expires = claim_expires
            if message.expires < claim_expires:
                message.ttl = ttl + grace
                message.expires = claim_expires + grace
        meta = project.queues.get(queue_name, {})
        if "_max_claim_count" in meta and "_dead_letter_queue" in meta:
            moved = []
            for message in claimed:
                if message.claim_count < meta["_max_claim_count"]:
                    message.claim_count += 1
                    continue
                # The moved message keeps this claim, so it stays hidden in
                # the dead letter queue until the claim expires (section 3).
                dlq = meta["_dead_letter_queue"]
                dlq_ttl = meta.get("_dead_letter_queue_messages_ttl")
                if dlq_ttl:
                    message.ttl = dlq_ttl
                    message.expires = message.created + dlq_ttl
                project.msgsets[queue_name].remove(message.id)
                project.msgsets.setdefault(dlq, []).append(message.id)
                message.queue = dlq
                moved.append(message)
            claimed = [m for m in claimed if m not in moved]
            if not claimed:
                return None, []
        return claim, claimed

    def _claim_or_raise(self, project_id: str, queue_name: str, claim_id: str) -> StoredClaim:
        project = self.project(project_id)
        claim = None
        if queue_name in project.queues:
            claim = self._live_claim(project, queue_name, claim_id, self.now())
        if claim is None:
            raise NoSuchClaim(project_id, queue_name, claim_id)
        return claim

    def _claimed_messages(self, project: Project, claim: StoredClaim, now: int) -> list[StoredMessage]:
        found = []
        for mid in claim.message_ids:
            message = project.messages.get(mid)
            if message is not None and message.expires > now:
                found.append(message)
        return found

    def get_claim(self, project_id: str, queue_name: str,
                  claim_id: str) -> tuple[StoredClaim, list[StoredMessage]]:
        """
        A live claim and its live messages.

        @raise NoSuchClaim: no such live claim in the (existing) queue.
        """
        claim = self._claim_or_raise(project_id, queue_name, claim_id)
        return claim, self._claimed_messages(self.project(project_id), claim, self.now())

    def renew_claim(self, project_id: str, queue_name: str, claim_id: str, ttl: int,
                    grace: int) -> None:
        """
        Restart a live claim with a new C{ttl} (and C{grace}, as for a new claim).

        @raise NoSuchClaim: no such live claim in the (existing) queue.
        """
        claim = self._claim_or_raise(project_id, queue_name, claim_id)
        now = self.now()
        claim.ttl = ttl
        claim.expires = now + ttl
        for message in self._claimed_messages(self.project(project_id), claim, now):
            message.claim_id = claim.id
            message.claim_expires = claim.expires
            if message.expires < claim.expires:
                message.ttl = ttl + grace
                message.expires = claim.expires + grace

    def release_claim(self, project_id: str, queue_name: str, claim_id: str) -> None:
        """Free the messages of a claim and forget it; a missing claim is ignored."""
        project = self.project(project_id)
        claim = project.claims.get(claim_id)
        if claim is not None and claim.queue == queue_name:
            now = self.now()
            for message in self._claimed_messages(project, claim, now):
                if message.claim_id == claim_id:
                    message.claim_id = None
                    message.claim_expires = now
            del project.claims[claim_id]

    # -- subscriptions -------------------------------------------------------------

    def _live_subscriptions(self, project: Project, queue_name: str) -> list[StoredSubscription]:
        now = self.now()
        for sid in [s.id for s in project.subscriptions.values() if s.expires <= now]:
            del project.subscriptions[sid]
        return sorted((s for s in project.subscriptions.values() if s.source == queue_name),
                      key=lambda s: s.id)

    def subscription_listing(self, project_id: str, queue_name: str, marker: str | None,
                             limit: int) -> list[StoredSubscription]:
        """One page of a queue's live subscriptions after C{marker}, by id."""
        subscriptions = self._live_subscriptions(self.project(project_id), queue_name)
        if marker:
            subscriptions = [s for s in subscriptions if s.id > marker]
        return subscriptions[:limit]

    def create_subscription(self, project_id: str, queue_name: str, subscriber: str, ttl: int,
                            options: Any) -> str:
        """
        Subscribe C{subscriber} to a queue; an unconfirmed subscription with
        the same subscriber is returned as is.

        @return: the subscription's id.
        @raise SubscriptionExists: a confirmed one has the same subscriber.
        """
        project = self.project(project_id)
        for existing in self._live_subscriptions(project, queue_name):
            if existing.subscriber == subscriber:
                if existing.confirmed:
                    raise SubscriptionExists(subscriber)
                return existing.id
        now = self.now()
        subscription = StoredSubscription(
            id=str(uuid.uuid4()), source=queue_name, subscriber=subscriber, ttl=ttl,
            expires=now + ttl, options=options,
        )
        project.subscriptions[subscription.id] = subscription
        return subscription.id

    def subscription(self, project_id: str, queue_name: str,
                     subscription_id: str) -> StoredSubscription:
        """
        A live subscription of a queue.

        @raise NoSuchSubscription: there is none with this id.
        """
        for subscription in self._live_subscriptions(self.project(project_id), queue_name):
            if subscription.id == subscription_id:
                return subscription
        raise NoSuchSubscription(subscription_id)

    def update_subscription(self, project_id: str, queue_name: str, subscription_id: str,
                            subscriber: str | None = None, ttl: int | None = None,
                            options: Any = None) -> None:
        """
        Change what is given (not C{None}) of a live subscription; a new
        C{ttl} restarts its age.

        @raise NoSuchSubscription: there is none with this id.
        @raise SubscriptionExists: another has the new subscriber.
        """
        subscription = self.subscription(project_id, queue_name, subscription_id)
        if subscriber and subscriber != subscription.subscriber:
            project = self.project(project_id)
            if any(s.subscriber == subscriber for s in self._live_subscriptions(project, queue_name)):
                raise SubscriptionExists(subscriber)
            subscription.subscriber = subscriber
        if options is not None:
            subscription.options = options
        if ttl is not None:
            subscription.ttl = ttl
            subscription.expires = self.now() + ttl

    def delete_subscription(self, project_id: str, queue_name: str, subscription_id: str) -> None:
        """Delete a subscription of a queue; a missing one is ignored."""
        project = self.project(project_id)
        subscription = project.subscriptions.get(subscription_id)
        if subscription is not None and subscription.source == queue_name:
            del project.subscriptions[subscription_id]

    def confirm_subscription(self, project_id: str, queue_name: str, subscription_id: str,
                             confirmed: bool) -> None:
        """
        Mark a live subscription confirmed or not.

        @raise NoSuchSubscription: there is none with this id.
        """
        self.subscription(project_id, queue_name, subscription_id).confirmed = confirmed
