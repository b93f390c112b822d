"""Benchmark: a 90-day hourly backfill of all four API sources against the loopback fake servers.

Runs `spendwatch collect --since … --until …` as a subprocess (so its peak RSS is its own, not the fake
servers'), then replays the exact requests it made with a bare httpx client as the baseline: the ratio
says how much our parsing, pricing and per-day atomic writes cost on top of the HTTP itself, and the
fetch-only pass (same collectors, nothing stored) shows what the collectors alone cost; the store's share is
the time the collect itself logs for opening and writing the store (`store_s=`), over its wall time.
Prints requests made, rows stored, seconds, peak RSS. No network beyond 127.0.0.1.

    .venv/bin/python bench/collect.py [--days 90]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spendwatch.fakes import FAKE_KEYS, Fleet, generate  # noqa: E402
from spendwatch.timeutil import day_start, utcnow  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args()

    end = day_start(utcnow())
    start = end - timedelta(days=args.days)
    t0 = time.perf_counter()
    ds = generate(start, args.days, seed=5, density=0.5)
    print(f"dataset: {len(ds.cells)} hourly cells, {len(ds.lines)} billed-only lines over {args.days} days "
          f"({time.perf_counter() - t0:.1f}s to generate)")

    with tempfile.TemporaryDirectory() as tmp, Fleet.start(ds) as fleet:
        store = Path(tmp) / "bench.duckdb"
        cfg = Path(tmp) / "bench.toml"
        hourly = 'backfill_bucket_width = "1h"\n'
        text = f'[store]\npath = "{store}"\n\n'
        for name, s in fleet.servers.items():
            env = f"SPENDWATCH_FAKE_{name.upper()}_KEY"
            text += (f'[[sources]]\nname = "{name}"\ntype = "{name}"\napi_key_env = "{env}"\n'
                     f'base_url = "{s.base_url}"\n' + (hourly if name in ("openai", "anthropic") else "") + "\n")
        cfg.write_text(text)
        env = dict(os.environ, **fleet.env())

        t = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "spendwatch", "--config", str(cfg), "--log-level", "info", "collect",
                              "--since", str(start.date()), "--until", str(end.date())],
                             capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - t
        if run.returncode != 0:
            print(run.stdout, run.stderr, sep="\n")
            return 1
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(run.stdout.rstrip())

        import duckdb

        con = duckdb.connect(str(store), read_only=True)
        rows = dict(con.execute("SELECT source, count(*) FROM records GROUP BY 1").fetchall())
        con.close()
        requests = {name: len(s.requests) for name, s in fleet.servers.items()}

        baseline = replay(fleet)
        os.environ.update(fleet.env())
        fetch_only = fetch_without_store(cfg, start, end)
        print()
        print(f"{'source':<12}{'requests':>10}{'rows':>10}")
        for name in fleet.servers:
            print(f"{name:<12}{requests[name]:>10}{rows.get(name, 0):>10}")
        total_req, total_rows = sum(requests.values()), sum(rows.values())
        print(f"{'total':<12}{total_req:>10}{total_rows:>10}")
        print()
        print(f"collect (subprocess, whole CLI): {seconds:.2f} s, peak RSS {peak_mb:.0f} MB")
        print(f"baseline (same {total_req} requests replayed with bare httpx, no parsing/storing): {baseline:.2f} s")
        print(f"fetch only (same collectors in-process, rows built, nothing stored): {fetch_only:.2f} s")
        print(f"ratio collect / raw HTTP: {seconds / baseline:.1f}x; collect / fetch-only: {seconds / fetch_only:.1f}x; "
              f"{total_rows / seconds:.0f} rows/s, {total_req / seconds:.0f} requests/s")
        import re

        store_s = sum(float(x) for x in re.findall(r"store_s=([0-9.]+)", run.stderr))
        share = store_s / seconds
        print(f"requests/s: collect {total_req / seconds:.0f} vs bare httpx against the same fakes "
              f"{total_req / baseline:.0f} ({(total_req / seconds) / (total_req / baseline):.2f} of bare)")
        print(f"store's share of the collect (time in store opens and writes, as the collect logs it, / collect "
              f"wall time): {store_s:.2f} s = {share:.0%} (goal < 25%): {'OK' if share < 0.25 else 'ABOVE GOAL'}")
    return 0


def fetch_without_store(cfg_path: Path, start: datetime, end: datetime) -> float:
    """The collectors' share: plan + fetch every day chunk as `collect --since` does, but keep nothing."""
    from spendwatch.app import load_config
    from spendwatch.collect import build_collector
    from spendwatch.store import Window

    cfg = load_config(str(cfg_path))
    t = time.perf_counter()
    for source in cfg.sources:
        coll = build_collector(cfg, source)
        try:
            for kind in coll.kinds:
                planned = coll.plan(kind, Window(start, end), utcnow())
                for chunk in planned.days() if planned else ():
                    sum(1 for _ in coll.fetch(kind, chunk))
        finally:
            coll.close()
    return time.perf_counter() - t


def replay(fleet: Fleet) -> float:
    """Re-issue every request the collect made, reading the bodies and discarding them."""
    import httpx

    t = time.perf_counter()
    for name, server in fleet.servers.items():
        log = list(server.requests)
        headers = ({"x-api-key": FAKE_KEYS[name], "anthropic-version": "2023-06-01"} if name == "anthropic"
                   else {"Authorization": f"Bearer {FAKE_KEYS[name]}"})
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=headers, trust_env=False) as c:
            for _method, target in log:
                c.get(target).read()
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
