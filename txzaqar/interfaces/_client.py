"""
The client's zope interfaces: the API resources (re-exported by
L{txzaqar.interfaces}); the connection's are in C{_connection}.
"""

from zope.interface import Attribute, Interface


class IListing(Interface):
    """
    An async iterator over a collection (C{async for item in listing}),
    one page fetched at a time, and only when the caller asks past the
    page it holds; stopping (C{break} or L{aclose}) fetches nothing more.
    """

    marker = Attribute(
        "Where to resume (C{str} or C{None}): the id of the last item handed out; "
        "a new listing given it as C{marker=} continues after that item."
    )
    count = Attribute(
        "The server's count of the collection after the first page, when asked "
        "for (C{with_count}); else C{None}."
    )
    pages = Attribute("How many pages were fetched so far (C{int}).")

    def __aiter__():
        """The listing itself."""

    def __anext__():
        """An awaitable of the next item; C{StopAsyncIteration} at the end."""

    def aclose():
        """An awaitable: stop, fetching nothing more and dropping the page held."""


class IClient(Interface):
    """
    Account-wide operations: queues, health, the home document, pools
    and flavors.
    """

    connection = Attribute("The L{txzaqar.interfaces.IConnection} used by this client.")

    def queue(name, max_post_size=None):
        """
        A L{IQueue} for C{name}; sends nothing (the server creates queues
        lazily on first post).

        @param max_post_size: the most bytes one post request may carry
            (the queue's C{max_messages_post_size}, when it has one); the
            server's limit, 262144, when omitted.
        @raise txzaqar.errors.ClientValidationError: bad queue name or size.
        """

    def create_queue(name, metadata=None):
        """
        Create a queue (C{PUT}); an existing queue's metadata is left alone.

        @return: a Deferred firing with the L{IQueue}.
        @raise txzaqar.errors.ClientValidationError: a bad name or
            metadata; nothing is sent.
        """

    max_queues_per_page = Attribute(
        "The largest page of a queue listing (an C{int}, default 20): the server's C{[transport] "
        "max_queues_per_page}.  Raise it (to at most 1000) where that option is raised, so that a "
        "listing of many queues (a pattern subscription's discovery) takes fewer requests.")

    def queues(limit=10, detailed=False, max_items=None, marker=None, name=None, filters=None):
        """
        List every queue of the project, all pages, each exactly once
        (built on L{iter_queues}, whose parameters these are).

        @param limit: page size, 1 to L{max_queues_per_page} (20).
        @param detailed: include each queue's metadata: each L{IQueue} has
            it as C{metadata_snapshot} (an L{IMetadata}, C{None} otherwise)
            and posts within its C{max_messages_post_size}.
        @param max_items: stop after this many queues.
        @return: a Deferred firing with a C{list} of L{IQueue}.
        @raise txzaqar.errors.ClientValidationError: a bad parameter;
            nothing is sent.
        """

    def iter_queues(limit=10, detailed=False, max_items=None, marker=None, name=None,
                    filters=None, with_count=False):
        """
        The project's queues, lazily: an L{IListing} of L{IQueue}::

            async for queue in client.iter_queues(limit=20):
                ...

        @param marker: resume after this queue name (a listing's C{marker}).
        @param name: a regular expression the names must match, and
            C{filters} a C{dict} of metadata values queues must have
            (strings or integers; a string that reads as an integer is
            compared as one); both
            applied by MongoDB only: Zaqar 23.0.1 on Redis ignores them and
            lists every queue (quirk 7 of L{txzaqar.testing.quirks}).
        @param with_count: ask for the project's queue count (the
            listing's C{count} once the first page is in).
        @raise txzaqar.errors.ClientValidationError: a bad parameter;
            nothing is sent.
        """

    def queue_count():
        """@return: a Deferred firing with the number of queues of the project (C{int})."""

    def home():
        """@return: a Deferred firing with the JSON-Home document (C{dict})."""

    def versions():
        """@return: a Deferred firing with the C{list} of API versions."""

    def ping(head=False):
        """
        @param head: send C{HEAD /v2/ping}, which the server answers
            without asking its storage (is the API up at all?); by default
            C{GET}, which fails when the storage is down.
        @return: a Deferred firing with C{True} when the server (and,
            without C{head}, its storage) answers; fails with the error
            (e.g. L{txzaqar.errors.ServiceUnavailable}) otherwise.
        """

    def health():
        """
        @return: a Deferred firing with the detailed health C{dict}
            (admin only); fails with L{txzaqar.errors.Forbidden} without
            the admin role, L{txzaqar.errors.NotFound} when the server is
            not in admin mode.
        """

    def pool(name):
        """
        A L{IPool} for C{name}; sends nothing.

        @raise txzaqar.errors.ClientValidationError: a bad name.
        """

    def create_pool(name, uri, weight, flavor=None, options=None):
        """
        Create (or, as Zaqar 23.0.1 does, replace) a pool.

        @return: a Deferred firing with the L{IPool}; fails with
            L{txzaqar.errors.BadRequest} when the server cannot reach
            C{uri}, L{txzaqar.errors.InternalServerError} when another pool
            uses it.
        @raise txzaqar.errors.ClientValidationError: a bad name, uri or
            weight; nothing is sent.
        """

    def pools(limit=10, detailed=False):
        """@return: a Deferred firing with a C{list} of C{dict} pool descriptions, all pages (admin role)."""

    def flavor(name):
        """
        A L{IFlavor} for C{name}; sends nothing.

        @raise txzaqar.errors.ClientValidationError: a bad name.
        """

    def create_flavor(name, pool_list, capabilities=None):
        """@return: a Deferred firing with the L{IFlavor}."""

    def flavors(limit=10, detailed=False):
        """@return: a Deferred firing with a C{list} of C{dict} flavor descriptions, all pages."""

    def subscriber(**kwargs):
        """A new, not yet started L{ISubscriber} using this client."""

    def close():
        """Close the connection (cancelling requests in flight); a Deferred firing with C{None}."""


