"""python -m bench.codes: export a 1,000,000-code batch to CSV through the HTTP API.

Baselines, same run, one core, writing nothing:
- hmac_per_s: the bare loop anyone would write first: a new HMAC-SHA256 (cryptography) per code
  over the same 10-byte message, finalize, keep 8 bytes.  ratio = codes_per_s / hmac_per_s.
- hmac_precomputed_per_s: the fastest plain loop we know: one pre-keyed HMAC context copied per
  code (what the export itself does).  ratio_vs_precomputed = codes_per_s / that.
ratio above 1.0 means the export (signing, base64, CSV, streaming through Flask) outruns the
bare MAC loop; it gets there by pre-keying the MAC and spreading chunks over the cores.
peak_rss_mb is the largest resident set of the serving process or any export worker.
Prints progress lines, then one JSON object on the last line.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time

N = int(os.environ.get("BENCH_CODES", "1000000"))


def bare_hmac_rate(secret: bytes, key_id: int, n: int) -> float:
    from cryptography.hazmat.primitives import hashes, hmac

    from codes import tokens

    header = bytes([tokens.SHORT_VERSION]) + key_id.to_bytes(3, "big")
    start = time.perf_counter()
    for serial in range(1, n + 1):
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(header + serial.to_bytes(6, "big"))
        h.finalize()[:8]
    return n / (time.perf_counter() - start)


def precomputed_hmac_rate(secret: bytes, key_id: int, n: int) -> float:
    from codes import tokens

    base = tokens.keyed(secret)
    header = bytes([tokens.SHORT_VERSION]) + key_id.to_bytes(3, "big")
    start = time.perf_counter()
    for serial in range(1, n + 1):
        h = base.copy()
        h.update(header + serial.to_bytes(6, "big"))
        h.finalize()[:8]
    return n / (time.perf_counter() - start)


def _pool_peak_rss_mb() -> float:
    """Peak resident set (VmHWM) so far of the export's worker processes, while its pool is open."""
    from codes import export

    peak = 0.0
    for pid in export.worker_pids():
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


def main() -> None:
    from app import create_app
    from bench.support import APP_SECRETS
    from codes import keys
    from db import session_scope
    from migrations import upgrade
    from tests.factories import Api

    tmp = tempfile.mkdtemp(prefix="bench-codes-")
    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "REDIS_URL": None, **APP_SECRETS, "EXPORT_PROCESSES": 0})
    api = Api(app, app.test_client())
    brand = api.brand("Bench dairy")
    batch = api.batch(brand, quantity=N, activate=False)
    print(f"batch of {N:,} codes issued; exporting through GET codes.csv ...", flush=True)

    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    response = api.client.get(f"/api/v1/brand/batches/{batch['id']}/codes.csv", headers=brand.headers, buffered=False)
    rows, size, tail = 0, 0, b""
    workers_mb = 0.0
    for chunk in response.response:
        rows += chunk.count(b"\n")
        size += len(chunk)
        tail = chunk[-200:]
        workers_mb = max(workers_mb, _pool_peak_rss_mb())  # the pool closes with the export
    elapsed = time.perf_counter() - start
    response.close()
    rows -= 1  # header
    assert rows == N, f"exported {rows} rows, expected {N}"
    codes_per_s = N / elapsed
    print(f"export: {rows:,} rows, {size / 1e6:.1f} MB in {elapsed:.2f} s ({codes_per_s:,.0f} codes/s)", flush=True)
    last_url = tail.decode().strip().splitlines()[-1].split(",", 2)[2]
    assert api.client.get(last_url.replace("https://qr.example.com", "")).status_code == 410  # inactive, verifies

    key_id = int(batch["key_id"])  # an opaque string in the API; the signing key's number here
    with app.app_context(), session_scope(app) as session:
        _, secret = keys.secret_for(session, key_id)
    hmac_per_s = bare_hmac_rate(secret, key_id, N)
    print(f"bare HMAC loop: {hmac_per_s:,.0f} tags/s on one core", flush=True)
    precomputed_per_s = precomputed_hmac_rate(secret, key_id, N)
    print(f"pre-keyed HMAC loop: {precomputed_per_s:,.0f} tags/s on one core", flush=True)

    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "codes_per_s": round(codes_per_s),
        "hmac_per_s": round(hmac_per_s),
        "ratio": round(codes_per_s / hmac_per_s, 3),
        "peak_rss_mb": round(max(self_kb / 1024, workers_mb), 1),
        "hmac_precomputed_per_s": round(precomputed_per_s),
        "ratio_vs_precomputed": round(codes_per_s / precomputed_per_s, 3),
        "server_rss_mb": round(self_kb / 1024, 1),
        "server_rss_before_export_mb": round(rss_before_mb, 1),
        "worker_rss_mb": round(workers_mb, 1),
        "codes": N,
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
