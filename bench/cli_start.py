"""CLI start-up time: `spendwatch --help` and `spendwatch sql "select 1"` on a small store, as ratios to
`python3 -c "import duckdb"` measured in the same run (alternating, median of N), because these machines are
shared and noisy. Aim: ≤ 1.5× for both (heavy libraries are imported lazily)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def timed(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    py = sys.executable
    # A real install byte-compiles the package (pip does for wheels); this environment may set
    # PYTHONDONTWRITEBYTECODE, which would make every run re-compile our modules from source.
    root = Path(__file__).resolve().parent.parent
    subprocess.run([py, "-m", "compileall", "-q", *(str(root / p) for p in ("spendwatch", "collector", "detectors", "sinks"))],
                   check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as d:
        Path(d, "a.csv").write_text("ts,provider,cost_usd\n2026-10-01,openai,1.00\n")
        subprocess.run([py, "-m", "spendwatch", "--store", "s.duckdb", "import", "a.csv", "--format", "canonical"],
                       cwd=d, check=True, stdout=subprocess.DEVNULL)
        spendwatch = [str(Path(py).parent / "spendwatch")]
        if not Path(spendwatch[0]).exists():
            spendwatch = [py, "-m", "spendwatch"]
        cases = {
            "baseline: python3 -c 'import duckdb'": [py, "-c", "import duckdb"],
            "spendwatch --help": spendwatch + ["--help"],
            "spendwatch sql 'select 1'": spendwatch + ["--store", "s.duckdb", "sql", "select 1"],
        }
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for cmd in cases.values():  # warm the page cache once
            timed(cmd, d)
        for _ in range(RUNS):
            for name, cmd in cases.items():  # alternate so drift hits all alike
                samples[name].append(timed(cmd, d))
    base = statistics.median(samples["baseline: python3 -c 'import duckdb'"])
    print(f"runs per case: {RUNS} (median wall time)")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:<40} {med * 1000:8.1f} ms   ratio {med / base:5.2f}x")
    worst = max(statistics.median(v) for v in samples.values()) / base
    print(f"worst ratio {worst:.2f}x (aim <= 1.5x): {'OK' if worst <= 1.5 else 'ABOVE AIM'}")


if __name__ == "__main__":
    main()