class IMetadata(Interface):
    """A snapshot of a queue's metadata."""

    content = Attribute("The metadata C{dict}, reserved keys with their defaults.")

    def reload():
        """@return: a Deferred firing with a fresh L{IMetadata}."""

    def update(changes):
        """
        Add or replace the given keys (a JSON-patch of C{add} operations).

        @return: a Deferred firing with the new L{IMetadata}.
        """


class IQueue(Interface):
    """One queue: metadata, stats, messages, claims and subscriptions."""

    name = Attribute("The queue name (C{str}).")
    connection = Attribute("The L{txzaqar.interfaces.IConnection} its requests (and those of its values) go through.")
    href = Attribute("The queue's path, C{/v2/queues/<name>}.")
    max_post_size = Attribute("The most bytes one post request carries (C{int}); posts are split to it.")
    metadata_snapshot = Attribute(
        "The L{IMetadata} a detailed listing showed, or C{None} (not read from such a listing)."
    )

    def create(metadata=None):
        """
        C{PUT} the queue; an existing queue keeps its metadata.

        @return: a Deferred firing with C{True} if it was created, C{False} if it existed.
        @raise txzaqar.errors.ClientValidationError: bad metadata; nothing is sent.
        """

    def delete():
        """Delete the queue and its messages (idempotent); a Deferred firing with C{None}."""

    def metadata():
        """
        @return: a Deferred firing with an L{IMetadata}; a queue that does
            not exist reads as the defaults (a server quirk).
        """

    def set_metadata(metadata):
        """
        Replace the whole metadata (keys not in C{metadata} are removed); a
        Deferred firing with the new L{IMetadata}.
        """

    def patch_metadata(operations):
        """
        Apply raw JSON-patch operations (dicts with C{op}: C{add},
        C{replace} or C{remove}, C{path}: C{/metadata/<key>}, C{value}).

        @return: a Deferred firing with the new L{IMetadata}; fails with
            L{txzaqar.errors.NotFound} for a missing queue and
            L{txzaqar.errors.Conflict} when replacing or removing a missing key.
        """

    def configure(**settings):
        """
        Set reserved metadata by name (C{default_message_ttl},
        C{default_message_delay}, C{max_messages_post_size},
        C{dead_letter_queue}, C{dead_letter_queue_messages_ttl},
        C{max_claim_count}, C{enable_encrypt_messages}, C{flavor}), e.g.
        C{configure(max_claim_count=3, dead_letter_queue="dead")}.  A
        C{dead_letter_queue} is created first if it does not exist (Zaqar
        moves messages into it whether it exists or not, and a message
        moved to a missing queue is listed nowhere); so is the queue itself.

        @return: a Deferred firing with the new L{IMetadata}.
        @raise txzaqar.errors.ClientValidationError: unknown setting or bad
            value, or a C{dead_letter_queue} that is this queue; nothing is sent.
        """

    def stats():
        """@return: a Deferred firing with a L{txzaqar.api.queue.QueueStats}."""

    def purge(resource_types=None):
        """
        Delete messages and/or subscriptions, keeping the queue; a Deferred
        firing with C{None}.

        @param resource_types: a subset of C{("messages", "subscriptions")};
            both when omitted.
        """

    def share(paths=None, methods=None, expires=None):
        """
        Create a pre-signed URL for this queue.

        @param paths: subset of C{messages}, C{subscriptions}, C{claims}.
        @param methods: HTTP methods allowed (server default C{["GET"]}).
        @param expires: an aware C{datetime} (any time zone: it is sent in
            UTC), or an ISO string in UTC; server default is one day from
            now.  A naive C{datetime} is refused: whether it meant local
            time or UTC cannot be known, and the server would read it as UTC.
        @return: a Deferred firing with a L{txzaqar.api.queue.SignedURL};
            fails with L{txzaqar.errors.BadRequest} if the server has no
            signing key.
        @raise txzaqar.errors.ClientValidationError: a bad argument; nothing is sent.
        """

    def post(messages, ttl=None, delay=None):
        """
        Post one message dict (C{{"body": ..., "ttl": ..., "delay": ...}})
        or a list of them, in order, split into requests within the
        server's limits (20 messages, C{max_post_size} bytes).  A bare body is refused: wrap it
        as C{{"body": body}}.

        @param ttl: the ttl of messages that give none.
        @param delay: the delay of messages that give none (only honoured
            by queues with a C{default_message_delay}).
        @return: a Deferred firing with the C{list} of new message ids;
            fails with L{txzaqar.api.queue.PartialPostError} when a later
            request fails after earlier ones stored messages.
        @raise txzaqar.errors.ClientValidationError: a bad message, or one
            too large to post at all; nothing is sent.
        """

    def messages(limit=10, echo=True, include_claimed=False,
                 include_delayed=False, max_items=None, marker=None):
        """
        @param limit: page size, 1 to 20.
        @param echo: include messages this client's C{Client-ID} posted
            (the server's default hides them).
        @param include_claimed: include claimed messages.
        @param include_delayed: include messages still delayed.
        @return: a Deferred firing with a C{list} of L{IMessage}, all pages
            (built on L{iter_messages}).
        """

    def iter_messages(limit=10, echo=True, include_claimed=False,
                      include_delayed=False, max_items=None, marker=None):
        """
        The queue's messages, lazily: an L{IListing} of L{IMessage}; only the
        page being walked is held::

            listing = queue.iter_messages(limit=20)
            async for message in listing:
                if done(message):
                    break
            resume_at = listing.marker

        @param marker: resume after this message id (an L{IListing}'s C{marker}).
        @raise txzaqar.errors.ClientValidationError: a bad parameter; nothing is sent.
        """

    def message(message_id):
        """@return: a Deferred firing with the L{IMessage}; L{txzaqar.errors.NotFound}."""

    def get_messages(message_ids):
        """@return: a Deferred firing with the C{list} of L{IMessage} found (missing ones are left out)."""

    def delete_messages(message_ids, claim_ids=None):
        """
        Bulk delete, in order, in groups of 20 (idempotent); a Deferred
        firing with C{None}.

        @param claim_ids: sent along for servers with C{message_delete_with_claim_id}.
        """

    def delete_message(message_id, claim_id=None):
        """
        Delete one message (idempotent).

        @param claim_id: required when the message is claimed.
        @return: a Deferred firing with C{None}; fails with
            L{txzaqar.errors.Forbidden} for a claimed message without its
            claim, L{txzaqar.errors.BadRequest} for a wrong or expired claim.
        """

    def pop(count=1):
        """
        Remove and return up to C{count} (1 to 20) messages.

        @return: a Deferred firing with the C{list} of removed L{IMessage}
            (empty if none); fails with L{txzaqar.errors.EncryptedPopRefused}
            on an encrypted queue, nothing popped (claim and delete instead).
        """

    def claim(limit=None, ttl=None, grace=None):
        """
        Claim up to C{limit} messages (server defaults: 10, ttl 300, grace 60).

        @return: a Deferred firing with an L{IClaim}, empty (falsy: no id,
            no messages) when nothing was claimable; fails with
            L{txzaqar.errors.EncryptedReadFailed} (the claim released) when
            an encrypted queue's messages cannot be read back.
        """

    def subscribe(subscriber, ttl=None, options=None):
        """
        Subscribe C{subscriber} (C{http(s)://}, C{mailto:},
        C{trust+http(s)://}) to this queue's messages.  Re-subscribing an
        unconfirmed subscriber returns the same subscription.

        @param ttl: seconds, at least 60 (default 3600).
        @return: a Deferred firing with the new L{ISubscription}; fails
            with L{txzaqar.errors.Conflict} for a confirmed duplicate.
        @raise txzaqar.errors.ClientValidationError: a bad argument; nothing is sent.
        """

    def subscriptions(limit=10, max_items=None, marker=None):
        """@return: a Deferred firing with a C{list} of L{ISubscription} (built on L{iter_subscriptions})."""

    def iter_subscriptions(limit=10, max_items=None, marker=None):
        """
        The queue's subscriptions, lazily: an L{IListing} of L{ISubscription}.

        @param marker: resume after this subscription id.
        @raise txzaqar.errors.ClientValidationError: a bad parameter; nothing is sent.
        """

    def subscription(subscription_id):
        """@return: a Deferred firing with the L{ISubscription}; L{txzaqar.errors.NotFound}."""


