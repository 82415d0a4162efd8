"""
The benchmark's summary maths (C{bench.stats}, C{bench.summary},
C{bench.push_goals}, C{bench.timing}): nearest-rank percentiles, medians,
per-repetition ratios, and which goals a run can judge.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.test.helpers.bench import bench_module


class NearestRankTests(SynchronousTestCase):
    """C{bench.stats.nearest_rank}: the C{ceil(q / 100 * n)}-th smallest value."""

    def setUp(self) -> None:
        self.rank = bench_module("stats").nearest_rank

    def test_p99_of_100(self) -> None:
        """p99 of 1..100 is 99, not the maximum; p100 is the maximum."""
        values = list(range(1, 101))
        self.assertEqual(self.rank(values, 99), 99)
        self.assertEqual(self.rank(values, 100), 100)

    def test_every_size(self) -> None:
        """For every size up to 300 and every whole percentile, the value at rank ceil(q n / 100)."""
        for n in range(1, 301):
            values = [float(i) for i in range(1, n + 1)]
            for q in range(1, 101):
                expected = -(-q * n // 100)  # ceil, in integers
                self.assertEqual(self.rank(values, q), expected, (n, q))

    def test_float_error(self) -> None:
        """0.29 * 100 is 28.999999999999996 in floats: p29 of 100 values is still the 29th."""
        self.assertEqual(self.rank(list(range(1, 101)), 29), 29)
        self.assertEqual(self.rank(list(range(1, 11)), 70), 7)

    def test_fractional_percentile(self) -> None:
        """p99.9 of 1,000 values is the 999th; p50.5 of 200 values is the 101st."""
        self.assertEqual(self.rank(list(range(1, 1001)), 99.9), 999)
        self.assertEqual(self.rank(list(range(1, 201)), 50.5), 101)

    def test_median_rank(self) -> None:
        """p50 is the lower middle value of an even count and the middle one of an odd count."""
        self.assertEqual(self.rank([4, 1, 3, 2], 50), 2)
        self.assertEqual(self.rank([5, 1, 4, 2, 3], 50), 3)

    def test_unsorted_and_ends(self) -> None:
        """The input order does not matter; p0 is the minimum; one value is every percentile."""
        self.assertEqual(self.rank([30, 10, 20], 0), 10)
        self.assertEqual(self.rank([30, 10, 20], 34), 20)
        self.assertEqual(self.rank([7.5], 1), 7.5)
        self.assertEqual(self.rank([7.5], 100), 7.5)

    def test_empty(self) -> None:
        """No values: nan."""
        self.assertTrue(math.isnan(self.rank([], 50)))

    def test_out_of_range(self) -> None:
        """A percentile outside 0-100 is refused."""
        self.assertRaises(ValueError, self.rank, [1, 2], 101)
        self.assertRaises(ValueError, self.rank, [1, 2], -1)


class MedianTests(SynchronousTestCase):
    """C{bench.stats.median}."""

    def test_median(self) -> None:
        """The middle value, the mean of the middle two, C{None} for none."""
        median = bench_module("stats").median
        self.assertEqual(median([3, 1, 2]), 2)
        self.assertEqual(median([4, 1, 3, 2]), 2.5)
        self.assertIsNone(median([]))


def _record(workload: str, variant: str, rep: int, metric: str, value: float,
            server: str = "gunicorn") -> dict[str, Any]:
    return {"workload": workload, "server": server, "variant": variant, "rep": rep, "metric": metric,
            "value": value}


class SummarizeTests(SynchronousTestCase):
    """C{bench.summary.summarize}: the table's figures and the goals."""

    def setUp(self) -> None:
        self.summary = bench_module("summary")
        self.full = self.summary.Scale(smoke=False, queues=1000)

    def goal(self, goals: list[dict], start: str) -> dict:
        (found,) = [g for g in goals if g["goal"].startswith(start)]
        return found

    def test_row(self) -> None:
        """n, min, median and max of every repetition's value."""
        records = [_record("post1", "official", rep, "msg/s", v) for rep, v in enumerate([300, 100, 200])]
        table, _ = self.summary.summarize(records, [], self.full)
        (row,) = table
        self.assertEqual((row["n"], row["min"], row["median"], row["max"]), (3, 100, 200, 300))
        self.assertNotIn("ratio", row)

    def test_ratio_per_repetition(self) -> None:
        """The ratio is the median of the per-repetition ratios, not the ratio of the medians."""
        records = []
        for rep, (official, tx) in enumerate([(100, 300), (200, 300), (400, 400)]):
            records.append(_record("post1", "official", rep, "msg/s", official))
            records.append(_record("post1", "txzaqar", rep, "msg/s", tx))
        table, goals = self.summary.summarize(records, [], self.full)
        (row,) = [r for r in table if r["variant"] == "txzaqar"]
        # per repetition: 3.0, 1.5, 1.0 -> median 1.5 (the medians' ratio would be 300/200)
        self.assertEqual((row["ratio"], row["ratio_min"], row["ratio_max"]), (1.5, 1.0, 3.0))
        self.assertEqual(row["ratio_to"], "official")
        post1 = self.goal(goals, "post 1/request")
        self.assertEqual((post1["measured"], post1["met"], post1["status"]), (1.5, False, "NOT MET"))
        self.assertEqual(post1["shown"], "x1.50")

    def test_ratio_skips_a_repetition_without_reference(self) -> None:
        """A repetition whose reference is missing (or zero) gives no ratio."""
        records = [_record("post1", "official", 0, "msg/s", 100), _record("post1", "txzaqar", 0, "msg/s", 250),
                   _record("post1", "official", 1, "msg/s", 0), _record("post1", "txzaqar", 1, "msg/s", 500),
                   _record("post1", "txzaqar", 2, "msg/s", 900)]
        table, _ = self.summary.summarize(records, [], self.full)
        (row,) = [r for r in table if r["variant"] == "txzaqar"]
        self.assertEqual((row["ratio"], row["n"]), (2.5, 3))

    def test_met(self) -> None:
        """A full run judges a measured goal: MET."""
        records = [_record("post1", "official", 0, "msg/s", 100), _record("post1", "txzaqar", 0, "msg/s", 250)]
        _, goals = self.summary.summarize(records, [], self.full)
        post1 = self.goal(goals, "post 1/request")
        self.assertEqual((post1["met"], post1["status"]), (True, "MET"))

    def test_not_measured(self) -> None:
        """A goal without its rows is n/a, judged neither way."""
        _, goals = self.summary.summarize([], [], self.full)
        self.assertTrue(goals)
        for goal in goals:
            self.assertEqual((goal["met"], goal["status"], goal["shown"]), (None, "n/a", "n/a"))

    def test_smoke_judges_no_goal(self) -> None:
        """At smoke size every goal is "not judged at smoke size", even one that would fail; its figure is shown."""
        records = [_record("post1", "official", 0, "msg/s", 100), _record("post1", "txzaqar", 0, "msg/s", 50)]
        _, goals = self.summary.summarize(records, [], self.summary.Scale(smoke=True, queues=20))
        for goal in goals:
            self.assertEqual((goal["met"], goal["status"]), (None, "not judged at smoke size"))
        self.assertEqual(self.goal(goals, "post 1/request")["shown"], "x0.50")

    def many_records(self, queues: int, rate: float) -> list[dict]:
        records = [_record("many queues", f"Subscriber on {queues} idle queues", 0, "req/s backed off", rate)]
        for transport in ("websocket", "webhook"):
            records.append(_record("many queues", f"Subscriber with {transport} push on {queues} idle queues", 0,
                                   "req/s backed off", rate))
        return records

    def test_many_queues_judged_on_1000(self) -> None:
        """The 1,000-queue goals are judged on a run that used 1,000 queues."""
        _, goals = self.summary.summarize(self.many_records(1000, 60.0), [], self.full)
        many = [g for g in goals if g["goal"].startswith("1,000 idle queues")]
        self.assertEqual(len(many), 3)
        for goal in many:
            self.assertEqual((goal["met"], goal["status"]), (False, "NOT MET"))

    def test_many_queues_not_judged_on_20(self) -> None:
        """A (full-size) run on 20 queues shows their figure but does not judge the 1,000-queue goals."""
        _, goals = self.summary.summarize(self.many_records(20, 60.0), [],
                                          self.summary.Scale(smoke=False, queues=20))
        many = [g for g in goals if g["goal"].startswith("1,000 idle queues")]
        self.assertEqual(len(many), 3)
        for goal in many:
            self.assertEqual((goal["met"], goal["status"]), (None, "not judged on 20 queues"))
            self.assertEqual(goal["measured"], 60.0)

    def scrape_records(self, queues: int, held: list[float], idle: list[float]) -> list[dict]:
        s = self.summary
        label = s.scrape_label(queues)
        records = []
        for rep, (h, i) in enumerate(zip(held, idle, strict=True)):
            records.append(_record(s.SCRAPE_WORKLOAD, label, rep, s.SCRAPE_HELD, h, server=s.SCRAPE_SERVER))
            records.append(_record(s.SCRAPE_WORKLOAD, label, rep, s.SCRAPE_IDLE, i, server=s.SCRAPE_SERVER))
        return records

    def test_scrape_cost_met(self) -> None:
        """
        At 1,000 queues the scrape-cost goal is the median over the
        repetitions (not the mean, not the worst), shown with the idle gap.
        """
        records = self.scrape_records(1000, [12.0, 19.0, 90.0], [1.5, 1.2, 1.4])
        _, goals = self.summary.summarize(records, [], self.summary.Scale(smoke=False, queues=1000))
        goal = self.goal(goals, "scrape cost")
        self.assertEqual((goal["measured"], goal["met"], goal["status"]), (19.0, True, "MET"))
        self.assertEqual(goal["shown"], "19.0 ms (idle gap 1.4 ms)")

    def test_scrape_cost_not_met(self) -> None:
        """Above 20 ms: NOT MET (and a full run exits 4); exactly 20 ms is MET."""
        verdict = bench_module("verdict")
        records = self.scrape_records(1000, [21.0, 25.0], [1.0, 1.0])
        _, goals = self.summary.summarize(records, [], self.full)
        goal = self.goal(goals, "scrape cost")
        self.assertEqual((goal["measured"], goal["met"], goal["status"]), (23.0, False, "NOT MET"))
        self.assertEqual(verdict.exit_status([], [goal]), verdict.EXIT_GOAL_NOT_MET)
        _, goals = self.summary.summarize(self.scrape_records(1000, [20.0], [1.0]), [], self.full)
        self.assertEqual(self.goal(goals, "scrape cost")["met"], True)

    def test_scrape_cost_judged_only_at_1000_queues(self) -> None:
        """
        The scrape run's own queue count decides (not the "many" run's): 20
        scrape queues are shown but not judged; at smoke size, not judged either.
        """
        records = self.scrape_records(20, [50.0], [1.0])
        scale = self.summary.Scale(smoke=False, queues=1000, scrape_queues=20)
        _, goals = self.summary.summarize(records, [], scale)
        goal = self.goal(goals, "scrape cost")
        self.assertEqual((goal["measured"], goal["met"], goal["status"]), (50.0, None, "not judged on 20 queues"))
        smoke = self.summary.Scale(smoke=True, queues=20, scrape_queues=20)
        _, goals = self.summary.summarize(records, [], smoke)
        goal = self.goal(goals, "scrape cost")
        self.assertEqual((goal["met"], goal["status"]), (None, "not judged at smoke size"))
        self.assertEqual(goal["shown"], "50.0 ms (idle gap 1.0 ms)")

    def test_scrape_cost_not_measured(self) -> None:
        """A run without the scrape workload: n/a."""
        _, goals = self.summary.summarize([], [], self.full)
        goal = self.goal(goals, "scrape cost")
        self.assertEqual((goal["measured"], goal["status"], goal["shown"]), (None, "n/a", "n/a"))

    def scale_records(self, queues: int, idle: float, rss: float, beyond: float) -> list[dict]:
        s = self.summary
        label = s.scale_label(queues)
        return [_record(s.SCALE_WORKLOAD, label, 0, metric, value)
                for metric, value in ((s.SCALE_IDLE, idle), (s.SCALE_RSS, rss), (s.SCALE_NEW, beyond))]

    def scale_goals(self, records: list[dict], scale_queues: int | None = 10_000, smoke: bool = False) -> list[dict]:
        scale = self.summary.Scale(smoke=smoke, queues=1000, scale_queues=scale_queues)
        _, goals = self.summary.summarize(records, [], scale)
        return [g for g in goals if g["goal"].startswith("10,000 discovered")]

    def test_scale_goals(self) -> None:
        """
        At 10,000 queues: idle requests <= 10/s, peak RSS <= 300 MiB, a new
        queue consumed within one discovery interval + 1 s; each bound is MET.
        """
        goals = self.scale_goals(self.scale_records(10_000, 10.0, 300.0, 1.0))
        self.assertEqual([(g["met"], g["shown"]) for g in goals],
                         [(True, "10.00 req/s"), (True, "300 MiB"), (True, "+1.0 s")])
        goals = self.scale_goals(self.scale_records(10_000, 10.5, 301.0, 1.2))
        self.assertEqual([g["status"] for g in goals], ["NOT MET"] * 3)
        verdict = bench_module("verdict")
        self.assertEqual(verdict.exit_status([], goals), verdict.EXIT_GOAL_NOT_MET)

    def test_scale_goals_judged_only_at_10000_queues(self) -> None:
        """A smaller scale run, or a smoke run, is shown but not judged; a run without one has no such goals."""
        goals = self.scale_goals(self.scale_records(20, 50.0, 900.0, 9.0), scale_queues=20)
        self.assertEqual({(g["met"], g["status"]) for g in goals}, {(None, "not judged on 20 queues")})
        goals = self.scale_goals(self.scale_records(20, 50.0, 900.0, 9.0), scale_queues=20, smoke=True)
        self.assertEqual({g["status"] for g in goals}, {"not judged at smoke size"})
        self.assertEqual(self.scale_goals([], scale_queues=None), [])

    def test_latency_goal_uses_nearest_rank(self) -> None:
        """The pooled p50 difference of two latency rows, by nearest rank over every repetition."""
        latencies = [
            {"variant": "txzaqar Subscriber poll 0.115s", "rep": 0, "ms": [10.0, 30.0]},
            {"variant": "txzaqar Subscriber poll 0.115s", "rep": 1, "ms": [20.0, 40.0]},
            {"variant": "official poll 0.1s", "rep": 0, "ms": [15.0, 25.0, 35.0, 45.0]},
        ]
        records = [_record("latency", "txzaqar Subscriber poll 0.115s", 0, "p50 ms", 20.0)]
        _, goals = self.summary.summarize(records, latencies, self.full)
        poll = self.goal(goals, "poll mode")
        # p50 of 10, 20, 30, 40 is 20; of 15, 25, 35, 45 is 25
        self.assertEqual((poll["measured"], poll["met"]), (-5.0, True))

    def test_render(self) -> None:
        """The text names each goal with its status."""
        records = [_record("post1", "official", 0, "msg/s", 100), _record("post1", "txzaqar", 0, "msg/s", 150)]
        table, goals = self.summary.summarize(records, [], self.full)
        text = self.summary.render(table, goals, smoke=False, reps=1, elapsed=3.0)
        self.assertIn("  NOT MET  post 1/request: txzaqar >= 2x official: x1.50\n", text)
        self.assertIn("  n/a      post10: txzaqar >= 1.8x official: n/a\n", text)
        self.assertIn("full, 1 repetitions", text)


