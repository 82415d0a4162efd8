"""
Operations: Prometheus metrics of a Subscriber, the C{/metrics}
C{/healthz} C{/readyz} site, and systemd's C{sd_notify}.
"""
