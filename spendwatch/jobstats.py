"""What the daemon learns from its jobs' results, kept in `DaemonState` (shown by /metrics and STATUS=).

Why apart from the daemon: the daemon decides when jobs run and what a failure costs (backoff); this
class only counts. Every update takes `state.lock`, because job threads report while the metrics server
renders the same state.
"""

from __future__ import annotations

from typing import Any

from .jobproto import JobResult
from .metrics import DaemonState


class JobStats:
    """Folds job results into a DaemonState: runs per outcome, per-source health, alerts, sink hand-overs."""

    def __init__(self, state: DaemonState) -> None:
        self.state = state

    def source_scheduled(self, name: str) -> None:
        """A configured source shows in /metrics (at 0) before its first run."""
        with self.state.lock:
            self.state.source(name)

    def job_done(self, job: str, result: JobResult) -> None:
        """Count a digest or housekeeping run by outcome."""
        with self.state.lock:
            self._count_run(job, result.outcome)

    def collect_done(self, name: str, started: float, result: JobResult) -> int:
        """Record a collect of source `name` started at `started` (epoch seconds); returns the source's
        failures in a row after it (what its backoff is computed from)."""
        outcome = result.outcome
        with self.state.lock:
            st = self.state.source(name)
            st.last_outcome = outcome
            self._count_run("collect", outcome)
            if outcome == "ok":
                st.last_success = started
                st.consecutive_failures = 0
                st.last_error = None
                st.rows_written += int(result.rows or 0)
                self._count_findings(result)
            elif outcome in ("failed", "timeout"):  # a busy store or a shutdown is not the source's failure
                st.consecutive_failures += 1
                st.last_error = result.error
            return st.consecutive_failures

    def absorb_facts(self, facts: dict[str, Any] | None) -> None:
        """The latest store facts a job read; a source's last success from the store fills in until this
        daemon has seen one itself (so a restart does not show "never")."""
        if not facts:
            return
        with self.state.lock:
            self.state.facts = facts
            for name, f in (facts.get("sources") or {}).items():
                st = self.state.sources.get(name)
                if st is not None and st.last_success is None and f.get("last_success"):
                    st.last_success = f["last_success"]

    def summary(self, enabled: list[str]) -> str:
        """"2/3 sources ok (failing: b)": the head of STATUS=."""
        with self.state.lock:
            states = [self.state.sources[n] for n in enabled if n in self.state.sources]
            failing = sorted(s.name for s in states if s.consecutive_failures)
        summary = f"{len(states) - len(failing)}/{len(states)} sources ok"
        if failing:
            summary += f" (failing: {', '.join(failing)})"
        return summary

    def _count_run(self, job: str, outcome: str) -> None:
        runs = self.state.job_runs
        runs[(job, outcome)] = runs.get((job, outcome), 0) + 1

    def _count_findings(self, result: JobResult) -> None:
        """Count distinct alerts (key, escalation step) and sink hand-overs; caller holds state.lock."""
        st = self.state
        for f in result.findings or []:
            if st.seen_alerts.get(f.key, -1) < f.step:
                st.seen_alerts[f.key] = f.step
                k = (f.detector, f.severity)
                st.raised[k] = st.raised.get(k, 0) + 1
        for sink, tally in (result.sinks or {}).items():
            if not tally.failed:
                st.offered[sink] = st.offered.get(sink, 0) + tally.offered
