"""`spendwatch demo` runs the whole pipeline offline and leaves a store to query."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_cli


def test_demo_end_to_end(tmp_path: Path) -> None:
    r = run_cli("demo", "--dir", "d", cwd=tmp_path, timeout=300)
    assert r.code == 0, r
    assert "== Chargeback" in r.out and "(unallocated)" in r.out and "TOTAL" in r.out
    assert "Traceback" not in r.err
    q = run_cli("--config", "d/spendwatch.toml", "sql",
                "select count(distinct provider) p, count(*) > 1000 many from spend", "--format", "csv", cwd=tmp_path)
    assert q.out == "p,many\n3,true\n", q  # the LiteLLM proxy's rows are attributed to OpenAI and Anthropic
    # the proxy's teams are charged their share of the bills; chargeback sums to the bills exactly
    assert "MISMATCH" not in r.out and "chargeback $" in r.out
    check = run_cli("--config", "d/spendwatch.toml", "sql", """
        SELECT (SELECT sum(cost_usd) FROM chargeback WHERE provider IN ('openai', 'anthropic')) =
               (SELECT sum(cost_usd) FROM records WHERE record_type = 'cost' AND provider IN ('openai', 'anthropic')),
               (SELECT count(DISTINCT team) FROM chargeback WHERE via = 'demo-litellm'),
               (SELECT count(*) FROM spend WHERE via = 'demo-litellm' AND cost_basis = 'attributed') > 1000""",
                    "--format", "csv", cwd=tmp_path)
    assert check.out.splitlines()[1] == "true,2,true", check
    # a second run starts from a fresh store: the figures do not double
    first = run_cli("--config", "d/spendwatch.toml", "sql", "select count(*) from spend", "--format", "csv", cwd=tmp_path).out
    assert run_cli("demo", "--dir", "d", cwd=tmp_path, timeout=300).code == 0
    assert run_cli("--config", "d/spendwatch.toml", "sql", "select count(*) from spend", "--format", "csv",
                   cwd=tmp_path).out == first
