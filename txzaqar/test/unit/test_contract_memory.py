"""
The contract suite (L{txzaqar.testing.contract}) against the in-memory
Zaqar (L{txzaqar.testing.MemoryZaqar}), which the real client reaches
through treq's C{RequestTraversalAgent}.

The fake does not claim the server's bugs, so the C{test_quirk_*} tests
(L{txzaqar.testing.quirks})
are skipped here; every other test must pass on both backends.
"""

from __future__ import annotations

import uuid

from twisted.trial.unittest import TestCase

import txzaqar
from txzaqar.testing import MemoryZaqar, memory_client
from txzaqar.testing.contract import zaqar_contract_tests

#: One fake for the whole run, as one real server serves the real-server run;
#: each test has a project of its own on it.
_FAKE: list[MemoryZaqar] = []


def get_memory_client(testcase: TestCase) -> txzaqar.Client:
    from twisted.internet.task import Clock

    if not _FAKE:
        _FAKE.append(MemoryZaqar(Clock()))
    client, _ = memory_client(
        project_id=f"contract-{uuid.uuid4().hex}", roles=["admin"], fake=_FAKE[0]
    )
    return client


class MemoryZaqarContractTests(zaqar_contract_tests(get_memory_client, server_quirks=False)):  # type: ignore[misc]
    """The contract against the in-memory fake."""
