"""
The Subscriber's zope interfaces: push sources and their targets, the
Subscriber and its observers (re-exported by L{txzaqar.interfaces}).
"""

from twisted.application.service import IService
from zope.interface import Attribute, Interface


class IWakeTarget(Interface):
    """
    What a push source (an L{IWakeSource}) tells: a L{txzaqar.subscriber.Subscriber}
    provides it.  Notifications carry no message id, so they are only
    wake-ups: the target claims, acknowledges and releases as it always
    does, and keeps polling as a safety net.
    """

    def wake(queue_name):
        """
        A notification for C{queue_name} arrived: claim from it now
        (wake-ups during a claim in flight cause one more claim).  Returns
        nothing; unknown queues are ignored.
        """

    def push_up(queue_name):
        """
        Notifications for C{queue_name} flow from now on (its push
        subscription was created or renewed): idle polling may slow to the
        safety interval.  The target also claims once at once, since a
        message posted before this moment sent no notification here.
        Returns nothing.
        """

    def push_down(queue_name, reason):
        """
        Notifications for C{queue_name} may be lost from now on
        (connection lost, subscription refused or expired): poll it as
        usual until L{push_up}.  The target claims once at once.

        @param reason: why, in one line that names no secret.
        @return: nothing.
        """


class IWakeSource(Interface):
    """
    Push notifications turned into wake-ups for an L{IWakeTarget}: Zaqar's
    WebSocket notifications (L{txzaqar.push.WebSocketPush}), its webhooks
    (L{txzaqar.push.WebhookPush}), or the in-memory fake's.

    The target calls L{start} once, then L{watch}/L{unwatch} as queues are
    subscribed, and L{stop} when it stops.  A source reports every change
    of a queue's push state through L{IWakeTarget.push_up} and
    L{IWakeTarget.push_down}, and never raises into the target.
    """

    kind = Attribute("What pushes, in one word for logs and metrics (C{'websocket'}, C{'webhook'}).")

    def start(target):
        """
        Begin (connect, listen); queues watched so far are subscribed as
        soon as that is done, and reported to C{target}.

        @param target: the L{IWakeTarget} to tell.
        @return: a Deferred firing with C{None} once the source is
            listening or connecting (not once push is up: that is
            L{IWakeTarget.push_up}); it fails only when the source cannot
            start at all (a webhook port that cannot be listened on).
        """

    def watch(queue_name):
        """
        Ask for notifications of C{queue_name} (create its push
        subscription, now or once connected).  Returns nothing.

        @raise txzaqar.errors.ClientValidationError: a bad queue name (the
            WebSocket and webhook sources check it; the in-memory fake does not).
        """

    def unwatch(queue_name):
        """
        Stop notifications of C{queue_name} (remove its push subscription,
        best effort).

        @return: a Deferred firing with C{None}; it never fails.
        """

    def stop():
        """
        Stop: remove the push subscriptions (best effort), close
        connections and listening ports.

        @return: a Deferred firing with C{None}; it never fails.
        """


