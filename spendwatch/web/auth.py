"""Who may look: a bearer token or a login cookie when `[web] token_env` (or `token_file`) is set.

The token is compared in constant time. The cookie never holds the token itself but an HMAC of a fixed
label keyed by it, so a leaked cookie does not reveal the token, and changing the token (restart) signs
every session out. The cookie is HttpOnly and SameSite=Strict: another site cannot make a browser send it.

Assumption: without TLS in front, a token on a non-loopback address crosses the network in clear text;
docs/web.md says to put a TLS reverse proxy in front for anything beyond a trusted network.
"""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "spendwatch_session"
_LABEL = b"spendwatch-web-session-v1"


def session_value(token: str) -> str:
    return hmac.new(token.encode(), _LABEL, hashlib.sha256).hexdigest()


class TokenCheck:
    """Decides whether a request carries the token (header) or a session made from it (cookie)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._session = session_value(token) if token else None

    @property
    def required(self) -> bool:
        return self.token is not None

    def token_ok(self, presented: str) -> bool:
        return self.token is not None and hmac.compare_digest(presented.encode(), self.token.encode())

    def allows(self, authorization: str | None, cookie: str | None) -> bool:
        if self.token is None:
            return True
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and self.token_ok(value.strip()):
                return True
        return bool(cookie) and self._session is not None and hmac.compare_digest(
            (cookie or "").encode(), self._session.encode())

    @property
    def cookie_value(self) -> str:
        assert self._session is not None
        return self._session
