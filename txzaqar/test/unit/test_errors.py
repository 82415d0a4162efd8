"""
L{txzaqar.errors}: what an error says about itself.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors


class ErrorTextTests(SynchronousTestCase):
    def test_no_none_status(self) -> None:
        e = errors.ClientValidationError("queue name", "must match [A-Za-z0-9_-]{1,64}")
        self.assertEqual(str(e), "ClientValidationError: Invalid queue name - must match [A-Za-z0-9_-]{1,64}")
        self.assertEqual(str(errors.ConnectionFailed("Connection failed")), "ConnectionFailed: Connection failed")
        self.assertEqual(str(errors.NotFound("Not found", code=404)), "NotFound (404): Not found")
        self.assertEqual(repr(e), "ClientValidationError(title='Invalid queue name', "
                                  "description='must match [A-Za-z0-9_-]{1,64}', code=None, request_id=None)")

    def test_declared_not_sent(self) -> None:
        self.assertEqual((errors.ZaqarError.not_sent, errors.ClientValidationError.not_sent,
                          errors.CertificateVerificationFailed.not_sent), (False, True, True))
        self.assertTrue(errors.RequestTimedOut("t", not_sent=True).not_sent)
        self.assertTrue(errors.NotFound("gone").may_have_been_sent)

    def test_declared_auth_headers(self) -> None:
        """A 401 declares the headers of the refused request: none until the connection sets them."""
        self.assertIsNone(errors.Unauthorized.auth_headers)
        e = errors.Unauthorized("Unauthorized")
        self.assertIsNone(e.auth_headers)
        e.auth_headers = {"X-Auth-Token": "t"}
        self.assertEqual(e.auth_headers, {"X-Auth-Token": "t"})
        self.assertFalse(hasattr(errors.Forbidden("no"), "auth_headers"))
