"""
The transport's zope interfaces: authenticators and the connection
(re-exported by L{txzaqar.interfaces}).
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
            L{txzaqar.errors.AuthenticationFailed} if credentials are refused,
            L{txzaqar.errors.IdentityUnavailable} if the identity service
            cannot be reached.
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
        Cancel requests in flight and close pooled connections.  Requests
        in flight, and any made afterwards, fail with
        L{txzaqar.errors.ClientClosed} (whose C{not_sent} says whether each
        may have reached Zaqar).

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
