"""What every sink shares: delivery options, the one retry loop and the fan-out to sinks.

Alerts (`spendwatch.alerts`) and the daily digest (`spendwatch.digest`) both deliver through `fan_out`: every
sink in its own thread (a sink that hangs until its timeout delays no other), each attempt wrapped in
`with_retries`, every failure captured as a `SinkError` value so one sink's bug never stops the others.

Retries live here, not in each sink, so Slack, email and webhook back off the same way: a
RetryableSinkError (timeout, connection refused, 5xx, SMTP 4xx) is tried again `retries` times with
exponential backoff from `retry_wait`; a PermanentSinkError (bad token, 4xx, authentication refused) stops
at once, because repeating it cannot help. Slack's own 429 handling (Retry-After) runs inside slack-sdk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import tenacity

from .errors import PermanentSinkError, RetryableSinkError, SecretMissing, SinkError
from .redact import redact

if TYPE_CHECKING:
    from .config_schema import SinkConfig
    from .contracts import Plugins, Sink

T = TypeVar("T")
log = logging.getLogger("spendwatch.sinks")


@dataclass(frozen=True, kw_only=True)
class DeliveryOptions:
    """Keys every sink type accepts (besides name, type, min_severity)."""

    send_resolved: bool = False             # also announce when an alert stops firing
    max_alerts: int = 10                    # alerts shown per grouped message; the rest as "and N more"
    digest: bool = True                     # receive the daily digest
    timeout: timedelta = timedelta(seconds=10)    # per request
    retries: int = 2                        # extra attempts on retryable errors within one run
    retry_wait: timedelta = timedelta(seconds=2)  # first backoff; doubles each retry

    def __post_init__(self) -> None:
        if self.max_alerts < 1:
            raise ValueError("max_alerts must be at least 1")
        if self.retries < 0:
            raise ValueError("retries must be 0 or more")


def option(options: object, name: str) -> object:
    """A delivery option, with the defaults for third-party sinks whose Options do not extend ours."""
    return getattr(options, name, getattr(_DEFAULTS, name))


def with_retries(sink: str, options: object, fn: Callable[[], T]) -> T:
    """Call fn; retry retryable sink errors with exponential backoff (tenacity); anything unexpected becomes
    a RetryableSinkError whose text is redacted (a foreign exception may quote a URL with a token in it) and
    is not retried in this run (a bug does not get better by repeating it at once)."""
    retries = int(option(options, "retries"))  # type: ignore[call-overload]
    first_wait = option(options, "retry_wait").total_seconds()  # type: ignore[attr-defined]

    def once() -> T:
        try:
            return fn()
        except SecretMissing as exc:  # the sink's secret is not where config says: a human must fix it
            raise PermanentSinkError(sink, str(exc)) from None
        except SinkError:
            raise
        except Exception as exc:  # a bug or an unforeseen library error: report it, keep the alert queued
            raise _Unexpected(sink, f"unexpected {type(exc).__name__}: {redact(str(exc))[:200]}") from None

    def log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("sink=%s attempt=%d error=%s retry_in=%.1fs", sink, state.attempt_number, redact(str(exc)), wait)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retries + 1),
        wait=tenacity.wait_exponential(multiplier=first_wait, exp_base=2, min=0, max=float("inf")),
        retry=tenacity.retry_if_exception(_worth_retrying),
        before_sleep=log_retry, sleep=time.sleep, reraise=True)
    return retrying(once)


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, RetryableSinkError) and not isinstance(exc, _Unexpected)


class _Unexpected(RetryableSinkError):
    """An exception no sink should raise: reported as retryable (the alert stays queued), not retried now."""


_DEFAULTS = DeliveryOptions()


def fan_out(plugins: Plugins, jobs: list[tuple[SinkConfig, Callable[[Sink], None]]],
            thread_prefix: str = "sink") -> list[SinkError | None]:
    """Run each (sink config, call) in its own thread: build the sink from its registered type, call with
    retries. Returns, per job in order, None when the sink accepted, else the error (never raises)."""
    def one(job: tuple[SinkConfig, Callable[[Sink], None]]) -> SinkError | None:
        sc, call = job
        try:
            sink = plugins.sinks.get(sc.type)(sc)  # type: ignore[call-arg]  # Protocols declare no __init__
            with_retries(sc.name, sc.options, lambda: call(sink))
            return None
        except SinkError as exc:
            return exc
        except Exception as exc:  # never let one sink's bug stop the others; keep its alerts queued
            log.exception("sink=%s crashed", sc.name)
            return RetryableSinkError(sc.name, f"unexpected {type(exc).__name__}: {redact(str(exc))[:200]}")

    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix=thread_prefix) as pool:
        return list(pool.map(one, jobs))
