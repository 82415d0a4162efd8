"""
The Hypothesis profiles of every property test, loaded on import from
C{$TXZAQAR_HYPOTHESIS_PROFILE}:

  - C{ci} (the default): 150 examples a test, derandomized, so every run
    generates the same inputs;
  - C{small}: 15 examples a test, derandomized: the unit suite on the other
    Pythons (C{py312-unit}, C{py313-unit}, C{oldest}), where the inputs
    C{ci} replays once under coverage would only be replayed again;
  - C{dev}: 150 new inputs a run; C{thorough}: 2,000 new inputs a run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE"]

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=150, derandomize=True, deadline=None, database=None,
                          suppress_health_check=_SLOW)
settings.register_profile("small", max_examples=15, derandomize=True, deadline=None, database=None,
                          suppress_health_check=_SLOW)
settings.register_profile("dev", max_examples=150, deadline=None, database=None, suppress_health_check=_SLOW)
settings.register_profile("thorough", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=_SLOW)

#: The profile loaded: C{$TXZAQAR_HYPOTHESIS_PROFILE}, C{ci} by default.
PROFILE = os.environ.get("TXZAQAR_HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
