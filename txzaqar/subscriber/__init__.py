"""
L{Subscriber}: a service that turns Zaqar queues into callbacks::

    subscriber = client.subscriber(batch=10, concurrency=20)
    subscriber.subscribe("jobs", handle_job)      # plain, Deferred or async
    subscriber.setServiceParent(application)      # or startService()

Delivery is at least once.  A message is deleted only after its callback
succeeded; a message whose callback failed, timed out or never ran is given
back to the queue (its claim is released) so that it is delivered again.
A callback in a thread cannot be stopped: past C{callback_timeout} its
message stays claimed until the thread returns, so that it never runs
twice at once, and is then deleted if the callback succeeded (late).

The parts, one module each::

 - L{settings}: L{SubscriberSettings}, every option, documented and checked
   in one place;
 - L{slots}: the C{concurrency} slots callbacks run in;
 - L{polling}: the timer, when each queue is claimed from (adaptive
   poll interval with backoff); L{Subscriber.wake} is the seam for other
   wake-up sources (push notifications);
 - L{settlement}: what becomes of a claim: acknowledgements in bulk,
   renewal, release, and the memory of failures;
 - L{stream}: the pull stream of L{Subscriber.listen};
 - L{service}: the L{Subscriber} service composing them;
 - L{events}: the log (namespace C{txzaqar.subscriber}) and the counters.

How a queue is polled
=====================

One poll claims up to C{min(batch, free slots)} messages, where a slot is
one of the C{concurrency} callbacks that may run at once (shared by all
queues).  Every claimed message starts at once, so the subscriber never
holds a claimed message it is not working on (bounded prefetch): nothing
waits in a local buffer while its claim runs out.  When the next poll
comes is L{polling}'s: at once after a full claim (with up to
C{claims_in_flight} claims in flight while a backlog lasts), after
C{poll_interval} after a partial one, backing off up to C{max_interval}
while the queue is empty or failing.  No error escapes a poll, so the
loop never dies.

Claims, acknowledgements and renewal
====================================

Messages that succeeded are deleted in bulk, claims are renewed while
their callbacks run, a claim with failed messages is released so that
they come back at once, and a claim whose failed messages all failed
before is left to expire, so that a poison message is retried every
C{claim_ttl} seconds rather than in a tight loop (see L{settlement}).
With C{subscribe(..., max_claim_count=N, dead_letter_queue=Q)} both queues
are created and the queue is configured so that a message claimed N times
moves to Q on the server's next claim attempt (it then stays invisible in
Q until its last claim's ttl runs out; Q must exist as a queue, or the
moved message is listed nowhere).

Stopping
========

L{Subscriber.stopService} stops every poll loop, waits up to
C{stop_timeout} seconds for callbacks in flight, deletes what succeeded,
releases the claims of everything not processed (so that other consumers
get those messages at once), and closes the client only with
C{close_client=True} (the client belongs to whoever made it: by default a
stopped Subscriber leaves it open and can be started again).  Its
Deferred fires when all of that is done.

Blocking callbacks
==================

With C{Subscriber(..., threads=N)} plain callbacks (not C{async def}, not
marked with L{on_reactor}) run in a thread pool of at most N threads that
the subscriber owns, so that a blocking handler never stalls polling,
acknowledgements and renewals; C{async def} and L{on_reactor} callbacks
stay on the reactor thread.  The library's default is C{threads=0} (every
callback on the reactor thread, as Twisted code expects); the daemon's
default is ten threads.  A plain callback that returns a Deferred or a coroutine from a thread
fails with L{AsyncResultInThread} (its message is released): mark it
with L{on_reactor}.  See L{Subscriber} for timeouts and stopping.

Events and counters
===================

Events are logged on L{log} (namespace C{txzaqar.subscriber}) with the
fields C{queue}, C{count}, C{claim_id} and C{message_id} where they apply:
claimed and processed (debug), failed (error, with the failure), renewed,
released and backing off (info / warn).  L{Subscriber.stats} counts them.
"""

from ._patterns import Discovery
from .events import STATS, NotProcessed, log
from .service import Subscriber
from .settings import SubscriberSettings
from .settlement import MAX_REMEMBERED_FAILURES
from .slots import AsyncResultInThread, on_reactor
from .stream import Listener

__all__ = ["MAX_REMEMBERED_FAILURES", "STATS", "AsyncResultInThread", "Discovery", "Listener", "NotProcessed",
           "Subscriber", "SubscriberSettings", "log", "on_reactor"]
