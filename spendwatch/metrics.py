"""Prometheus metrics for the daemon (`[daemon] metrics_listen = "127.0.0.1:9464"`).

Why a custom collector instead of module-level Gauge objects: the values are the daemon's own state (one
lock, one source of truth, also used for STATUS=) plus the latest facts a job read from the store, so
the collector renders that state at scrape time and nothing can drift between the two.

Money note: the Prometheus exposition format carries only floats, so `spendwatch_spend_month_to_date_usd`
is a float rendering of the exact Decimal sum; use `spendwatch sql` for exact figures.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import values
from .errors import ConfigError


@dataclass
class SourceState:
    """What the daemon knows about one source (its own runs, not only the store's view)."""

    name: str
    last_success: float | None = None  # epoch seconds
    consecutive_failures: int = 0
    rows_written: int = 0
    last_error: str | None = None
    last_outcome: str | None = None


@dataclass
class DaemonState:
    sources: dict[str, SourceState] = field(default_factory=dict)
    job_runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (job, outcome) → count
    raised: dict[tuple[str, str], int] = field(default_factory=dict)  # (detector, severity) → distinct alerts
    seen_alerts: dict[str, int] = field(default_factory=dict)  # finding key → highest step seen
    offered: dict[str, int] = field(default_factory=dict)  # sink → findings handed over successfully
    facts: dict[str, Any] | None = None  # latest read_facts() from a job
    lock: threading.Lock = field(default_factory=threading.Lock)

    def source(self, name: str) -> SourceState:
        if name not in self.sources:
            self.sources[name] = SourceState(name)
        return self.sources[name]


def parse_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:9464', '[::1]:9464' or ':9464' (all interfaces) → (host, port)."""
    try:
        return values.parse_listen(value)
    except ValueError as exc:
        raise ConfigError([f"daemon.metrics_listen: {exc}"]) from None


class StateCollector:
    """prometheus_client custom collector over DaemonState."""

    def __init__(self, state: DaemonState, configured: list[str]) -> None:
        self.state = state
        self.configured = configured

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self.state
        with st.lock:
            facts = st.facts or {}
            sources = {n: st.source(n) for n in self.configured} | dict(st.sources)
            last = GaugeMetricFamily("spendwatch_source_last_success_timestamp_seconds",
                                     "Unix time of the last successful collect of the source (0: never).",
                                     labels=["source"])
            fails = GaugeMetricFamily("spendwatch_source_consecutive_failures",
                                      "Failed collects in a row (0 after a success).", labels=["source"])
            written = CounterMetricFamily("spendwatch_source_rows_written",
                                          "Rows written by this daemon's collects of the source.", labels=["source"])
            stored = GaugeMetricFamily("spendwatch_source_rows_stored", "Rows of the source in the store.",
                                       labels=["source"])
            through = GaugeMetricFamily("spendwatch_source_complete_through_timestamp_seconds",
                                        "Data of the source is complete up to this Unix time.", labels=["source"])
            fact_sources = facts.get("sources", {})
            for name in sorted(sources):
                s = sources[name]
                fs = fact_sources.get(name, {})
                last.add_metric([name], s.last_success or fs.get("last_success") or 0)
                fails.add_metric([name], s.consecutive_failures)
                written.add_metric([name], s.rows_written)
                if "rows" in fs:
                    stored.add_metric([name], fs["rows"])
                if fs.get("complete_through"):
                    through.add_metric([name], fs["complete_through"])
            yield from (last, fails, written, stored, through)

            runs = CounterMetricFamily("spendwatch_job_runs", "Daemon job runs by job and outcome.",
                                       labels=["job", "outcome"])
            for (job, outcome), n in sorted(st.job_runs.items()):
                runs.add_metric([job, outcome], n)
            yield runs

            raised = CounterMetricFamily("spendwatch_alerts_raised",
                                         "Distinct alerts (identity and escalation step) raised by detectors "
                                         "since the daemon started.", labels=["detector", "severity"])
            for (det, sev), n in sorted(st.raised.items()):
                raised.add_metric([det, sev], n)
            yield raised

            delivered = CounterMetricFamily("spendwatch_alerts_delivered",
                                            "Alerts delivered per sink (from the store's delivery log when the "
                                            "alert log is in use, else this daemon's hand-overs).", labels=["sink"])
            pending = GaugeMetricFamily("spendwatch_alerts_pending", "Alerts queued for a sink that is down.",
                                        labels=["sink"])
            deliveries = facts.get("deliveries") or {}
            for sink in sorted(set(deliveries) | set(st.offered)):
                if deliveries:
                    d = deliveries.get(sink, {})
                    delivered.add_metric([sink], d.get("delivered", 0))
                    pending.add_metric([sink], d.get("pending", 0))
                else:
                    delivered.add_metric([sink], st.offered.get(sink, 0))
            yield delivered
            yield pending

            spend = GaugeMetricFamily("spendwatch_spend_month_to_date_usd",
                                      "Spend this calendar month ([daemon] timezone) per provider, USD.",
                                      labels=["provider"])
            for provider, value in sorted((facts.get("spend_mtd") or {}).items()):
                spend.add_metric([provider], float(value))  # exposition format is float-only (see module doc)
            yield spend


def start_server(listen: str, state: DaemonState, configured: list[str]) -> Any:
    """Serve /metrics on `listen` in a background thread; returns the server (`.server_address`)."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, port = parse_listen(listen)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(state, configured))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
