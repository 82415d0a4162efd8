"""
Draw the benchmark's PNG from its JSON: ``python plot.py RESULTS.json OUT.png``.

Runs in the benchmark venv (matplotlib lives there, never in the project's
environment).  Left: the post->callback latency distributions (CDF, all
repetitions pooled).  Right: RSS over time of the idle Subscriber and of
the one draining the backlog.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    data = json.load(open(sys.argv[1]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    pooled: dict[str, list[float]] = {}
    for item in data.get("latencies", []):
        pooled.setdefault(item["variant"], []).extend(item["ms"])
    for variant, values in sorted(pooled.items()):
        if not values:
            continue
        values = sorted(values)
        ys = [(i + 1) / len(values) for i in range(len(values))]
        left.step(values, ys, where="post", label=f"{variant} (n={len(values)})")
    left.set_xscale("log")
    left.set_xlabel("post -> callback latency, ms (log); bare listeners: post -> notification")
    left.set_ylabel("fraction of messages")
    left.set_title("Latency on an idle queue (gunicorn gthread)")
    left.axhline(0.5, color="grey", lw=0.5)
    left.axhline(0.99, color="grey", lw=0.5)
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7, loc="lower right")
    for item in data.get("rss", []):
        samples = [s / 1024 for s in item["samples_kib"]]
        right.plot([0.5 * i for i in range(len(samples))], samples,
                   label=f"{item['variant']} (rep {item['rep'] + 1})")
    right.set_xlabel("seconds")
    right.set_ylabel("RSS, MiB")
    right.set_title("Subscriber RSS: idle vs draining a backlog (slow callback)")
    right.grid(True, alpha=0.3)
    if data.get("rss"):
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