class ISubscriber(IService, Interface):
    """Turns queues into callbacks (see L{txzaqar.subscriber.Subscriber})."""

    channels = Attribute(
        "The subscribed queue names (a C{frozenset}): those of L{subscribe} and those "
        "discovered for L{psubscribe} (see L{discovered})."
    )
    patterns = Attribute("The glob patterns of L{psubscribe} (a C{frozenset}).")
    discovery_errors = Attribute("How many listings of the queues for the patterns (L{discover}) failed (an C{int}).")
    stats = Attribute(
        "Counters (a C{dict}-like C{Counter}): claimed, processed, failed, "
        "acked, renewed, released, poll_errors, ..."
    )

    def subscribe(queue_name, callback=None, dead_letter_queue=None, max_claim_count=None, concurrency=None):
        """
        Deliver each message of C{queue_name} to C{callback(message)} (a
        plain, Deferred-returning or coroutine function); the message is
        deleted only after the callback succeeded.  Without a callback the
        messages go to L{listen} (and L{get_message}).  Polling starts at
        once if the service is running, else when it starts.

        Several queues in one call: a list, tuple or set of names (each
        with C{callback} and the other options), or a mapping of names to
        callbacks (C{None}: to L{listen}; no C{callback} beside it)::

            subscriber.subscribe(["orders", "refunds"], handle)
            subscriber.subscribe({"orders": ship, "audit": None})

        Every name is checked before any queue is subscribed: a refused
        call subscribes none.

        @param dead_letter_queue: with C{max_claim_count}, configure the
            queue so that a message claimed more than C{max_claim_count}
            times moves to this queue (done before the first poll).
        @param concurrency: the most callbacks of this queue running at
            once, in slots of its own, apart from the Subscriber's
            C{concurrency} (which the other queues share); C{None}: the
            shared slots.
        @raise txzaqar.errors.ClientValidationError: a bad queue name or
            option, a queue already subscribed, an empty collection, a name
            given twice, or a C{callback} beside a mapping (a C{ValueError}
            too).
        """

    def unsubscribe(queue_name=None):
        """
        Stop polling C{queue_name} (several names: a list, tuple or set;
        C{None}: every subscribed queue); a Deferred firing when their work
        is done (at once for a queue that is not subscribed; messages of a
        queue subscribed without a callback that no reader took are
        released at once).

        @raise txzaqar.errors.ClientValidationError: neither a name, a
            collection of names nor C{None}.
        """

    def psubscribe(pattern, callback=None):
        """
        Consume every queue of the project whose name matches the glob
        C{pattern} (C{fnmatch.fnmatchcase}: C{*}, C{?}, C{[seq]}), as if
        each were L{subscribe}d with C{callback} (C{None}: to L{listen}),
        with push where the Subscriber has it.  The queues are found by
        listing the project's queues (L{discover}): at once if the service
        is running, else when it starts, then every C{discovery_interval}
        seconds; a queue created later is consumed from the listing after
        it.  Several patterns: a list, tuple or set (each with
        C{callback}) or a mapping of patterns to callbacks; a queue that
        several match goes to the first pattern subscribed.

        A queue already subscribed (by L{subscribe}, or for another
        pattern) is left as it is; a discovered queue that is no longer
        listed, or whose pattern is unsubscribed, is unsubscribed, but
        never one subscribed by L{subscribe}.  L{unsubscribe} of a
        discovered queue drops it until the next listing finds it again.

        @raise txzaqar.errors.ClientValidationError: an empty pattern (or
            one over 256 characters), one already subscribed, or a
            callback that is not callable.
        """

    def punsubscribe(pattern=None):
        """
        Stop the pattern subscription C{pattern} (several: a list, tuple or
        set; C{None}: every one), and unsubscribe the queues discovered for
        it; a Deferred firing when their work is done, as L{unsubscribe}'s.

        @raise txzaqar.errors.ClientValidationError: neither a pattern, a
            collection of them nor C{None}.
        """

    def discover():
        """
        List the project's queues now for the patterns (what the service
        does every C{discovery_interval} seconds), after a listing in
        flight if any.

        @return: a Deferred firing with a
            L{txzaqar.subscriber.Discovery} (C{added}, C{removed}:
            C{frozenset}s of queue names), or failing with the listing's
            error (a L{txzaqar.errors.ZaqarError}), which is counted in
            C{discovery_errors} and logged once until a listing works
            again; the subscriptions are then left as they were.
        """

    def discovered():
        """A C{dict} of queue name to the pattern it was discovered for (see L{psubscribe})."""

    def wake(queue_name):
        """
        Claim from C{queue_name} now instead of when its poll delay runs
        out (what a push notification calls); wake-ups during a claim in
        flight cause one more claim; nothing happens for a queue not
        subscribed or not being polled.  Returns nothing.
        """

    def listen():
        """
        An async iterator of the messages of the queues subscribed without
        a callback::

            subscriber.subscribe("jobs")
            async with contextlib.aclosing(subscriber.listen()) as messages:
                async for message in messages:
                    await handle(message)

        A yielded message is acknowledged (deleted) when the next one is
        asked for, that is, when the body of the C{async for} finished
        without raising.  If the body raises or breaks, it is not: closing
        the iterator (C{aclose()}) releases it for redelivery.  Several
        iterators share the messages between them.  Iteration ends when the
        subscriber stops, or (at once) when no queue is subscribed without
        a callback.
        """

    def get_message(timeout=None):
        """
        The next message of the queues subscribed without a callback, the
        way redis-py's C{PubSub.get_message} reads them: a Deferred firing
        with the message, or with C{None} after C{timeout} seconds without
        one (C{None}: wait as long as it takes), or at once when nothing
        could come (the subscriber stopped, or no queue is subscribed
        without a callback).  It shares the messages with L{listen}.

        A message returned is acknowledged (deleted) when C{get_message}
        is called again, as L{listen} acknowledges one when the next is
        asked for; one still held when the subscriber stops is released
        after C{stop_timeout}.

        @raise txzaqar.errors.ClientValidationError: C{timeout} is not
            C{None} nor a finite number of seconds, 0 or more.
        """

    def queue_stats():
        """
        The counters of C{stats} per queue: a C{dict} of queue name to a
        C{dict} of counter name to count, for every queue subscribed since
        the subscriber was made (they sum to C{stats}; a queue's counters
        survive its L{unsubscribe}, so they only grow).
        """

    def callbacks_in_flight():
        """A C{dict} of subscribed queue name to the number of its callbacks running now."""

    def push_states():
        """
        A C{dict} of subscribed queue name to its push state: C{"off"} (no
        push source), C{"down"} (polled as usual), C{"up"} (idle polling at
        the safety interval) or C{"unverified"} (up, but messages came that
        no notification announced: polled as usual until one does); see
        L{txzaqar.subscriber.push}.
        """

    def backoff_delays():
        """
        A C{dict} of subscribed queue name to the delay in seconds before
        its next claim that errors caused: set by a failed poll, C{0.0}
        once a poll succeeds (so a healthy idle queue reads C{0.0}; its
        idle interval is in L{poll_intervals}).
        """

    def poll_intervals():
        """
        A C{dict} of subscribed queue name to the delay in seconds before
        its next claim after its last successful poll: the idle backoff
        after empty claims (from C{poll_interval} up to C{max_interval}),
        the safety interval while push is up, C{poll_interval} after a
        partial claim, C{0.0} after a full one; C{0.0} while polls fail
        (see L{backoff_delays}).
        """

    def last_polls():
        """
        A C{dict} of subscribed queue name to the time (the subscriber's
        clock's C{seconds()}) its last successful poll ended, C{None}
        before its first.
        """

    def dead_letter_queues():
        """
        A C{dict} of subscribed queue name to the dead-letter queue the
        subscriber configured for it (C{subscribe(..., dead_letter_queue=...)};
        queues subscribed without one are left out).
        """

    def health():
        """
        Whether the subscriber is ready: every subscribed queue had a
        successful poll within its expected interval and authentication
        works (the rule: L{txzaqar.subscriber.readiness}).

        @return: a L{txzaqar.subscriber.readiness.Health}: C{ready}, and
            C{reasons} (one line per rule broken, naming no secret and no
            message).
        """

    metrics = Attribute(
        "The L{ISubscriberMetrics} of this subscriber, made on first use (by the adapter to "
        "L{ISubscriberMetrics} that L{txzaqar.ops.metrics} registers)."
    )

    def connection():
        """The L{txzaqar.interfaces.IConnection} of the subscriber's client, or C{None} (a client without one)."""

    def add_observer(observer):
        """Call the L{ISubscriberObserver} C{observer} from now on."""

    def remove_observer(observer):
        """Stop calling C{observer} (nothing happens if it was not added)."""


