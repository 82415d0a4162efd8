"""
C{twistd zaqar-listen}: the daemon's C{Options} and C{makeService} (what
the twistd plugin names), with its listener service, option checks,
logging and the demo.
"""

from ._service import Options, makeService

__all__ = ["Options", "makeService"]
