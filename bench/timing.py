"""
Where post->callback latency goes: the split of each delivery, and the
poll period a client actually achieved while idle.

The drivers report, for every message delivered, ``{"t": posted, "cb":
callback, "claim": [sent, answered] or None, "wake": woken or None}`` (all
``time.time()`` stamps on this one machine), and the ``[sent, answered]``
of every claim they sent.  From those:

* **to claim**: post stamp -> the delivering claim was sent (waiting for
  the next poll, or for the wake-up and then the claim);
* **claim**: the delivering claim's round trip, as the client saw it;
* **to callback**: claim answered -> the callback ran (parsing, slots);
* **notify**: post stamp -> the wake-up (push only);
* **idle period**: the median gap between successive claims sent while
  the queue was idle (the idle window the orchestrator measures), which
  is what "the same idle cost" compares.

Only the standard library is used here (the orchestrator's side).
"""

from __future__ import annotations

import statistics


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def split(deliveries: list[dict]) -> dict[str, float | None]:
    """
    Median milliseconds of each part of post->callback over ``deliveries``.

    @return: ``{"to claim ms": ..., "claim ms": ..., "to callback ms": ...,
        "notify ms": ...}``, ``None`` for a part no delivery has.
    """
    to_claim, claim, to_callback, notify = [], [], [], []
    for d in deliveries:
        c = d.get("claim")
        if c:
            to_claim.append(1000 * (c[0] - d["t"]))
            claim.append(1000 * (c[1] - c[0]))
            to_callback.append(1000 * (d["cb"] - c[1]))
        if d.get("wake") is not None:
            notify.append(1000 * (d["wake"] - d["t"]))
    return {"to claim ms": _median(to_claim), "claim ms": _median(claim),
            "to callback ms": _median(to_callback), "notify ms": _median(notify)}


def idle_period(claims: list[list[float]], window: tuple[float, float]) -> float | None:
    """
    Median milliseconds between successive claims sent inside ``window``
    (``(start, end)`` stamps), or ``None`` with fewer than two.
    """
    sent = sorted(c[0] for c in claims if window[0] <= c[0] < window[1])
    return _median([1000 * (b - a) for a, b in zip(sent, sent[1:], strict=False)])


def idle_round_trip(claims: list[list[float]], window: tuple[float, float]) -> float | None:
    """Median milliseconds of the claims sent inside ``window`` (empty claims: the pure round trip)."""
    return _median([1000 * (c[1] - c[0]) for c in claims if window[0] <= c[0] < window[1] and c[1]])
