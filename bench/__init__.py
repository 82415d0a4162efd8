"""
Benchmarks: txzaqar against python-zaqarclient and a raw treq ceiling driver,
on real Zaqar servers started by :mod:`txzaqar.testing`.  Run ``python -m bench``
(or ``tox -e bench``); ``python -m bench --smoke`` is the CI run.  It exits
non-zero on a broken run (:mod:`bench.verdict`); ``python -m bench.gate_check``
shows that it does.
"""
