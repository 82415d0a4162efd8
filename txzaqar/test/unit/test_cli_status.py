"""L{txzaqar.cli._status}: which failure exits with which status, said in one line."""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.cli._status import ExitStatus, exit_status, one_line


class ExitStatusTests(SynchronousTestCase):
    def test_classification(self) -> None:
        cases = [
            (usage.UsageError("--url is required"), ExitStatus.USAGE),
            (errors.ClientValidationError("queue", "bad name"), ExitStatus.USAGE),
            (errors.Unauthorized("Unauthorized"), ExitStatus.NO_PERMISSION),
            (errors.Forbidden("Forbidden"), ExitStatus.NO_PERMISSION),
            (errors.AuthenticationFailed("refused"), ExitStatus.NO_PERMISSION),
            (errors.NotAllowedBySignedURL("GET", "/v2/queues/q/messages", "not allowed"), ExitStatus.NO_PERMISSION),
            (errors.ConnectionFailed("Connection refused"), ExitStatus.UNAVAILABLE),
            (errors.RequestTimedOut("timed out"), ExitStatus.UNAVAILABLE),
            (errors.IdentityUnavailable("Keystone away"), ExitStatus.UNAVAILABLE),
            (errors.ServiceUnavailable("503"), ExitStatus.UNAVAILABLE),
            (errors.CertificateVerificationFailed("bad certificate"), ExitStatus.FAILED),
            (errors.NotFound("Not found"), ExitStatus.FAILED),
            (errors.Conflict("Conflict"), ExitStatus.FAILED),
            (RuntimeError("bug"), ExitStatus.FAILED),
        ]
        self.assertEqual([exit_status(e) for e, _ in cases], [s for _, s in cases])

    def test_numbers(self) -> None:
        """The documented numbers (README, "The command line")."""
        self.assertEqual([int(s) for s in ExitStatus], [0, 1, 64, 69, 77, 141])

    def test_one_line(self) -> None:
        """Whatever the error, one line; a validation error names its field."""
        self.assertEqual(one_line(errors.ClientValidationError("limit", "must be\nat most 20")),
                         "limit: must be at most 20")
        self.assertEqual(one_line(ValueError("a\nb")), "ValueError: a b")
        self.assertNotIn("\n", one_line(errors.NotFound("Not found", "no\nsuch queue")))
