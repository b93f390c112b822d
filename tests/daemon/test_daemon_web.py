"""`[web] listen`: the daemon serves the dashboard from a thread while its workers keep writing the store.
Pages open read-only connections with the lock discipline of `spendwatch sql` (retry a writer's lock with
backoff, close at once), so they answer while collects commit, and collects are not lost to them."""

from __future__ import annotations

import re
import time

import httpx
from conftest import SLOW, config_text, sql, wait_for

PAGES = ["/", "/breakdown?by=model&by=source", "/alerts", "/sources", "/chargeback?by=provider",
         "/chargeback.csv?by=provider"]


def test_pages_answer_while_the_daemon_writes(tmp_path, loop_server, daemon_factory):
    cfg = config_text(tmp_path / "spend.duckdb", [("alpha", loop_server.url("alpha"), "1s"),
                                                  ("beta", loop_server.url("beta"), "1s")],
                      extra='\n[web]\nlisten = "127.0.0.1:0"\n')
    d = daemon_factory(cfg).start()
    line = wait_for(lambda: d.log_events("web_listening"), 40, "the web server's start line")[0]
    assert "loopback only, no token" in line
    base = re.search(r"url=(http://127\.0\.0\.1:\d+)/", line).group(1)  # type: ignore[union-attr]
    wait_for(lambda: loop_server.count("alpha") >= 1, 40, "a first collect")

    def collects() -> int:
        return loop_server.count("alpha") + loop_server.count("beta")

    # Read every page round after round until the daemon has collected (written) at least 4 more times
    # meanwhile: a bound on waiting, not a timing assertion (a loaded box makes each collect take seconds).
    before = collects()
    statuses: list[tuple[str, int]] = []
    deadline = time.monotonic() + 120 * SLOW
    rounds = 0
    while rounds < 2 or (collects() - before < 4 and time.monotonic() < deadline):
        for path in PAGES:
            statuses.append((path, httpx.get(base + path, timeout=120).status_code))
        rounds += 1
    collects_during = collects() - before
    assert all(code == 200 for _, code in statuses), statuses
    assert collects_during >= 4, f"the daemon wrote only {collects_during} times while pages were read"
    assert not d.log_events("store_busy"), "a page held the store past [store] lock_timeout"

    # The figures the page shows are the store's (read once the writes are paused by a reader's lock).
    page = httpx.get(base + "/breakdown?by=source&since=2000-01-01", timeout=120).text
    shown = dict(re.findall(r'>(alpha|beta)</a></th>\s*<td class="num"><data value="([^"]+)"', page))
    assert set(shown) == {"alpha", "beta"}
    assert 405 == httpx.post(base + "/", timeout=60).status_code
    rc, _ = d.terminate(timeout=20)
    assert rc == 0, d.stderr()
    stored = {r["source"]: r["c"] for r in sql(d.config, "select source, sum(cost_usd) c from spend group by 1")}
    assert set(stored) == {"alpha", "beta"}
    assert "Traceback" not in d.stderr()
