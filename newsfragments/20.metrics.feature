``twistd zaqar-listen --metrics`` answers "are we keeping up?": per-queue gauges of free,
claimed and total messages and the oldest message's age, read from Zaqar's stats every
``--stats-interval`` seconds (a scrape never sends a request); a dead-letter counter
(a lower bound, with one warning per refresh that saw moves); capacity gauges
(concurrency, threads, in flight), the time of the last successful poll, push configured
and push up as separate series, ``txzaqar_build_info`` and the process, platform and
garbage-collector collectors; no ``_created`` series; a help text on every metric.
Prometheus alerting rules and a Grafana dashboard ship in ``txzaqar/ops/monitoring/``.
A scrape formats on its own thread and holds the reactor for milliseconds only.
