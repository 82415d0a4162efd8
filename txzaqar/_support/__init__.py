"""
Generic helpers every layer may use: argument and value checks (with the
server's limits) and the owned thread pools' shutdown.
"""
