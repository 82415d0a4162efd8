"""C{python -m txzaqar.testing}: see L{txzaqar.testing.servers.cli}."""

import sys

from txzaqar.testing.servers.cli import main

if __name__ == "__main__":
    sys.exit(main())