class IMessage(Interface):
    """A frozen snapshot of one message."""

    id = Attribute("Message id (C{str}).")
    body = Attribute("The JSON body.")
    ttl = Attribute("Time to live, seconds.")
    age = Attribute("Age in seconds when read.")
    href = Attribute("Path of the message (with C{?claim_id=} when claimed).")
    claim_id = Attribute("The claim holding it, or C{None}.")
    claim_count = Attribute("How often it was claimed, or C{None} if unknown.")
    checksum = Attribute("MD5 of the body when the server sends one, else C{None}.")
    status = Attribute("L{txzaqar.api.message.MessageStatus}: C{FREE}, C{CLAIMED}, or C{DELETED} (popped).")

    def delete():
        """
        Delete it (with its claim id if claimed).

        @return: a Deferred firing with C{None}; fails with
            L{txzaqar.errors.BadRequest} if the claim expired and
            L{txzaqar.errors.Forbidden} if another claim holds it.
        """

    def reload():
        """@return: a Deferred firing with a fresh L{IMessage}; L{txzaqar.errors.NotFound} once it is gone."""


class IClaim(Interface):
    """Messages claimed together, with one id, ttl and grace."""

    id = Attribute("Claim id, or C{None} for an empty claim.")
    href = Attribute("Path of the claim, or C{None}.")
    ttl = Attribute("Claim ttl, seconds.")
    grace = Attribute("Grace, seconds, or C{None} when not known (the server does not show it).")
    age = Attribute("Age in seconds when read.")
    messages = Attribute("A C{tuple} of L{IMessage}.")

    def patch(ttl=None, grace=None):
        """
        Renew the claim: it now expires C{ttl} seconds from now.  Omitted
        values keep this claim's own, when known (the server resets an
        omitted one to its default); a grace that is not known (a claim
        from C{get_claim}) is not sent, so the server sets its default (60).

        @return: a Deferred firing with the renewed L{IClaim}; fails with
            L{txzaqar.errors.NotFound} if the claim already expired.
        @raise txzaqar.errors.ClientValidationError: a bad ttl or grace;
            nothing is sent.
        """

    def release():
        """Give the messages back to the queue at once (idempotent); a Deferred firing with C{None}."""

    def reload():
        """
        @return: a Deferred firing with a fresh L{IClaim} (age, ttl and the
            messages still held); L{txzaqar.errors.NotFound} once expired.
        """


