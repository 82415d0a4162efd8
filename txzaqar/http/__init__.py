"""
The transport: L{connection.Connection}, the only code that speaks HTTP
(requests, retries, responses), with how transport failures are told and
the private Twisted names it relies on.
"""
