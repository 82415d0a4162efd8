"""
The client's zope interfaces: authenticators, the connection, and the API
resources (re-exported by L{txzaqar.interfaces}).
"""

from zope.interface import Attribute, Interface


class IAuthenticator(Interface):
    """
    Says how to authenticate requests to Zaqar, and where Zaqar is.
    """

    def headers():
        """
        The headers to add to every Zaqar request.

        @return: a Deferred firing with a C{dict} of C{str} to C{str}
            (e.g. C{X-Project-ID}, C{X-Auth-Token}); fails with
            L{txzaqar.errors.AuthenticationFailed} if credentials are refused.
        """

    def endpoint():
        """
        @return: a Deferred firing with the Zaqar base URL found by this
            authenticator (e.g. from a service catalog), or C{None}.
        """

    def invalidate(used=None):
        """
        Forget the cached token after the server answered 401.

        @param used: the headers the refused request carried; a newer
            token than the one in them is kept (so concurrent 401s cause
            one re-authentication, not many).
        @return: C{True} if asking for new headers may help (a retry is
            worth it), C{False} otherwise.
        """

    def close():
        """Release resources (threads); a Deferred firing with C{None}."""

    def check(method, path):
        """
        Refuse, before anything is sent, a request these credentials
        cannot make (a pre-signed URL names its methods and paths).  Most
        authenticators allow everything.  The connection calls it for
        every request.

        @param method: the HTTP method, upper case.
        @param path: the request's path from the API root
            (C{/v2/queues/q/messages}), without its query string.
        @return: C{None}.
        @raise txzaqar.errors.ClientValidationError: the request is not
            allowed (see L{txzaqar.errors.NotAllowedBySignedURL},
            L{txzaqar.errors.SignedURLExpired}).
        """


class ITokenExpiry(Interface):
    """
    An authenticator that knows when its current token expires (optional:
    L{txzaqar.auth.Keystone} provides it).  A long-lived connection, such
    as L{txzaqar.push.WebSocketPush}, authenticates again before then.
    """

    token_expires_at = Attribute(
        "When the token of the current headers expires, in seconds since the epoch; "
        "C{None} when not known (before the first headers, after an invalidation).")


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
        """An awaitable: stop, fetching nothing more."""


class IConnection(Interface):
    """
    The only object that speaks HTTP: JSON in, JSON out, typed errors.
    """

    client_id = Attribute("The C{Client-ID} UUID (C{str}) sent with every request.")
    agent = Attribute("The C{IAgent} requests go through (replaceable, e.g. by a recording agent).")
    reactor = Attribute("The reactor (C{IReactorTime}) of timeouts and backoff.")
    authenticator = Attribute("The L{IAuthenticator} whose headers every request carries.")
    url = Attribute("The Zaqar base URL (C{str}), or C{None} until the authenticator found it.")
    timeout = Attribute("Seconds one attempt of a request may take, body included (C{float}).")
    observers = Attribute(
        "A C{list} of L{IRequestObserver}s (e.g. L{txzaqar.ops.metrics.SubscriberMetrics}), "
        "told of every attempt of a request. Empty by default."
    )

    def request(method, path, params=None, body=None, content_type=None,
                idempotent=None, ok=(), operation=None):
        """
        Send one request and read the whole response.

        @param method: C{"GET"}, C{"POST"}, ...
        @param path: relative to C{<endpoint>/v2/}, or absolute from the
            server root when it starts with C{/} (query strings allowed).
        @param params: query parameters; C{bool} becomes C{true}/C{false},
            lists are comma-joined, C{None} values are left out.
        @param body: a JSON-serialisable value, C{bytes} of encoded JSON,
            or C{None} for no body.
        @param content_type: overrides C{application/json}.
        @param idempotent: whether the request may be replayed after a
            failure; defaults by method (never for POST and PATCH).
        @param ok: extra non-2xx statuses to return rather than raise.
        @param operation: what kind of request this is: the path's template
            (C{queues/{queue}/claims}, see L{txzaqar.api._paths}), told to
            the L{observers}; C{None} for a request that names none.
        @return: a Deferred firing with a L{txzaqar.http.connection.Response};
            fails with the L{txzaqar.errors.ZaqarError} for the status.
        """

    def head(path, **kwargs):
        """L{request} with C{HEAD}."""

    def get(path, **kwargs):
        """L{request} with C{GET}."""

    def post(path, **kwargs):
        """L{request} with C{POST}."""

    def put(path, **kwargs):
        """L{request} with C{PUT}."""

    def patch(path, **kwargs):
        """L{request} with C{PATCH}."""

    def delete(path, **kwargs):
        """L{request} with C{DELETE}."""

    def close(timeout=5.0):
        """
        Cancel requests in flight and close pooled connections.

        @param timeout: seconds to wait for pooled connections to close.
        @return: a Deferred firing with C{None} when done, at the latest
            after C{timeout} seconds.
        """


