"""
The handler of the benchmark's scale run (L{bench.scale}): each message's
C{body["key"]} and the time it arrived, one JSON line appended to the file
named by C{$BENCH_SCALE_DELIVERIES}.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

_lock = threading.Lock()


def record(message: Any) -> None:
    """Append C{{"key": ..., "t": time.time()}} for C{message} (a plain handler: it runs in a thread)."""
    body = message.body if isinstance(message.body, dict) else {}
    line = json.dumps({"key": body.get("key"), "t": time.time()}) + "\n"
    with _lock, open(os.environ["BENCH_SCALE_DELIVERIES"], "a") as f:
        f.write(line)
