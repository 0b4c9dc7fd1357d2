"""Long downloads share a gevent worker: a label ZIP or CSV export lets other requests run as it streams.

In a gevent worker (how the README serves the app) a greenlet runs until it waits. These run in a
gevent-patched subprocess: one greenlet streams, another counts how often it gets to run meanwhile.
"""

from __future__ import annotations

from tests.green import run_under_gevent

_SCRIPT = r"""
import json, sys, gevent
from codes import export, labels, tokens

def other_request(ticks):
    while True:
        ticks.append(1)
        gevent.sleep(0)

def interleaved(stream):
    ticks = []
    parts_seen_with_ticks = []
    watcher = gevent.spawn(other_request, ticks)
    gevent.sleep(0)   # let it start
    parts = 0
    for _ in stream:
        parts += 1
        parts_seen_with_ticks.append(len(ticks))
    watcher.kill()
    return {"parts": parts, "ticks_during": parts_seen_with_ticks[-1] - parts_seen_with_ticks[0]}

items = ((f"{i}.svg", labels.qr_image(f"https://qr.example.com/{i}", "svg")) for i in range(12))
secret = b"k" * 32
rows = export.csv_rows(secret, 1, "https://qr.example.com", 1, 5 * export.INLINE_CHUNK, processes=1)
print(json.dumps({"zip": interleaved(labels.zip_stream(items)), "csv": interleaved(rows)}))
"""


def test_a_label_zip_and_a_csv_export_let_the_workers_other_requests_run_between_their_parts():
    got = run_under_gevent(_SCRIPT)
    assert got["zip"]["parts"] == 13 and got["zip"]["ticks_during"] >= 12, got
    assert got["csv"]["parts"] == 6 and got["csv"]["ticks_during"] >= 4, got
