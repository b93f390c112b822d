"""The guardrail engine: from findings to provider calls that stop spend, recorded before and after.

One run (`run_actions`, called by `detect.deliver` before the alerts go out, so that each notice can say
what was done):

1. *Settle* (writer open): enforce rows still `planned` whose owner process is gone (kill -9, a daemon job
   stopped by its timeout) or whose lease ran out are taken over by this run.
2. *Plan* (same transaction): every finding matching a rule's `when` yields targets: the key, team or
   project in the finding's scope, else the top spenders of that kind within the scope over the finding's
   period (drivers name keys masked, so they are resolved from the store). Protected targets are skipped;
   a target already acted on for this alert episode (or within `cooldown` by the same rule) is skipped;
   the rest get a row: `done` at once in dry-run (nothing is called), `planned` in enforce. Commit.
3. *Act* (no store held): per planned row, read the provider's state; if it already stops spend, `done`
   with a note and nothing changed; else write that state into the row (`before`, its own commit), make
   the change, record `done` (or `failed` with the redacted error after the HTTP layer's retries).

Crash between intent and result (docs/guardrails.md): a row without `before` never reached the provider's
write, so it is simply carried out; a row with `before` may or may not have: the provider is read again
and the change is made only if it is not in place. Every provider write sets a field to a value, so even
a lost answer followed by a retry changes nothing twice. Net effect: exactly one change, never none.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .actions_config import TARGET_COLUMN, TARGET_KIND, ActionRule
from .actuators import actuator
from .config import Config
from .errors import SecretMissing, SourceError, SpendwatchError
from .findings import Finding
from .http import HttpClient
from .redact import redact
from .sqlmatch import match_sql
from .store import Store
from .timeutil import utcnow
from .values import MATCH_COLUMNS, at_least
from .views import actions_sql

log = logging.getLogger("spendwatch.actions")

ATTEMPTS = 3                         # provider calls per step, with the HTTP layer's backoff between them
LEASE = timedelta(minutes=10)        # a planned row whose owner we cannot check is taken over after this
PAUSE_ENV = "SPENDWATCH_TEST_ACTION_PAUSE"   # tests only: "intent:FILE" or "applied:FILE" (see _pause)
PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter", "litellm": "LiteLLM"}
VERBS = {"disable_key": ("disabled", "disable", "re-enabled"), "block_team": ("blocked", "block", "unblocked"),
         "throttle_project": ("throttled", "throttle", "restored")}
NOUNS = {"disable_key": "key", "block_team": "team", "throttle_project": "project"}


@dataclass(frozen=True)
class ActionRow:
    id: int
    rule: str
    action: str
    alert_id: str
    episode: int
    provider: str
    target_kind: str
    target: str
    mode: str
    state: str
    before: dict[str, Any] | None = None
    note: str | None = None
    error: str | None = None

    @property
    def what(self) -> str:
        """'OpenRouter key f01d…' : the target in words."""
        return f"{PROVIDER_NAMES.get(self.provider, self.provider)} {NOUNS.get(self.action, 'target')} {self.target}"


_COLS = "id, rule, action, alert_id, episode, provider, target_kind, target, mode, state, before, note, error"


def _row(r: Any) -> ActionRow:
    return ActionRow(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], r[6], r[7], r[8], r[9],
                     before=json.loads(r[10]) if r[10] else None, note=r[11], error=r[12])


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------------------------------- the run


def run_actions(config: Config, findings: list[Finding], now: datetime) -> list[str]:
    """Settle interrupted actions, plan new ones, carry them out. Returns one line per failed action (the
    alert still goes out; the caller reports the lines)."""
    if not getattr(config, "actions", None):
        return []
    me = owner_id()
    wall = utcnow()
    with _writer(config) as store, store.transaction() as conn:
        todo = take_over(conn, me, wall)
        todo += plan(conn, config, findings, now, me, wall)
    _pause("intent")
    problems = []
    for row in todo:
        problem = execute(config, row)
        if problem:
            problems.append(problem)
    return problems


def _writer(config: Config) -> Any:
    return Store.open(config.store.path, read_only=False, lock_timeout=config.store.lock_timeout.total_seconds(),
                      allocation=config.allocation)


def take_over(conn: Any, me: str, wall: datetime) -> list[ActionRow]:
    """Enforce rows left `planned` by a process that is gone (or silent past the lease): ours now."""
    rows = conn.execute(f"SELECT {_COLS}, owner, requested_at FROM actions_log WHERE state = 'planned' "
                        "AND mode = 'enforce' ORDER BY id").fetchall()
    out = []
    for r in rows:
        owner, requested = r[13], r[14]
        if owner == me or not (_owner_gone(owner) or requested < wall - LEASE):
            continue
        conn.execute("UPDATE actions_log SET owner = ?, attempts = attempts + 1 WHERE id = ?", [me, r[0]])
        log.warning("action=%d settling after an interrupted run (owner %s)", r[0], owner)
        out.append(_row(r))
    return out


def _owner_gone(owner: str | None) -> bool:
    """True when the owner ran on this host and its process no longer exists."""
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host: only the lease tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def matches(rule: ActionRule, f: Finding, config: Config) -> bool:
    when = rule.when
    if "detector" in when:
        return f.detector == when["detector"] and \
            at_least(f.severity, when.get("min_severity", "critical"))
    if f.detector != "budget" or f.scope.get("budget") != when["budget"] or f.scope.get("signal"):
        return False
    budget = next((b for b in config.budgets if b.name == when["budget"]), None)
    th = when.get("threshold", 1.0)
    share = Decimal(repr(th) if isinstance(th, float) else str(th))
    return budget is not None and f.observed is not None and f.observed >= share * budget.amount


def episode_of(conn: Any, alert_id: str) -> int:
    """The alert episode this finding belongs to, as alerts.record_findings will number it."""
    r = conn.execute("SELECT state, coalesce(episode, 1) FROM alert_log WHERE alert_id = ?", [alert_id]).fetchone()
    if r is None:
        return 1
    return int(r[1]) if r[0] == "open" else int(r[1]) + 1


def targets(conn: Any, rule: ActionRule, f: Finding, config: Config) -> list[tuple[str, str]]:
    """(provider, target id) for a finding: its own key/team/project if the scope names one, else the top
    spenders of that kind inside the scope over the finding's period, at most `max_targets`."""
    providers = list(rule.acts_on())
    if not providers:
        return []
    col = TARGET_COLUMN[rule.do]
    conds = [f"{col} IS NOT NULL", "list_contains(?, provider)"]
    params: list[Any] = [providers]
    for k, v in sorted(f.scope.items()):
        if k in MATCH_COLUMNS:
            conds.append(f"{k} = ?")
            params.append(str(v))
    if "budget" in f.scope:
        budget = next((b for b in config.budgets if b.name == f.scope["budget"]), None)
        if budget is None:
            return []
        conds.append(match_sql(budget.match))
    conds.append("ts >= ? AND ts < ?")
    params += [f.period_start, f.period_end]
    rows = conn.execute(f"SELECT provider, {col}, sum(cost_usd) AS c FROM spend WHERE {' AND '.join(conds)} "
                        f"GROUP BY 1, 2 ORDER BY c DESC NULLS LAST, 1, 2 LIMIT {int(rule.max_targets)}",
                        params).fetchall()
    return [(p, str(t)) for p, t, _ in rows]