class IRequestObserver(Interface):
    """
    Told by an L{IConnection} (in its C{observers}) how each attempt of a
    request went, after it ended.  Called on the reactor thread; must not
    raise (what it raises is logged and ignored).
    """

    def request_finished(method, path, status, seconds, operation=None):
        """
        One attempt of a request ended.

        @param method: the HTTP method, upper case.
        @param path: the path given to L{IConnection.request} (relative or
            absolute, with its query).
        @param status: the HTTP status (C{int}), or C{None} when no answer came.
        @param seconds: how long the attempt took.
        @param operation: the operation the request named (C{queues/{queue}/claims},
            see L{IConnection.request}), or C{None}.
        """


class IClient(Interface):
    """
    Account-wide operations: queues, health, the home document, pools
    and flavors.
    """

    connection = Attribute("The L{IConnection} used by this client.")

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
        """

    def queues(limit=10, detailed=False, max_items=None, marker=None, name=None, filters=None):
        """
        List every queue of the project, following pages safely (built on
        L{iter_queues}, whose parameters these are).

        @param limit: page size, 1 to 20.
        @param detailed: include each queue's metadata: each L{IQueue} has
            it as C{metadata_snapshot} (an L{IMetadata}, C{None} otherwise)
            and posts within its C{max_messages_post_size}.
        @param max_items: stop after this many queues.
        @return: a Deferred firing with a C{list} of L{IQueue}.
        """

    def iter_queues(limit=10, detailed=False, max_items=None, marker=None, name=None,
                    filters=None, with_count=False):
        """
        The project's queues, lazily: an L{IListing} of L{IQueue}.

        @param marker: resume after this queue name.
        @param name: a regular expression the names must match, and
            C{filters} a C{dict} of metadata values queues must have; both
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
            without asking its storage (is the API up at all?).
        @return: a Deferred firing with C{True} when the server (and,
            without C{head}, its storage) answers; fails with the error
            otherwise.
        """

    def health():
        """
        @return: a Deferred firing with the detailed health C{dict}
            (admin only); fails with L{txzaqar.errors.Forbidden} or
            L{txzaqar.errors.NotFound} without admin rights or admin mode.
        """

    def pool(name):
        """A L{IPool} for C{name}; sends nothing."""

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
        """@return: a Deferred firing with a C{list} of C{dict} pool descriptions."""

    def flavor(name):
        """A L{IFlavor} for C{name}; sends nothing."""

    def create_flavor(name, pool_list, capabilities=None):
        """@return: a Deferred firing with the L{IFlavor}."""

    def flavors(limit=10, detailed=False):
        """@return: a Deferred firing with a C{list} of C{dict} flavor descriptions."""

    def subscriber(**kwargs):
        """A new, not yet started L{ISubscriber} using this client."""

    def close():
        """Close the connection; a Deferred firing with C{None}."""


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
    connection = Attribute("The L{IConnection} its requests (and those of its values) go through.")
    href = Attribute("The queue's path, C{/v2/queues/<name>}.")
    max_post_size = Attribute("The most bytes one post request carries (C{int}); posts are split to it.")
    metadata_snapshot = Attribute(
        "The L{IMetadata} a detailed listing showed, or C{None} (not read from such a listing)."
    )

    def create(metadata=None):
        """C{PUT} the queue; a Deferred firing with C{True} if it was created, C{False} if it existed."""

    def delete():
        """Delete the queue and its messages; a Deferred firing with C{None}."""

    def metadata():
        """@return: a Deferred firing with an L{IMetadata}."""

    def set_metadata(metadata):
        """Replace the whole metadata; a Deferred firing with the new L{IMetadata}."""

    def patch_metadata(operations):
        """
        Apply raw JSON-patch operations (dicts with C{op}, C{path}, C{value}).

        @return: a Deferred firing with the new L{IMetadata}; fails with
            L{txzaqar.errors.Conflict} when replacing or removing a missing key.
        """

    def configure(**settings):
        """
        Set reserved metadata by name (C{default_message_ttl},
        C{default_message_delay}, C{max_messages_post_size},
        C{dead_letter_queue}, C{dead_letter_queue_messages_ttl},
        C{max_claim_count}, C{enable_encrypt_messages}, C{flavor}).  A
        C{dead_letter_queue} is created first if it does not exist.

        @return: a Deferred firing with the new L{IMetadata}.
        """

    def stats():
        """@return: a Deferred firing with a L{txzaqar.api.queue.QueueStats}."""

    def purge(resource_types=None):
        """Delete messages and/or subscriptions; a Deferred firing with C{None}."""

    def share(paths=None, methods=None, expires=None):
        """@return: a Deferred firing with a L{txzaqar.api.queue.SignedURL}."""

    def post(messages, ttl=None, delay=None):
        """
        Post one message dict (C{{"body": ..., "ttl": ..., "delay": ...}})
        or a list of them, in order, split into requests within the
        server's count and size limits.  A bare body is refused: wrap it
        as C{{"body": body}}.

        @param ttl: the ttl of messages that give none.
        @param delay: the delay of messages that give none.
        @return: a Deferred firing with the C{list} of new message ids;
            fails with L{txzaqar.api.queue.PartialPostError} when a later
            request fails after earlier ones stored messages.
        @raise txzaqar.errors.ClientValidationError: a bad message, or one
            too large to post at all; nothing is sent.
        """

    def messages(limit=10, echo=True, include_claimed=False,
                 include_delayed=False, max_items=None, marker=None):
        """
        @param echo: include messages this client's C{Client-ID} posted.
        @return: a Deferred firing with a C{list} of L{IMessage}, all pages
            (built on L{iter_messages}).
        """

    def iter_messages(limit=10, echo=True, include_claimed=False,
                      include_delayed=False, max_items=None, marker=None):
        """
        The queue's messages, lazily: an L{IListing} of L{IMessage}.

        @param marker: resume after this message id (an L{IListing}'s C{marker}).
        @raise txzaqar.errors.ClientValidationError: a bad parameter.
        """

    def message(message_id):
        """@return: a Deferred firing with the L{IMessage}; L{txzaqar.errors.NotFound}."""

    def get_messages(message_ids):
        """@return: a Deferred firing with the C{list} of L{IMessage} found."""

    def delete_messages(message_ids, claim_ids=None):
        """Bulk delete (split in groups of 20); a Deferred firing with C{None}."""

    def delete_message(message_id, claim_id=None):
        """Delete one message; a Deferred firing with C{None}."""

    def pop(count=1):
        """@return: a Deferred firing with the C{list} of removed L{IMessage}."""

    def claim(limit=None, ttl=None, grace=None):
        """
        Claim up to C{limit} messages.

        @return: a Deferred firing with an L{IClaim}, empty (no id, no
            messages) when nothing was claimable.
        """

    def subscribe(subscriber, ttl=None, options=None):
        """@return: a Deferred firing with the new L{ISubscription}."""

    def subscriptions(limit=10, max_items=None, marker=None):
        """@return: a Deferred firing with a C{list} of L{ISubscription} (built on L{iter_subscriptions})."""

    def iter_subscriptions(limit=10, max_items=None, marker=None):
        """The queue's subscriptions, lazily: an L{IListing} of L{ISubscription}."""

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
        """Delete it (with its claim id if claimed); a Deferred firing with C{None}."""

    def reload():
        """@return: a Deferred firing with a fresh L{IMessage}."""


class IClaim(Interface):
    """Messages claimed together, with one id, ttl and grace."""

    id = Attribute("Claim id, or C{None} for an empty claim.")
    href = Attribute("Path of the claim, or C{None}.")
    ttl = Attribute("Claim ttl, seconds.")
    grace = Attribute("Grace, seconds, or C{None} when not known (the server does not show it).")
    age = Attribute("Age in seconds when read.")
    messages = Attribute("A C{tuple} of L{IMessage}.")

    def patch(ttl=None, grace=None):
        """Renew; a Deferred firing with the updated L{IClaim}."""

    def release():
        """Give the messages back at once; a Deferred firing with C{None}."""

    def reload():
        """@return: a Deferred firing with a fresh L{IClaim}; L{txzaqar.errors.NotFound} once expired."""


class ISubscription(Interface):
    """A notification subscription on a queue."""

    id = Attribute("Subscription id.")
    subscriber = Attribute("Target URI.")
    ttl = Attribute("Seconds.")
    options = Attribute("C{dict}.")

    def update(subscriber=None, ttl=None, options=None):
        """@return: a Deferred firing with the updated L{ISubscription}."""

    def confirm(confirmed=True):
        """Confirm (or un-confirm); a Deferred firing with C{None}."""

    def delete():
        """A Deferred firing with C{None}."""

    def reload():
        """@return: a Deferred firing with a fresh L{ISubscription}."""


class IPool(Interface):
    """A storage pool (admin, pooling servers only)."""

    name = Attribute("Pool name.")

    def get(detailed=False):
        """@return: a Deferred firing with the pool C{dict}."""

    def update(uri=None, weight=None, flavor=None, options=None):
        """@return: a Deferred firing with the updated pool C{dict}."""

    def delete():
        """A Deferred firing with C{None}."""


class IFlavor(Interface):
    """A flavor: a named set of pools (admin, pooling servers only)."""

    name = Attribute("Flavor name.")

    def get(detailed=False):
        """@return: a Deferred firing with the flavor C{dict}."""

    def update(pool_list=None, capabilities=None):
        """
        Replace the flavor's pools (Zaqar 23.0.1 needs C{pool_list}; the
        capabilities it reports come from the first pool, whatever is sent).

        @return: a Deferred firing with the updated flavor C{dict}.
        @raise ClientValidationError: no or an empty C{pool_list}.
        """

    def delete():
        """A Deferred firing with C{None}."""
