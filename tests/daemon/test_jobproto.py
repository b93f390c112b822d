"""The worker protocol's two types: the JSON they read and write is the wire format the daemon and
`python -m spendwatch.jobs` always spoke (tests/daemon/test_daemon_units.py writes requests by hand)."""

from __future__ import annotations

import json

from spendwatch.jobproto import FindingSeen, JobRequest, JobResult, SinkTally


def test_request_wire_format_and_defaults():
    req = JobRequest(job="collect", source="openai", config_text="[store]\n", config_path="/etc/sw.toml",
                     store_path=None, log_level="debug", result_path="/tmp/r.json", parent_pid=42)
    assert json.loads(req.to_json()) == {
        "job": "collect", "source": "openai", "config_text": "[store]\n", "config_path": "/etc/sw.toml",
        "store_path": None, "log_level": "debug", "result_path": "/tmp/r.json", "parent_pid": 42}
    assert req.label == "collect:openai"
    marked = JobRequest(job="mark_failed", source="a", config_text="", config_path="c", store_path="/s",
                        log_level="info", result_path="r", error="a ran longer")
    assert json.loads(marked.to_json())["error"] == "a ran longer"
    assert JobRequest.from_json(marked.to_json()) == marked
    # a hand-written request: no parent_pid, no error, no log level
    bare = JobRequest.from_json(json.dumps({"job": "check", "config_text": "x", "config_path": "c",
                                            "result_path": "r"}))
    assert (bare.source, bare.store_path, bare.log_level, bare.parent_pid, bare.error, bare.label) == (
        None, None, "info", None, None, "check")


def test_result_says_only_what_a_job_has_to_say():
    assert json.loads(JobResult(ok=True).to_json()) == {"ok": True}
    assert json.loads(JobResult.busy("s.duckdb: locked by pid 7").to_json()) == {
        "ok": False, "store_busy": True, "error": "s.duckdb: locked by pid 7"}
    assert json.loads(JobResult(ok=False, fatal=True, error="bad").to_json()) == {"ok": False, "fatal": True,
                                                                                  "error": "bad"}
    assert json.loads(JobResult(ok=True, sent=["console"], problems=[]).to_json()) == {
        "ok": True, "sent": ["console"], "problems": []}


def test_collect_result_round_trip():
    res = JobResult(ok=True, rows=12, windows=1, findings=[FindingSeen("k1", 2, "budget", "critical")],
                    sinks={"slack": SinkTally(offered=1, failed=0)}, problems=[], facts={"sources": {}})
    wire = json.loads(res.to_json())
    assert wire == {"ok": True, "rows": 12, "windows": 1,
                    "findings": [{"key": "k1", "step": 2, "detector": "budget", "severity": "critical"}],
                    "sinks": {"slack": {"offered": 1, "failed": 0}}, "problems": [], "facts": {"sources": {}}}
    assert JobResult.from_json(res.to_json()) == res


def test_outcome_names():
    assert JobResult(ok=True).outcome == "ok"
    assert JobResult.failure("x").outcome == "failed"
    assert JobResult.busy("x").outcome == "store_busy"
    assert JobResult(ok=False, stopped="timeout", error="x").outcome == "timeout"
    assert JobResult(ok=False, stopped="abandoned").outcome == "abandoned"
