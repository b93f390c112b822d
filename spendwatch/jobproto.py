"""The worker protocol: one `JobRequest` the daemon writes to a worker's stdin, one `JobResult` the worker
writes to its result file (`python -m spendwatch.jobs`; why a process per job: see spendwatch/jobs.py).

Why typed: both ends used to build and read untyped dicts, so a key renamed on one side failed silently
(`.get()` returned None). Both ends now go through these two classes; the JSON on the wire is the same
objects as before, so a request written by hand (tests do) still works:

    request  {"job": "check|collect|digest|housekeeping|mark_failed", "source": ..., "config_text": ...,
              "config_path": ..., "store_path": ..., "log_level": ..., "result_path": ..., "parent_pid": ...,
              "error": ... (mark_failed only)}
    result   {"ok": ..., and what the job has to say: "rows", "windows", "error", "store_busy", "fatal",
              "findings", "sinks", "problems", "detect_error", "sent", "requests_rolled", "facts"}

A result leaves out what a job has nothing to say about (None, and the flags when false), so a reader
treats a missing key as None/false. Assumption: daemon and worker are the same installed version (the
daemon starts `sys.executable -m spendwatch.jobs`), so there is no protocol versioning.

This module is kernel: it imports nothing of spendwatch, so the daemon can load it without the store.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Stopped = Literal["timeout", "abandoned"]


@dataclass(frozen=True)
class JobRequest:
    """What a worker is asked to do, with everything it needs to do it on its own.

    The config travels as text so that a worker always runs with the config the daemon accepted, even if
    the file on disk has since been edited into something invalid."""

    job: str  # a key of spendwatch.jobs.JOBS
    source: str | None
    config_text: str
    config_path: str
    store_path: str | None  # `spendwatch run --store` override, None: [store] path
    log_level: str
    result_path: str = ""  # filled in by the supervisor (its temporary directory)
    parent_pid: int | None = None  # the daemon; the worker exits when it is gone. None: the worker's parent
    error: str | None = None  # mark_failed: the failure to record

    @property
    def label(self) -> str:
        """How logs and STATUS= name the job: "digest", "collect:openai"."""
        return f"{self.job}:{self.source}" if self.source else self.job

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        if self.error is None:
            del data["error"]  # only mark_failed carries one
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> JobRequest:
        data = json.loads(text)
        return cls(job=data["job"], source=data.get("source"), config_text=data["config_text"],
                   config_path=data["config_path"], store_path=data.get("store_path"),
                   log_level=data.get("log_level") or "info", result_path=data["result_path"],
                   parent_pid=int(data["parent_pid"]) if data.get("parent_pid") else None,
                   error=data.get("error"))


@dataclass(frozen=True)
class FindingSeen:
    """One finding a collect's detector pass produced, as much as the daemon's alert counters need."""

    key: str
    step: int  # escalation step: the same key at a higher step is a new alert
    detector: str
    severity: str


@dataclass(frozen=True)
class SinkTally:
    """Findings offered to one sink in a detector pass; `failed` is 1 when it had some and refused them."""

    offered: int
    failed: int


@dataclass(frozen=True)
class JobResult:
    """What a job did. A failure is a value: the daemon never parses an exception or a log line.

    `store_busy` says the store's lock was the problem (a user's long read-only session), not the source or
    the job: the daemon skips the run without counting a failure. `stopped` is set only by the supervisor,
    for a worker it had to kill."""

    ok: bool
    error: str | None = None
    store_busy: bool = False
    fatal: bool = False  # check: the store cannot be used at all (the daemon does not start)
    rows: int | None = None  # collect: rows written
    windows: int | None = None  # collect: windows replaced
    findings: list[FindingSeen] | None = None  # collect, after a success
    sinks: dict[str, SinkTally] | None = None  # collect, after a success
    problems: list[str] | None = None  # collect: delivery problems; digest: sinks that failed
    detect_error: str | None = None  # collect: the detectors could not read the store
    sent: list[str] | None = None  # digest: sinks that accepted it
    requests_rolled: int | None = None  # housekeeping with [store] keep_requests: request rows rolled up
    facts: dict[str, Any] | None = None  # check, collect: spendwatch.jobs.read_facts() for /metrics
    stopped: Stopped | None = field(default=None)  # set by the supervisor, never on the wire

    @property
    def outcome(self) -> str:
        """ok | store_busy | failed | timeout | abandoned: the label in logs, STATUS= and job_runs_total."""
        return self.stopped or ("ok" if self.ok else "store_busy" if self.store_busy else "failed")

    @classmethod
    def failure(cls, error: str) -> JobResult:
        return cls(ok=False, error=error)

    @classmethod
    def busy(cls, error: str) -> JobResult:
        return cls(ok=False, store_busy=True, error=error)

    def to_dict(self) -> dict[str, Any]:
        """The wire object (what `to_json` writes): fields with nothing to say are left out."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or (value is False and f.default is False):
                continue  # nothing to say: the reader's default
            if f.name == "findings":
                value = [dataclasses.asdict(x) for x in value]
            elif f.name == "sinks":
                value = {name: dataclasses.asdict(t) for name, t in value.items()}
            data[f.name] = value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)

    @classmethod
    def from_json(cls, text: str) -> JobResult:
        data = json.loads(text)
        findings = data.get("findings")
        sinks = data.get("sinks")
        return cls(ok=bool(data.get("ok")), error=data.get("error"), store_busy=bool(data.get("store_busy")),
                   fatal=bool(data.get("fatal")), rows=data.get("rows"), windows=data.get("windows"),
                   findings=None if findings is None else [FindingSeen(**f) for f in findings],
                   sinks=None if sinks is None else {name: SinkTally(offered=int(t.get("offered", 0)),
                                                                     failed=int(t.get("failed", 0)))
                                                     for name, t in sinks.items()},
                   problems=data.get("problems"), detect_error=data.get("detect_error"), sent=data.get("sent"),
                   requests_rolled=data.get("requests_rolled"), facts=data.get("facts"), stopped=data.get("stopped"))
