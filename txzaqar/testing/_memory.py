"""
The old home of L{memory_client} and friends, kept so that
C{txzaqar.testing._memory} imports keep working; they live in
L{txzaqar.testing.memory.clients}.
"""

from .memory.clients import MEMORY_URL, MemoryAgent, memory_client, memory_subscriber

__all__ = ["MEMORY_URL", "MemoryAgent", "memory_client", "memory_subscriber"]
