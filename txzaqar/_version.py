"""
txzaqar's version, in the one place it is written.

C{setup.py} reads this file without importing the package;
C{txzaqar.__version__}, the User-Agent header and
C{twistd zaqar-listen --version} import it from here.
"""

__version__ = "0.1.0.dev0"
