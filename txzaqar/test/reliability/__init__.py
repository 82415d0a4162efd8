"""
The reliability suite: txzaqar's client and Subscriber against a real
Zaqar behind a L{txzaqar.testing.faults.FaultProxy}, and through Zaqar and
Redis restarts and an outage; it prints a table of what it measured and
fails on any lost message or unexplained duplicate::

    python -m txzaqar.test.reliability            # CI sizes (tox -e faults)
    python -m txzaqar.test.reliability --full     # the README's sizes
    python -m txzaqar.test.reliability.soak --minutes 30
"""
