"""
Ready-made clients and subscribers on an in-memory Zaqar (L{MemoryZaqar})::

    client, fake = memory_client()            # a Client on a fresh fake, with a Clock
    subscriber, client, fake = memory_subscriber()

Everything runs synchronously in memory: a request's Deferred has fired by
the time the call returns, and time moves only when the test advances the
clock (C{fake.clock.advance(seconds)}).
"""

from __future__ import annotations

from typing import Any

from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer
from zope.interface import implementer

from ...api.client import Client
from ...auth import NoAuth
from ...http.connection import Connection
from ...subscriber import Subscriber
from .resource import MemoryZaqar

__all__ = ["MEMORY_URL", "MemoryAgent", "memory_client", "memory_subscriber"]

#: The base URL clients of the fake use (nothing listens there).
MEMORY_URL = "http://zaqar.memory"


@implementer(IAgent)
class MemoryAgent:
    """
    treq's C{RequestTraversalAgent} on a L{MemoryZaqar}, which forgets
    each in-memory connection once its response is complete (so a long
    test does not accumulate them).
    """

    #: Finished connections are dropped every this many requests.
    PRUNE_EVERY = 64

    def __init__(self, fake: MemoryZaqar) -> None:
        #: The fake the requests go to.
        self.fake = fake
        self._agent = RequestTraversalAgent(fake)
        self._count = 0

    def request(self, method: bytes, uri: bytes, headers: Headers | None = None,
                bodyProducer: IBodyProducer | None = None) -> Deferred[Any]:
        """
        Send a request to the fake (see L{IAgent.request}).

        @return: a Deferred firing with the L{twisted.web.iweb.IResponse}.
        """
        d = self._agent.request(method, uri, headers, bodyProducer)
        self._count += 1
        if self._count % self.PRUNE_EVERY == 0:
            self._agent.flush()  # completes the closes, forgets closed connections
        return d


def _agent_for(fake: MemoryZaqar) -> MemoryAgent:
    """One agent per fake, shared by all its clients."""
    agent = getattr(fake, "_txzaqar_agent", None)
    if agent is None:
        agent = fake._txzaqar_agent = MemoryAgent(fake)  # type: ignore[attr-defined]
    return agent


def memory_client(
    clock: IReactorTime | None = None,
    project_id: str = "test",
    client_id: str | None = None,
    roles: list[str] | None = None,
    fake: MemoryZaqar | None = None,
    **fake_options: Any,
) -> tuple[Client, MemoryZaqar]:
    """
    A L{txzaqar.Client} talking to an in-memory Zaqar.

    @param clock: the time of the fake and of the client's timeouts and
        retries; a new L{Clock} when omitted (then C{fake.clock} is it).
    @param project_id: the project (sent as C{X-Project-ID}).
    @param client_id: the C{Client-ID} (a UUID); a new one when omitted.
    @param roles: C{X-Roles}, e.g. C{["admin"]} for C{client.health()}.
    @param fake: an existing L{MemoryZaqar} to talk to (another project or
        client on the same server); a new one when omitted.
    @param fake_options: passed to L{MemoryZaqar} when a new one is made
        (C{secret_key}, C{admin_mode}, C{client_id_uuid_safe}).
    @return: C{(client, fake)}.
    """
    if fake is None:
        fake = MemoryZaqar(clock if clock is not None else Clock(), **fake_options)
    elif fake_options:
        raise TypeError("fake_options only apply to a new fake")
    if clock is None:
        clock = fake.clock
    connection = Connection(
        _agent_for(fake), clock, NoAuth(project_id, roles=roles),
        url=MEMORY_URL, client_id=client_id,
    )
    return Client(connection, subscriber_factory=Subscriber), fake


def memory_subscriber(
    clock: Clock | None = None,
    project_id: str = "test",
    client: Client | None = None,
    fake: MemoryZaqar | None = None,
    **subscriber_options: Any,
) -> tuple[Any, Client, MemoryZaqar]:
    """
    A L{txzaqar.subscriber.Subscriber} (not started) on an in-memory Zaqar,
    driven by a L{Clock}.

    @param clock: the clock of the subscriber, its client and the fake; a
        new L{Clock} when omitted.
    @param client: a client from L{memory_client} to use (its fake must be
        given too); a new client on C{fake} (or a new fake) when omitted.
    @param subscriber_options: passed to C{Subscriber} (C{batch},
        C{claim_ttl}, C{poll_interval}, ...).
    @return: C{(subscriber, client, fake)}.
    """
    from ...subscriber import Subscriber

    if client is None:
        client, fake = memory_client(clock=clock, project_id=project_id, fake=fake)
    elif fake is None:
        raise TypeError("give the fake of the client too")
    if clock is None:
        clock = fake.clock
    return Subscriber(client, clock=clock, **subscriber_options), client, fake
