"""C{python -m txzaqar.cli}: the same as the C{txzaqar} command."""

from . import main

main()
