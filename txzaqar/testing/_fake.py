"""
The old home of L{MemoryZaqar}, kept so that C{txzaqar.testing._fake}
imports keep working; the in-memory Zaqar lives in
L{txzaqar.testing.memory} (model, checks, wire, routes, resource).
"""

from .memory.resource import MemoryZaqar

__all__ = ["MemoryZaqar"]