class ISubscriberObserver(Interface):
    """
    Told by an L{ISubscriber} what happens to messages, as it happens (see
    L{ISubscriber.add_observer}; L{txzaqar.ops.metrics.SubscriberMetrics} is
    one).  Methods are called on the reactor thread and must not raise:
    what they raise is logged and ignored.
    """

    def message_delivered(queue, message):
        """
        The callback of C{message} (an L{IMessage}, whose C{age} is its
        age when claimed) of C{queue} (C{str}) is about to be called.
        """

    def callback_finished(queue, seconds, outcome):
        """
        A callback of C{queue} finished after C{seconds}, with C{outcome}:
        C{"ok"}, C{"failed"}, C{"timeout"} (ran past C{callback_timeout})
        or C{"unprocessed"} (handed back unprocessed, e.g. by a closed
        L{ISubscriber.listen} iterator).
        """


class ISubscriberMetrics(ISubscriberObserver):
    """
    The metrics of an L{ISubscriber} (L{txzaqar.ops.metrics.SubscriberMetrics}
    is the one txzaqar makes): an observer of the subscriber (and of its
    connection's requests) that the operations layer attaches to it when
    made, until L{detach}.  C{ISubscriberMetrics(subscriber)} makes one.
    """

    registry = Attribute("The C{prometheus_client.CollectorRegistry} the metrics are in.")

    def detach():
        """Stop observing the subscriber and its connection (the registry keeps what it has)."""