class ISubscription(Interface):
    """A notification subscription on a queue."""

    id = Attribute("Subscription id.")
    subscriber = Attribute("Target URI.")
    ttl = Attribute("Seconds.")
    options = Attribute("C{dict}.")

    def update(subscriber=None, ttl=None, options=None):
        """
        Change the subscriber, ttl and/or options (options are replaced
        whole, and the age restarts).

        @return: a Deferred firing with the updated L{ISubscription}; fails
            with L{txzaqar.errors.NotFound} or L{txzaqar.errors.Conflict}.
        @raise txzaqar.errors.ClientValidationError: a bad argument; nothing is sent.
        """

    def confirm(confirmed=True):
        """Confirm (or un-confirm); a Deferred firing with C{None}."""

    def delete():
        """Delete it (idempotent); a Deferred firing with C{None}."""

    def reload():
        """@return: a Deferred firing with a fresh L{ISubscription}; L{txzaqar.errors.NotFound}."""


class IPool(Interface):
    """A storage pool (admin, pooling servers only)."""

    name = Attribute("Pool name.")

    def get(detailed=False):
        """@return: a Deferred firing with the pool C{dict}; L{txzaqar.errors.NotFound}."""

    def update(uri=None, weight=None, flavor=None, options=None):
        """@return: a Deferred firing with the updated pool C{dict}."""

    def delete():
        """
        A Deferred firing with C{None}, also for a missing pool.  Zaqar
        23.0.1 deletes a pool a flavor uses too (no 403): the flavor is
        left without it.
        """


class IFlavor(Interface):
    """A flavor: a named set of pools (admin, pooling servers only)."""

    name = Attribute("Flavor name.")

    def get(detailed=False):
        """@return: a Deferred firing with the flavor C{dict}; L{txzaqar.errors.NotFound}."""

    def update(pool_list=None, capabilities=None):
        """
        Replace the flavor's pools: pools left out are detached (Zaqar
        23.0.1 needs C{pool_list}; the capabilities it reports come from the
        first pool, whatever is sent).

        @return: a Deferred firing with the updated flavor C{dict};
            L{txzaqar.errors.NotFound} if the flavor does not exist.
        @raise ClientValidationError: no or an empty C{pool_list}.
        """

    def delete():
        """A Deferred firing with C{None} (also for a missing flavor); its pools are detached."""
