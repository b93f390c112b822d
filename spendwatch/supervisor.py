"""Worker processes for the daemon's jobs: start one per job, wait with a deadline, stop it, read its result.

Why its own module: the daemon's scheduling (when a job runs, what its result means for backoff and
metrics) and the process handling (how a job runs and how it is stopped) change for different reasons.
`Supervisor.run` is the one seam between them: a `JobRequest` in, a `JobResult` out, never an exception
and never a wait past the deadline. Why processes at all: see spendwatch/jobs.py.

Stopping: a worker past its deadline (or past the shutdown deadline) gets SIGTERM, then SIGKILL after
KILL_GRACE seconds. Its open DuckDB transaction dies with it, leaving the store as before.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass

from .jobproto import JobRequest, JobResult, Stopped
from .sdnotify import child_environment

log = logging.getLogger("spendwatch.daemon")

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a worker being stopped
STUCK_AFTER = KILL_GRACE + 10  # seconds past its deadline a worker still running means stopping it failed
POLL = 0.2  # seconds between checks of a running worker against its deadlines


@dataclass
class Running:
    """A worker in flight, for the watchdog (is any job stuck?) and the shutdown log (what was running?)."""

    label: str
    proc: subprocess.Popen[bytes]
    deadline: float  # monotonic


class Supervisor:
    """Runs jobs in worker processes (`python -m spendwatch.jobs`), any number at once, one per calling thread.

    `stop_deadline` (monotonic, None while not stopping) is set by the daemon when it shuts down: workers
    still running then are abandoned (stopped, result `abandoned`) so that shutdown never waits on them."""

    def __init__(self) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="spendwatch-daemon-")  # result files, removed by close()
        self.child_env = child_environment()  # without NOTIFY_SOCKET: a worker must not talk to systemd
        self.running: dict[str, Running] = {}
        self.lock = threading.Lock()
        self.stop_deadline: float | None = None

    def close(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def labels(self) -> list[str]:
        """The jobs running now."""
        with self.lock:
            return [r.label for r in self.running.values()]

    def stuck(self, now: float) -> list[str]:
        """Jobs that overran their deadline by more than it takes to kill them: the job machinery itself is
        wedged (the watchdog ping is withheld so that systemd restarts the daemon)."""
        with self.lock:
            return [r.label for r in self.running.values() if now > r.deadline + STUCK_AFTER]

    def run(self, request: JobRequest, timeout: float) -> JobResult:
        """Run one job in a worker process; returns its result (stopped="timeout"|"abandoned" if it was killed).

        Never raises and never waits past `timeout` (or past the shutdown deadline). The request's
        result_path and parent_pid are filled in here."""
        label = request.label
        result_path = os.path.join(self.tmpdir, f"{label.replace(':', '-')}-{uuid.uuid4().hex}.json")
        request = dataclasses.replace(request, result_path=result_path, parent_pid=os.getpid())
        try:
            proc = subprocess.Popen([sys.executable, "-m", "spendwatch.jobs"], stdin=subprocess.PIPE,
                                    env=self.child_env, close_fds=True)
        except OSError as exc:
            return JobResult.failure(f"cannot start a worker: {exc}")
        key = uuid.uuid4().hex
        with self.lock:
            self.running[key] = Running(label, proc, time.monotonic() + timeout)
        try:
            try:
                assert proc.stdin is not None
                proc.stdin.write(request.to_json().encode())
                proc.stdin.close()
            except OSError:
                pass  # the worker died at once; its exit code tells
            stopped = self._wait(proc, label, time.monotonic() + timeout)
        finally:
            with self.lock:
                self.running.pop(key, None)
        if stopped == "timeout":
            return JobResult(ok=False, stopped="timeout",
                             error=f"{label} ran longer than [daemon] job_timeout ({timeout:g}s) and was stopped")
        if stopped == "abandoned":
            return JobResult(ok=False, stopped="abandoned", error="abandoned at shutdown")
        try:
            with open(result_path, encoding="utf-8") as fh:
                result = JobResult.from_json(fh.read())
            os.unlink(result_path)
            return result
        except (OSError, ValueError, TypeError):
            return JobResult.failure(f"worker for {label} exited with status {proc.returncode} and no result")

    def _wait(self, proc: subprocess.Popen[bytes], label: str, deadline: float) -> Stopped | None:
        """Wait for the worker to exit; stop it at `deadline` or at the shutdown deadline (returns why)."""
        while True:
            try:
                proc.wait(timeout=POLL)
                return None
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                stopped: Stopped | None = None
                if now > deadline:
                    stopped = "timeout"
                elif self.stop_deadline is not None and now > self.stop_deadline:
                    stopped = "abandoned"
                if stopped:
                    log.warning("event=job_stopping job=%s reason=%s", label, stopped)
                    kill(proc)
                    return stopped


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the worker is still there after KILL_GRACE seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
