"""
L{txzaqar.auth.tls.TLSPolicy}: the files it is given are checked when it is made.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.auth.tls import TLSPolicy


class TLSPolicyTests(SynchronousTestCase):
    def test_bad_files(self) -> None:
        self.assertRaises(errors.ClientValidationError, TLSPolicy, cacert="/nonexistent/ca.pem")
        self.assertRaises(errors.ClientValidationError, TLSPolicy, key="/some/key.pem")
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("not a certificate")
        error = self.assertRaises(errors.ClientValidationError, TLSPolicy, cacert=path)
        self.assertIn("no PEM certificate", str(error))
