"""
C{twistd zaqar-listen}: the daemon's C{Options} and C{makeService} (what
the twistd plugin names), with its listener service, option checks,
logging and the demo's runner.  Nothing here is API: run the daemon.
"""

# What twistd's ServiceMaker reads from the module it names (not API, so not in __all__).
from ._service import Options as Options
from ._service import makeService as makeService
