"""
The suite's shared helpers, one module per concern: C{waiting} (poll a
condition against a deadline), C{daemon} (run C{twistd zaqar-listen} as a
process), C{recording} (handlers and targets that record deliveries), and
the fixtures more than one test module uses.  Test modules import these,
never each other (C{txzaqar.test.unit.test_test_layout} checks).
"""