class PushGoalsTests(SynchronousTestCase):
    """C{bench.push_goals}: the pooled percentile difference."""

    def test_pooled_difference(self) -> None:
        """p99 of each pool by nearest rank (p99 of 100 values is the 99th), then the difference."""
        pooled = bench_module("push_goals").pooled_difference
        latencies = [{"variant": "a", "rep": 0, "ms": [float(i) for i in range(1, 101)]},
                     {"variant": "b", "rep": 0, "ms": [0.0] * 100}]
        self.assertEqual(pooled(latencies, "a", "b", 99), 99.0)
        self.assertIsNone(pooled(latencies, "a", "c", 50))


class TimingTests(SynchronousTestCase):
    """C{bench.timing}: the latency split's medians."""

    def setUp(self) -> None:
        self.timing = bench_module("timing")

    def test_split(self) -> None:
        """Each part is the median over the deliveries that have it, in ms."""
        deliveries = [
            {"t": 0.0, "cb": 0.050, "claim": [0.030, 0.045], "wake": 0.010},
            {"t": 1.0, "cb": 1.030, "claim": [1.010, 1.025], "wake": None},
            {"t": 2.0, "cb": 2.020, "claim": None, "wake": 2.020},
        ]
        split = self.timing.split(deliveries)
        self.assertAlmostEqual(split["to claim ms"], 20.0)
        self.assertAlmostEqual(split["claim ms"], 15.0)
        self.assertAlmostEqual(split["to callback ms"], 5.0)
        self.assertAlmostEqual(split["notify ms"], 15.0)
        self.assertEqual(self.timing.split([]), dict.fromkeys(split))

    def test_idle_period(self) -> None:
        """The median gap between claims sent inside the window; C{None} with fewer than two."""
        claims = [[0.5, 0.6], [1.0, 1.1], [1.2, 1.3], [1.6, 1.7], [3.0, 3.1]]
        self.assertAlmostEqual(self.timing.idle_period(claims, (1.0, 3.0)), 300.0)
        self.assertIsNone(self.timing.idle_period(claims, (2.0, 3.0)))

    def test_idle_round_trip(self) -> None:
        """The median round trip of the claims sent inside the window and answered."""
        claims = [[1.0, 1.01], [1.5, 1.53], [2.0, 0.0], [5.0, 5.5]]
        self.assertAlmostEqual(self.timing.idle_round_trip(claims, (1.0, 3.0)), 20.0)
