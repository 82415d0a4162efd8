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

    channels = Attribute("The subscribed queue names (a C{frozenset}).")
    stats = Attribute(
        "Counters (a C{dict}-like C{Counter}): claimed, processed, failed, "
        "acked, renewed, released, poll_errors, ..."
    )

    def subscribe(queue_name, callback=None, dead_letter_queue=None, max_claim_count=None, concurrency=None):
        """
        Deliver each message of C{queue_name} to C{callback(message)} (a
        plain, Deferred-returning or coroutine function); the message is
        deleted only after the callback succeeded.  Without a callback the
        messages go to L{listen}.  C{dead_letter_queue} with
        C{max_claim_count} configures the queue's dead-lettering.
        C{concurrency}: the most callbacks of this queue at once, in slots
        of its own rather than the ones the other queues share.
        """

    def unsubscribe(queue_name):
        """
        Stop polling C{queue_name}; a Deferred firing when its work is done
        (messages of a queue subscribed without a callback that no reader
        took are released at once).
        """

    def wake(queue_name):
        """
        Claim from C{queue_name} now instead of when its poll delay runs
        out (what a push notification calls); wake-ups during a claim in
        flight cause one more claim.  Returns nothing.
        """

    def listen():
        """
        An async iterator of the messages of the queues subscribed without
        a callback; a yielded message is acknowledged when the next one is
        asked for.  Iteration ends when the subscriber stops, or when no
        queue is subscribed without a callback.
        """

    def queue_stats():
        """
        The counters of C{stats} per queue: a C{dict} of queue name to a
        C{dict} of counter name to count, for every queue subscribed since
        the subscriber was made (they sum to C{stats}).
        """

    def callbacks_in_flight():
        """A C{dict} of subscribed queue name to the number of its callbacks running now."""

    def push_states():
        """
        A C{dict} of subscribed queue name to its push state: C{"off"} (no
        push source), C{"down"}, C{"up"} or C{"unverified"} (see
        L{txzaqar.subscriber.push}).
        """

    def backoff_delays():
        """
        A C{dict} of subscribed queue name to its current backoff delay in
        seconds (after empty or failed claims), C{0.0} when not backing off.
        """

    def health():
        """
        Whether the subscriber is ready: every subscribed queue had a
        successful poll within its expected interval and authentication
        works (the rule: L{txzaqar.subscriber.readiness}).

        @return: a L{txzaqar.subscriber.readiness.Health}.
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
