"""deploy/spendwatch.service: the keys the daemon relies on, `systemd-analyze verify`, and the exposure score."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "spendwatch.service"


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def test_unit_declares_what_the_daemon_relies_on():
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"] and s["WatchdogSec"]
    assert s["KillMode"] == ["mixed"]  # SIGTERM to the daemon only, so a running job may finish
    assert s["DynamicUser"] == ["yes"] and s["StateDirectory"] == ["spendwatch"]
    assert s["ConfigurationDirectory"] == ["spendwatch"]
    assert s["ExecStart"][0].endswith(" run") and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "EnvironmentFile" in s
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"] and "@system-service" in s["SystemCallFilter"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]


def _installed_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's console script (verify checks it exists)."""
    exe = Path(sys.executable).parent / "spendwatch"
    if not exe.exists():
        pytest.skip(f"no console script at {exe} to point ExecStart at")
    text = UNIT.read_text().replace("/opt/spendwatch/bin/spendwatch", str(exe))
    copy = tmp_path / "spendwatch.service"
    copy.write_text(text)
    return copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify_passes(tmp_path):
    r = subprocess.run(["systemd-analyze", "verify", str(_installed_copy(tmp_path))], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "spendwatch.service" not in r.stderr, r.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_security_exposure_at_most_3(tmp_path):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(_installed_copy(tmp_path))],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for spendwatch\.service: (\d+\.\d+)", r.stdout + r.stderr)
    if m is None and "offline" in (r.stderr or ""):
        pytest.skip(f"this systemd-analyze cannot score a unit file offline: {r.stderr.strip()[:200]}")
    assert m, r.stdout[-500:] + r.stderr
    assert float(m.group(1)) <= 3.0
