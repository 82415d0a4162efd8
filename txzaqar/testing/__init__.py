"""
Test helpers for txzaqar users.

  - An in-memory Zaqar (L{MemoryZaqar}, L{memory_client},
    L{memory_subscriber}): no server, time on a C{Clock}; its push
    notifications for a Subscriber's C{push=} (L{MemoryPush}, from
    C{fake.push()}).
  - L{RecordingAgent}: an C{IAgent} that records what a client sent.
  - A real-server fixture (L{shared_zaqar}, L{ZaqarServer}, L{RedisServer},
    L{ServerSet}): Zaqar 23.0.1 on Redis in its own virtualenv, started on a
    free loopback port and stopped at exit; these block (call them from
    C{setUp}).  L{shared_push_zaqar} adds the notifier pipeline and Zaqar's
    WebSocket transport (C{.websocket_url}) for push tests.  They live in L{txzaqar.testing.servers} and are imported
    from there on first use, so that importing this package for the fake
    starts no process machinery and registers no exit hook.
  - A fault-injecting proxy to put in front of a real Zaqar
    (L{FaultProxy}, L{FaultSchedule}; in L{txzaqar.testing.faults},
    imported on first use too).
"""

from typing import TYPE_CHECKING, Any

from .memory import MEMORY_URL, MemoryAgent, MemoryPush, MemoryZaqar, memory_client, memory_subscriber
from .recording import RecordedRequest, RecordingAgent

if TYPE_CHECKING:
    from .faults import FAULT_KINDS, FaultProxy, FaultSchedule, ProxiedRequest
    from .servers import HarnessError, RedisServer, ServerSet, ZaqarServer, shared_push_zaqar, shared_zaqar

__all__ = [
    "FAULT_KINDS",
    "FaultProxy",
    "FaultSchedule",
    "ProxiedRequest",
    "MEMORY_URL",
    "HarnessError",
    "MemoryAgent",
    "MemoryPush",
    "MemoryZaqar",
    "RecordedRequest",
    "RecordingAgent",
    "RedisServer",
    "ServerSet",
    "ZaqarServer",
    "memory_client",
    "memory_subscriber",
    "shared_push_zaqar",
    "shared_zaqar",
]

#: The real-server names, found in L{txzaqar.testing.servers} when first asked for.
_SERVER_NAMES = frozenset(
    {"HarnessError", "RedisServer", "ServerSet", "ZaqarServer", "shared_push_zaqar", "shared_zaqar"}
)

#: The fault proxy's names, found in L{txzaqar.testing.faults} when first asked for.
_FAULT_NAMES = frozenset({"FAULT_KINDS", "FaultProxy", "FaultSchedule", "ProxiedRequest"})


def __getattr__(name: str) -> Any:
    # PEP 562: only called for names not found above
    if name in _SERVER_NAMES:
        from . import servers

        value = getattr(servers, name)
        globals()[name] = value
        return value
    if name in _FAULT_NAMES:
        from . import faults

        value = getattr(faults, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
