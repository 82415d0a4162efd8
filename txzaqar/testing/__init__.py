"""
Test helpers for txzaqar users.

* An in-memory Zaqar (L{MemoryZaqar}, L{memory_client},
  L{memory_subscriber}): no server, time on a C{Clock}.
* A real-server fixture (L{shared_zaqar}, L{ZaqarServer}, L{RedisServer},
  L{ServerSet}): Zaqar 23.0.1 on Redis in its own virtualenv, started on a
  free loopback port and stopped at exit; these block (call them from
  C{setUp}).
"""

from ._fake import MemoryZaqar
from ._harness import HarnessError, RedisServer, ServerSet, ZaqarServer, shared_zaqar
from ._memory import MEMORY_URL, MemoryAgent, memory_client, memory_subscriber

__all__ = [
    "MEMORY_URL",
    "HarnessError",
    "MemoryAgent",
    "MemoryZaqar",
    "RedisServer",
    "ServerSet",
    "ZaqarServer",
    "memory_client",
    "memory_subscriber",
    "shared_zaqar",
]
