"""Run the FinOps Foundation's `focus-validator` on a FOCUS export of the demo store and print its verdict.

    python bench/focus_validate.py [--venv DIR] [--python PYTHON] [--keep]

focus-validator 2.2.1 needs Python >= 3.12 and numpy < 2 (so a Python for which numpy 1.26 has wheels:
3.12; on 3.13 pip would build numpy from source for many minutes). This script builds its own venv
(default ./.focus-venv) with the first of --python, python3.12, python3.13 found on PATH or under pyenv,
installs focus-validator==2.2.1 (plus pyarrow < 20, which still works with numpy 1.x), runs
`spendwatch demo`, exports it with `spendwatch export --format focus`, and validates the Parquet and CSV
files against FOCUS 1.2 (model 1.2.0.1, shipped inside the validator: no download) with the
applicability criteria that fit spendwatch's data:
    USAGE_MEASUREMENT_SUPPORTED (tokens), SUB_ACCOUNT_SUPPORTED (projects), TAGGING_SUPPORTED (tags, team),
    ACCOUNT_NAMING_SUPPORTED (BillingAccountName = the source's name).
Verdict: PASS when the dataset's two composite rules (CostAndUsage-D-001-M: columns present,
CostAndUsage-D-002-M: every column's rules) pass. Leaf rules that are one unused branch of an OR (e.g.
InvoiceId-C-005-C "not null when invoiced", where its sibling C-004-C "null when not invoiced" holds) are
listed as the validator reports them but do not fail the verdict; the validator marks their parent PASS.
Needs PyPI access for the first run (the venv is reused afterwards).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERIA = "USAGE_MEASUREMENT_SUPPORTED,SUB_ACCOUNT_SUPPORTED,TAGGING_SUPPORTED,ACCOUNT_NAMING_SUPPORTED"


def find_python(explicit: str | None) -> str:
    cands = [explicit] if explicit else []
    cands += [shutil.which("python3.12"), shutil.which("python3.13")]
    cands += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    cands += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    for c in cands:
        if c and subprocess.run([c, "-c", "import sys; assert sys.version_info >= (3, 12)"],
                                capture_output=True).returncode == 0:
            return c
    raise SystemExit("no Python >= 3.12 found (apt-get install python3.13, or pass --python)")


def ensure_venv(venv: str, python: str) -> str:
    exe = os.path.join(venv, "bin", "focus-validator")
    if not os.path.exists(exe):
        subprocess.run([python, "-m", "venv", venv], check=True)
        pip = os.path.join(venv, "bin", "pip")
        subprocess.run([pip, "install", "-q", "--prefer-binary", "--only-binary", "numpy,pandas,polars,pyarrow,duckdb",
                        "focus-validator==2.2.1", "pyarrow<20"], check=True)
    return exe


def site_packages(venv: str) -> str:
    return glob.glob(os.path.join(venv, "lib", "python3.*", "site-packages"))[0]


def validate(exe: str, venv: str, data: str) -> tuple[bool, str]:
    # the validator opens its bundled rules/currency_codes.csv by a relative path: run it from site-packages
    p = subprocess.run([exe, "--data-file", data, "--validate-version", "1.2.0.1", "--block-download",
                        "--applicability-criteria", CRITERIA, "--show-violations"],
                       capture_output=True, text=True, cwd=site_packages(venv))
    out = p.stdout + p.stderr
    total = next((line for line in out.splitlines() if line.startswith("Total:")), "(no summary)")
    composite = {rule: bool(re.search(rf"{rule}: .*AND passed", out)) for rule in ("CostAndUsage-D-001-M",
                                                                                     "CostAndUsage-D-002-M")}
    fails = [line.strip() for line in out.splitlines() if "FAIL" in line and line.lstrip().startswith("❌")]
    report = [f"  {os.path.basename(data)}: {total}"]
    report += [f"    {rule}: {'passed' if ok else 'FAILED'}" for rule, ok in composite.items()]
    report += [f"    leaf: {f[:160]}" for f in fails]
    return all(composite.values()), "\n".join(report)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=os.path.join(ROOT, ".focus-venv"))
    ap.add_argument("--python", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the demo store and exports")
    args = ap.parse_args()
    exe = ensure_venv(args.venv, find_python(args.python))
    work = tempfile.mkdtemp(prefix="spendwatch-focus-")
    try:
        sw = [sys.executable, "-m", "spendwatch"]
        subprocess.run(sw + ["demo", "--dir", os.path.join(work, "demo")], check=True, capture_output=True, cwd=ROOT)
        cfg = os.path.join(work, "demo", "spendwatch.toml")
        ok = True
        print(f"focus-validator 2.2.1, FOCUS 1.2 (model 1.2.0.1), criteria {CRITERIA}")
        for name in ("focus.parquet", "focus.csv"):
            out = os.path.join(work, name)
            subprocess.run(sw + ["--config", cfg, "export", "--format", "focus", "--out", out], check=True,
                           capture_output=True, cwd=ROOT)
            passed, report = validate(exe, args.venv, out)
            print(report)
            ok = ok and passed
        print(f"verdict: {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
