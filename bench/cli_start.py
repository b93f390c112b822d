"""CLI start-up time: `spendwatch --help` and `spendwatch sql "select 1"` on a small store, as ratios to
`python3 -c "import duckdb"` measured in the same run (alternating, median of N), because these machines are
shared and noisy. Aims (issue 12): `sql` ≤ 1.3×, `--help` ≤ 0.75× (heavy libraries are imported lazily, and
`sql` opens the store with DuckDB's C extension alone: spendwatch/engine.py).

Each case's CPU time (user + system of the child) is printed beside its wall time: on a loaded machine the
wall time also holds the time spent waiting for a core, the CPU time much less so. An informational line
shows `python3 -c "import _duckdb"` (the engine without the package's Python layer), the floor `sql` now
stands on; it is left out where that module does not exist (duckdb < 2)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
BASELINE = "baseline: python3 -c 'import duckdb'"
AIMS = {"spendwatch --help": 0.75, "spendwatch sql 'select 1'": 1.3}


def timed(cmd: list[str], cwd: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of cmd."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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
            BASELINE: [py, "-c", "import duckdb"],
            "spendwatch --help": spendwatch + ["--help"],
            "spendwatch sql 'select 1'": spendwatch + ["--store", "s.duckdb", "sql", "select 1"],
        }
        if subprocess.run([py, "-c", "import _duckdb"], stderr=subprocess.DEVNULL).returncode == 0:
            cases["(info) python3 -c 'import _duckdb'"] = [py, "-c", "import _duckdb"]
        walls: dict[str, list[float]] = {k: [] for k in cases}
        cpus: dict[str, list[float]] = {k: [] for k in cases}
        for cmd in cases.values():  # warm the page cache once
            timed(cmd, d)
        for _ in range(RUNS):
            for name, cmd in cases.items():  # alternate so drift hits all alike
                wall, cpu = timed(cmd, d)
                walls[name].append(wall)
                cpus[name].append(cpu)
    base_wall, base_cpu = statistics.median(walls[BASELINE]), statistics.median(cpus[BASELINE])
    print(f"runs per case: {RUNS} (medians); load average now {os.getloadavg()[0]:.2f}")
    for name in cases:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:<40} wall {wall * 1000:7.1f} ms  ratio {wall / base_wall:5.2f}x   "
              f"CPU {cpu * 1000:7.1f} ms  ratio {cpu / base_cpu:5.2f}x")
    for name, aim in AIMS.items():
        ratio = statistics.median(walls[name]) / base_wall
        print(f"{name}: wall ratio {ratio:.2f}x (aim <= {aim}x): {'OK' if ratio <= aim else 'ABOVE AIM'}")


if __name__ == "__main__":
    main()