def plan(conn: Any, config: Config, findings: list[Finding], now: datetime, me: str, wall: datetime) -> list[ActionRow]:
    """Record the intent for every (rule, finding, target) not yet acted on; returns the enforce rows."""
    out = []
    for rule in config.actions:
        for f in findings:
            if not matches(rule, f, config):
                continue
            episode = episode_of(conn, f.key)
            for provider, target in targets(conn, rule, f, config):
                if rule.protected(target):
                    log.info("rule=%s alert=%s target=%s skip=protected", rule.name, f.key, target)
                    continue
                if conn.execute("SELECT 1 FROM actions_log WHERE rule = ? AND alert_id = ? AND episode = ? AND "
                                "provider = ? AND target = ? AND mode = ?",
                                [rule.name, f.key, episode, provider, target, rule.mode]).fetchone():
                    log.debug("rule=%s alert=%s target=%s skip=already_acted", rule.name, f.key, target)
                    continue
                if conn.execute("SELECT 1 FROM actions_log WHERE rule = ? AND provider = ? AND target = ? AND "
                                "mode = ? AND state IN ('planned', 'done') AND requested_at > ?",
                                [rule.name, provider, target, rule.mode, wall - rule.cooldown]).fetchone():
                    log.info("rule=%s alert=%s target=%s skip=cooldown", rule.name, f.key, target)
                    continue
                dry = not rule.enforce
                note = "dry-run: no provider was called" if dry else None
                (rid,) = conn.execute(
                    """INSERT INTO actions_log (rule, action, alert_id, episode, provider, target_kind, target, mode,
                           state, requested_at, done_at, note, owner)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                    [rule.name, rule.do, f.key, episode, provider, TARGET_KIND[rule.do], target, rule.mode,
                     "done" if dry else "planned", wall, wall if dry else None, note, None if dry else me]).fetchone()
                log.info("action=%d rule=%s %s %s %s", rid, rule.name, rule.mode, rule.do, target)
                if not dry:
                    out.append(ActionRow(rid, rule.name, rule.do, f.key, episode, provider, TARGET_KIND[rule.do],
                                         target, rule.mode, "planned"))
    return out


# ---------------------------------------------------------------------------------------------- acting


def client_for(rule: ActionRule, provider: str) -> Any:
    access = rule.providers.get(provider)
    secret = access.admin_key if access else None
    key = secret.get() if secret else None
    hint = secret.describe() if secret else f"[actions] {rule.name}.{provider}.admin_key_env"
    return HttpClient(f"action {rule.name} ({provider})", rule.base_url(provider),
                      actuator(provider).headers(key), secret_hint=hint, attempts=ATTEMPTS, read_timeout=30.0)


def rule_named(config: Config, name: str) -> ActionRule:
    for r in config.actions:
        if r.name == name:
            return r
    raise SpendwatchError(f"{config.path}: no [[actions]] rule named {name!r} any more; its credentials are "
                          "needed to act (restore the rule, or act in the provider's console)")


def execute(config: Config, row: ActionRow) -> str | None:
    """Carry out one planned row (fresh or interrupted); returns a problem line when it failed."""
    act = actuator(row.provider)
    try:
        rule = rule_named(config, row.rule)
        with client_for(rule, row.provider) as client:
            if row.before is None:
                before = act.read(client, row.action, row.target)
                if act.already(row.action, before):
                    _finish(config, row.id, "done", note=f"already {VERBS[row.action][0]} before; nothing changed",
                            before=before)
                    return None
                lowered = getattr(act, "lowered", None)
                if lowered is not None:
                    before = dict(before, _lowered=lowered(before, rule.throttle_to))
                _save_before(config, row.id, before)
                note = None
            else:
                before = row.before
                if act.in_effect(row.action, before, act.read(client, row.action, row.target)):
                    _finish(config, row.id, "done", note="settled after an interrupted run: the change was in place")
                    return None
                note = "settled after an interrupted run"
            act.apply(client, row.action, row.target, before, throttle_to=rule.throttle_to)
            _pause("applied")
        _finish(config, row.id, "done", note=note)
        log.warning("action=%d %s %s", row.id, VERBS[row.action][0], row.what)
        return None
    except (SourceError, SecretMissing, SpendwatchError) as exc:
        error = redact(str(exc))
    except Exception as exc:  # a bug must not stop the alert: record it, report it
        log.exception("action=%d crashed", row.id)
        error = f"unexpected {type(exc).__name__}: {redact(str(exc))[:200]}"
    _finish(config, row.id, "failed", error=error)
    return f"action {row.id} ({row.rule}): could not {VERBS[row.action][1]} {row.what}: {error}"


def _save_before(config: Config, rid: int, before: Any) -> None:
    with _writer(config) as store, store.transaction() as conn:
        conn.execute("UPDATE actions_log SET before = ? WHERE id = ?", [json.dumps(before, sort_keys=True), rid])


def _finish(config: Config, rid: int, state: str, *, note: str | None = None, error: str | None = None,
            before: Any = None) -> None:
    with _writer(config) as store, store.transaction() as conn:
        saved = json.dumps(before, sort_keys=True) if before is not None else None
        conn.execute("UPDATE actions_log SET state = ?, done_at = ?, note = coalesce(?, note), error = ?, "
                     "owner = NULL, before = coalesce(?, before) WHERE id = ?",
                     [state, utcnow(), note, error, saved, rid])


def _pause(stage: str) -> None:
    """Tests only: with SPENDWATCH_TEST_ACTION_PAUSE="<stage>:<file>", touch <file> at `stage` ("intent":
    after the intent commit; "applied": after the provider accepted the change, before the result is
    recorded) and wait there to be killed."""
    spec = os.environ.get(PAUSE_ENV, "")
    if not spec.startswith(stage + ":"):
        return
    with open(spec.split(":", 1)[1], "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(300)


# ------------------------------------------------------------------------------------------- undo, words


def undo(config: Config, rid: int) -> str:
    """Restore what action `rid` changed; marks it `undone`. Returns one line for the user."""
    with _writer(config) as store:
        r = store.conn.execute(f"SELECT {_COLS} FROM actions_log WHERE id = ?", [rid]).fetchone()
    if r is None:
        raise SpendwatchError(f"no action {rid} (see `spendwatch actions`)")
    row = _row(r)
    if row.state == "undone":
        raise SpendwatchError(f"action {rid} was already undone")
    if row.state == "planned":
        raise SpendwatchError(f"action {rid} is still planned (running, or interrupted): run `spendwatch detect` "
                              "to settle it, then undo")
    untouched = row.mode == "dry-run" or (
        row.before is not None and actuator(row.provider).already(row.action, row.before))
    if row.state == "failed" and row.before is None:
        raise SpendwatchError(f"action {rid} failed before changing anything; nothing to undo")
    if untouched:
        why = "dry-run" if row.mode == "dry-run" else row.note
        line = f"action {rid}: nothing had been changed ({why}); marked undone"
    else:
        rule = rule_named(config, row.rule)
        try:
            with client_for(rule, row.provider) as client:
                actuator(row.provider).revert(client, row.action, row.target, row.before)
        except (SourceError, SecretMissing) as exc:
            raise SpendwatchError(f"action {rid}: could not undo ({redact(str(exc))}); nothing marked") from None
        line = f"action {rid}: {VERBS[row.action][2]} {row.what}"
    with _writer(config) as store, store.transaction() as conn:
        conn.execute("UPDATE actions_log SET state = 'undone', undone_at = ? WHERE id = ?", [utcnow(), rid])
    return line


def describe(row: ActionRow) -> str:
    """What the alert says about one action: done, would have been done, failed, or interrupted."""
    done, verb, _ = VERBS.get(row.action, ("acted on", "act on", "restored"))
    if row.mode == "dry-run":
        return (f"Dry run: would have {done} {row.what} (rule {row.rule}; "
                f'set mode = "enforce" to act)')
    if row.state == "failed":
        return f"FAILED to {verb} {row.what} (action {row.id}): {row.error}; nothing else will be tried for this alert"
    if row.state == "planned":
        return f"{done.capitalize()} {row.what}: not confirmed yet (action {row.id}); settled on the next run"
    if row.note and row.note.startswith("already"):
        return f"{row.what} was {row.note} (action {row.id})"
    if row.state == "undone":
        return f"{done.capitalize()} {row.what}, since undone (action {row.id})"
    return f"{done.capitalize()} {row.what} (action {row.id}, rule {row.rule}); undo: spendwatch actions undo {row.id}"


def notice_lines(conn: Any, alert_id: str, episode: int | None = None) -> list[str]:
    """The action lines of one alert (its given episode, else its latest), for the notice."""
    exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'actions_log'").fetchone()[0]
    if not exists:
        return []
    if episode is None:
        r = conn.execute("SELECT max(episode) FROM actions_log WHERE alert_id = ?", [alert_id]).fetchone()
        episode = r[0] if r else None
    rows = conn.execute(f"SELECT {_COLS} FROM actions_log WHERE alert_id = ? AND episode = ? ORDER BY id",
                        [alert_id, episode]).fetchall()
    return [describe(_row(r)) for r in rows]


def with_actions(notice: Any, conn: Any, episode: int | None = None) -> Any:
    """The notice with its action lines (a spendwatch.notice.Notice; it is a frozen dataclass)."""
    lines = notice_lines(conn, notice.key, episode)
    return replace(notice, actions=tuple(lines)) if lines else notice


ACTIONS_VIEW_SQL = actions_sql()
