"""
The contract suite (L{txzaqar.testing.contract}) against real Zaqar
23.0.1 servers on Redis, started once per test process by the harness:
under gunicorn (the whole suite) and as the built-in C{zaqar-server}
(wsgiref, HTTP/1.0 without keep-alive; the whole suite too).

C{$TXZAQAR_ZAQAR_URL} (as set by C{python -m txzaqar.testing run -- ...})
selects an already running server instead; then only the gunicorn-mode
class runs, against it.
"""

from __future__ import annotations

import os
import uuid

from twisted.trial.unittest import SkipTest, TestCase

import txzaqar
from txzaqar.testing import servers
from txzaqar.testing.contract import zaqar_contract_tests


def _client_for(mode: str):
    def get_client(testcase: TestCase) -> txzaqar.Client:
        if mode != "gunicorn" and os.environ.get(servers.URL_ENV):
            raise SkipTest(f"${servers.URL_ENV} selects one external server; {mode} mode not started")
        try:
            server = servers.shared_zaqar(mode)
        except servers.HarnessError as e:
            testcase.fail(f"could not start Zaqar ({mode}): {e}")
        # A project of its own per test: listings see only this test's queues.
        return txzaqar.connect(
            server.url, project_id=f"contract-{uuid.uuid4().hex}", roles=["admin"]
        )

    return get_client


class GunicornZaqarContractTests(zaqar_contract_tests(_client_for("gunicorn"))):  # type: ignore[misc]
    """The contract against Zaqar under gunicorn (2 workers x 4 threads)."""


class BuiltinZaqarContractTests(zaqar_contract_tests(_client_for("builtin"))):  # type: ignore[misc]
    """The contract against the built-in C{zaqar-server}."""
