"""Webhook sink: a JSON POST of the grouped alerts, for PagerDuty/Teams bridges or anything else.

Config: `url_env`/`url_file` (the URL is treated as a secret: many webhook URLs embed a token),
`secret_env`/`secret_file` (optional HMAC key), `headers` (static, non-secret extra headers), plus the
common delivery keys.

Signature: when a secret is configured, the request carries

    X-Spendwatch-Signature: sha256=<hex HMAC-SHA256 of the raw request body, keyed with the secret>

Verify it on the raw bytes before parsing the JSON:
`hmac.compare_digest(header, "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest())`.
The body carries `sent_at`, so a receiver can refuse stale replays; `X-Spendwatch-Delivery` is a stable id
of the grouped notices (the same alerts at the same levels give the same id), so a receiver can drop the
resend that a crash between "sent" and "recorded" can cause.

Acceptance (docs/sinks-delivery.md): a 2xx status, and nothing else. Redirects are not followed (a 3xx is
a failed delivery, retryable: a receiver behind a portal or being moved); the body of a 2xx is not read.

Errors: timeouts, connection failures, redirects, 429 and 5xx are retryable; other 4xx are permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spendwatch.contracts import SinkBase
from spendwatch.delivery import DeliveryOptions
from spendwatch.errors import PermanentSinkError, RetryableSinkError
from spendwatch.findings import Finding, iso
from spendwatch.notice import Notice, summary
from spendwatch.values import Secret

from . import SINKS

SIGNATURE_HEADER = "X-Spendwatch-Signature"
DELIVERY_HEADER = "X-Spendwatch-Delivery"
PAYLOAD_VERSION = 1


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """The receiver's side of the recipe (documented in the README)."""
    return hmac.compare_digest(header.encode(), sign(secret, body).encode())


@SINKS.register("webhook")
class WebhookSink(SinkBase):
    @dataclass(frozen=True, kw_only=True)
    class Options(DeliveryOptions):
        url: Secret                               # url_env / url_file
        secret: Secret | None = None           # secret_env / secret_file: HMAC-SHA256 key
        headers: dict[str, Any] = field(default_factory=dict)  # extra static headers (no secrets here)
        max_alerts: int = 100

    supports_digest = True

    def __init__(self, config: Any) -> None:
        self.name = config.name
        self.options: WebhookSink.Options = config.options

    def payload(self, items: Sequence[Finding | Notice]) -> dict[str, Any]:
        notes = [Notice.of(x) for x in items]
        cap = self.options.max_alerts
        return {"version": PAYLOAD_VERSION, "kind": "alerts", "sink": self.name, "sent_at": _now(),
                "summary": summary(notes), "alerts": [n.to_json() for n in notes[:cap]],
                "truncated": max(0, len(notes) - cap)}

    def send(self, items: Sequence[Finding | Notice]) -> None:
        notes = [Notice.of(x) for x in items]
        ident = "|".join(sorted(f"{n.key}:{n.status}:{n.step}:{n.severity}" for n in notes))
        self.post(self.payload(notes), delivery_id=hashlib.sha256(ident.encode()).hexdigest()[:32])

    def send_digest(self, digest: Any) -> None:
        body = dict(digest.to_json(), version=PAYLOAD_VERSION, kind="digest", sink=self.name, sent_at=_now())
        self.post(body, delivery_id=hashlib.sha256(f"digest:{digest.day}".encode()).hexdigest()[:32])

    def post(self, payload: dict[str, Any], delivery_id: str) -> None:
        import httpx

        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {str(k): str(v) for k, v in self.options.headers.items()}
        headers.update({"Content-Type": "application/json", "User-Agent": "spendwatch", DELIVERY_HEADER: delivery_id})
        if self.options.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.options.secret.get().encode(), body)
        url = self.options.url.get()
        try:
            with httpx.Client(timeout=self.options.timeout.total_seconds(), follow_redirects=False) as client:
                resp = client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise RetryableSinkError(self.name, "webhook timed out") from None
        except httpx.HTTPError as exc:
            raise RetryableSinkError(self.name, f"webhook unreachable ({type(exc).__name__})") from None
        if 200 <= resp.status_code < 300:
            return
        detail = resp.reason_phrase  # not the body: a receiver may echo what we sent, URL token included
        if 300 <= resp.status_code < 400:  # never followed: the Location is not where the config said to post
            raise RetryableSinkError(self.name, f"webhook answered a redirect (HTTP {resp.status_code}), not followed")
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise RetryableSinkError(self.name, f"webhook answered HTTP {resp.status_code} {detail}".rstrip())
        raise PermanentSinkError(self.name, f"webhook refused: HTTP {resp.status_code} {detail}".rstrip())


def _now() -> str | None:
    return iso(datetime.now(UTC).replace(microsecond=0))
