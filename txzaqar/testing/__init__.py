"""Test helpers for txzaqar users: real Zaqar servers and (soon) an in-memory Zaqar."""

from ._fake import MemoryZaqar
from ._memory import MEMORY_URL, MemoryAgent, memory_client, memory_subscriber

__all__ = ["MEMORY_URL", "MemoryAgent", "MemoryZaqar", "memory_client", "memory_subscriber"]
