"""Email sink (standard library smtplib): one multipart text + HTML message per delivery run.

Config (docs/design.md): `host`, `port`, `security` = starttls | ssl | none, `username_env`, `password_env`
(or `_file`), `from`, `to`. Extra: `ca_file` trusts a private CA (an internal relay, or the tests'
self-signed certificate) in addition to nothing else: when set, only that CA is trusted.

The subject says what and how much: "[spendwatch] critical: OpenAI budget 'prod' at 104% ($5,210 of
$5,000)", plus "(+N more)" when the message groups several alerts. The digest's chart travels inline
(multipart/related, referenced by Content-ID from the HTML part).

Acceptance (docs/sinks-delivery.md): a message is delivered only when the server accepted every recipient
(250/251 to each RCPT) and then answered 250 to the end of DATA. If any recipient is refused, DATA is never
sent (RSET, then QUIT): nobody gets the message, it stays queued, and the next run sends it to everyone once.
smtplib would send it to the recipients it accepted and report the others in a dict that was ignored, so an
alert counted as delivered that some recipients never got, and a resend would duplicate it for the others.

Errors: connection refused, timeouts, disconnects (also after DATA, before the final reply) and SMTP 4xx
replies are retryable; 5xx replies, recipients all refused with 5xx, authentication failures, a server
without STARTTLS/AUTH, and certificate problems are permanent.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from spendwatch.contracts import SinkBase
from spendwatch.delivery import DeliveryOptions
from spendwatch.errors import PermanentSinkError, RetryableSinkError
from spendwatch.findings import Finding
from spendwatch.notice import Notice, driver_lines, figures, headline, period_text, render_text, subject, summary
from spendwatch.redact import redact
from spendwatch.values import Secret

from . import SINKS

if TYPE_CHECKING:  # smtplib, ssl and email are imported when sending: config validation imports every sink
    import ssl
    from email.message import EmailMessage

SEVERITY_COLOUR = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


@SINKS.register("email")
class EmailSink(SinkBase):
    @dataclass(frozen=True, kw_only=True)
    class Options(DeliveryOptions):
        host: str
        from_: str                               # TOML key `from`
        to: list[str]
        port: int = 587
        security: Literal["starttls", "ssl", "none"] = "starttls"
        username: Secret | None = None        # username_env / username_file
        password: Secret | None = None        # password_env / password_file
        ca_file: str | None = None            # trust only this CA bundle (private relays, tests)

        def __post_init__(self) -> None:
            super().__post_init__()
            if not self.to:
                raise ValueError("to: at least one recipient")
            if (self.username is None) != (self.password is None):
                raise ValueError("give both username_env and password_env (or neither, for a relay without login)")

    supports_digest = True

    def __init__(self, config: Any) -> None:
        self.name = config.name
        self.options: EmailSink.Options = config.options

    # ------------------------------------------------------------------------------------------ messages
    def build(self, items: Sequence[Finding | Notice]) -> EmailMessage:
        notes = [Notice.of(x) for x in items]
        msg = self._envelope(subject(notes))
        cap = self.options.max_alerts
        msg.set_content(f"spendwatch: {summary(notes)}\n\n{render_text(notes, cap=cap)}\n")
        msg.add_alternative(alerts_html(notes, cap), subtype="html")
        return msg

    def build_digest(self, digest: Any) -> EmailMessage:
        from email.message import EmailMessage
        from email.utils import make_msgid

        msg = self._envelope(f"[spendwatch] {digest.title}")
        msg.set_content(digest.text + "\n")
        cid = make_msgid(idstring="chart", domain="spendwatch.local")
        msg.add_alternative(digest_html(digest, cid[1:-1] if digest.chart_png else None), subtype="html")
        if digest.chart_png:
            html_part = msg.get_body(("html",))
            assert isinstance(html_part, EmailMessage)
            html_part.add_related(digest.chart_png, maintype="image", subtype="png", cid=cid,
                                             filename=digest.chart_filename, disposition="inline")
        return msg

    def _envelope(self, subj: str) -> EmailMessage:
        from email import policy as email_policy
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid

        o = self.options
        # Python folds a long subject by moving all of it to a continuation line, which some clients show
        # with a leading space; 200 stays far below RFC 5322's 998-character limit.
        msg = EmailMessage(policy=email_policy.default.clone(max_line_length=200))
        msg["Subject"] = subj
        msg["From"] = o.from_
        msg["To"] = ", ".join(o.to)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(domain=o.from_.rpartition("@")[2] or "spendwatch.local")
        return msg

    def send(self, items: Sequence[Finding | Notice]) -> None:
        self.deliver(self.build(items))

    def send_digest(self, digest: Any) -> None:
        self.deliver(self.build_digest(digest))

    # ------------------------------------------------------------------------------------------ transport
    def _tls(self) -> ssl.SSLContext:
        import ssl

        return ssl.create_default_context(cafile=self.options.ca_file) if self.options.ca_file \
            else ssl.create_default_context()

    def deliver(self, msg: EmailMessage) -> None:
        import smtplib
        import ssl

        o = self.options
        where = f"SMTP {o.host}:{o.port}"
        user = o.username.get() if o.username else None
        password = o.password.get() if o.password else None
        timeout = o.timeout.total_seconds()
        try:
            if o.security == "ssl":
                smtp: smtplib.SMTP = _smtp_class(True)(o.host, o.port, timeout=timeout, context=self._tls())
            else:
                smtp = _smtp_class(False)(o.host, o.port, timeout=timeout)
            try:
                smtp.ehlo()
                if o.security == "starttls":
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if user is not None and password is not None:
                    smtp.login(user, password)
                smtp.send_message(msg, from_addr=o.from_, to_addrs=list(o.to))
            finally:
                try:
                    smtp.quit()
                except Exception:
                    smtp.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentSinkError(self.name, f"{where} refused the login ({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentSinkError(self.name, f"{where}: {_first_line(exc)} (check security/port)") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            cls = PermanentSinkError if all(c >= 500 for c in codes) else RetryableSinkError
            raise cls(self.name, f"{where} refused {len(exc.recipients)} of {len(o.to)} recipients "
                                 f"({', '.join(map(str, codes))}); nothing sent") from None
        except smtplib.SMTPResponseException as exc:
            cls = PermanentSinkError if exc.smtp_code >= 500 else RetryableSinkError
            raise cls(self.name, f"{where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentSinkError(self.name, f"{where}: TLS certificate not trusted ({exc.verify_message}); "
                                                "set ca_file for a private CA") from None
        except ssl.SSLError as exc:
            raise PermanentSinkError(self.name, f"{where}: TLS failed ({exc.reason}); check security/port") from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            if "timed out" in str(exc):  # smtplib reports a reply that never came as a disconnect
                raise RetryableSinkError(self.name, f"{where} timed out waiting for the server's reply") from None
            raise RetryableSinkError(self.name, f"{where} dropped the connection ({_first_line(exc)})") from None
        except TimeoutError:
            raise RetryableSinkError(self.name, f"{where} timed out") from None
        except OSError as exc:
            raise RetryableSinkError(self.name, f"{where} unreachable ({exc.strerror or type(exc).__name__})") from None


class _AllRecipients:
    """Mixed into smtplib.SMTP / SMTP_SSL: all recipients or none. Once any RCPT of the transaction was
    refused, DATA is not sent (smtplib's sendmail would send it to the accepted ones and only return the
    refused in a dict); SMTPRecipientsRefused is raised instead, after an RSET."""

    _refused: dict[str, tuple[int, bytes]]

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        self._refused = {}  # a new transaction
        return super().mail(sender, options)  # type: ignore[misc]

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        code, resp = super().rcpt(recip, options)  # type: ignore[misc]
        if code not in (250, 251):
            self._refused[recip] = (code, resp)
        return code, resp

    def data(self, msg: Any) -> tuple[int, bytes]:
        import smtplib

        if self._refused:
            try:
                self.rset()  # type: ignore[attr-defined]
            except (smtplib.SMTPException, OSError):
                pass
            raise smtplib.SMTPRecipientsRefused(dict(self._refused))
        return super().data(msg)  # type: ignore[misc]


@functools.cache
def _smtp_class(implicit_tls: bool) -> type:
    """smtplib is imported when sending (config validation imports every sink), so the classes are made here."""
    import smtplib

    base = smtplib.SMTP_SSL if implicit_tls else smtplib.SMTP
    return type(f"AllRecipients{base.__name__}", (_AllRecipients, base), {})


def _text(raw: Any) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return redact(text.splitlines()[0] if text else "")[:120]


def _first_line(exc: Exception) -> str:
    return _text(str(exc)) or type(exc).__name__


# ------------------------------------------------------------------------------------------------ HTML

_STYLE = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#222"


def alerts_html(notes: Sequence[Notice], cap: int) -> str:
    e = html.escape
    parts = [f'<div style="{_STYLE}"><h2 style="margin:0 0 12px">spendwatch: {e(summary(notes))}</h2>']
    for n in notes[:cap]:
        colour = "#2e7d32" if n.status == "resolved" else SEVERITY_COLOUR.get(n.severity, "#444")
        label = "RESOLVED" if n.status == "resolved" else n.severity.upper() + (" · escalated" if n.escalated else "")
        parts.append(f'<div style="border-left:4px solid {colour};padding:4px 12px;margin:0 0 16px">'
                     f'<div style="color:{colour};font-weight:bold">{e(label)}</div>'
                     f'<div style="font-size:16px;font-weight:bold">{e(headline(n))}</div>'
                     f'<p style="margin:6px 0">{e(n.message)}</p>')
        rows = figures(n) + ([("Period", period_text(n))] if period_text(n) else [])
        if rows:
            parts.append('<table style="border-collapse:collapse">' + "".join(
                f'<tr><td style="padding:2px 12px 2px 0;color:#666">{e(k)}</td><td>{e(v)}</td></tr>' for k, v in rows)
                + "</table>")
        drivers = driver_lines(n)
        if drivers:
            parts.append("<div style=\"margin-top:6px;color:#444\">Drivers:<ul style=\"margin:2px 0\">"
                         + "".join(f"<li>{e(d)}</li>" for d in drivers) + "</ul></div>")
        if n.actions:
            parts.append("<div style=\"margin-top:6px;color:#444\">Actions:<ul style=\"margin:2px 0\">"
                         + "".join(f"<li>{e(a)}</li>" for a in n.actions) + "</ul></div>")
        parts.append("</div>")
    if len(notes) > cap:
        parts.append(f"<p>and {len(notes) - cap} more</p>")
    parts.append("</div>")
    return "\n".join(parts)


def digest_html(digest: Any, cid: str | None) -> str:
    e = html.escape
    parts = [f'<div style="{_STYLE}"><h2 style="margin:0 0 12px">{e(digest.title)}</h2>']
    if cid:
        parts.append(f'<img src="cid:{e(cid)}" alt="{e(digest.chart_title)}" width="800" '
                     'style="max-width:100%;height:auto;display:block;margin:0 0 16px">')
    for title, lines in digest.sections():
        parts.append(f'<h3 style="margin:12px 0 4px">{e(title)}</h3>')
        parts.append("<ul style=\"margin:0\">" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>"
                     if lines else "<p style=\"margin:0;color:#666\">none</p>")
    parts.append("</div>")
    return "\n".join(parts)
