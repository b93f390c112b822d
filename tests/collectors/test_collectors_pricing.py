"""Token → money: genai-prices lookups with our token semantics, overrides, unknown models, config."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from spendwatch.app import parse_config
from spendwatch.config import PriceOverride
from spendwatch.errors import ConfigError
from spendwatch.pricing import Pricer

AT = datetime(2026, 11, 1, tzinfo=UTC)


def test_openai_price_uses_cached_rate_and_counts_cached_inside_input() -> None:
    # gpt-4o: $2.5 input, $1.25 cached input, $10 output per million tokens
    cost = Pricer().price("openai", "gpt-4o-2024-08-06", AT, input_tokens=1_000_000, cached_input_tokens=200_000,
                          output_tokens=100_000)
    assert cost == Decimal("2.5") * Decimal("0.8") + Decimal("1.25") * Decimal("0.2") + Decimal("1")


def test_anthropic_cache_writes_have_their_own_rates_and_tiers_use_the_base() -> None:
    # claude-sonnet-4-5 (tiered above 200k prompt): base $3 in, $0.3 read, $3.75 5m write, $6 1h write, $15 out
    cost = Pricer().price("anthropic", "claude-sonnet-4-5-20250929", AT, input_tokens=10_000_000,
                          cached_input_tokens=1_000_000, cache_write_tokens=2_000_000, cache_write_1h_tokens=500_000,
                          output_tokens=1_000_000)
    assert cost == 7 * 3 + Decimal("0.3") + Decimal("1.5") * Decimal("3.75") + Decimal("0.5") * 6 + 15


def test_batch_is_priced_at_the_batch_variant() -> None:
    full = Pricer().price("openai", "gpt-4o-mini-2024-07-18", AT, input_tokens=1_000_000, output_tokens=1_000_000)
    batch = Pricer().price("openai", "gpt-4o-mini-2024-07-18", AT, input_tokens=1_000_000, output_tokens=1_000_000,
                           batch=True)
    assert full == Decimal("0.75") and batch == Decimal("0.375")


def test_unknown_model_is_none_never_zero() -> None:
    assert Pricer().price("openai", "acme-private-llm-1", AT, input_tokens=5, output_tokens=5) is None
    assert Pricer().price("openai", None, AT, input_tokens=5) is None


def test_override_wins_first_match_and_is_dated() -> None:
    o = [PriceOverride(model="gpt-4o*", provider="openai", input_per_mtok=Decimal("2"), output_per_mtok=Decimal("8"),
                       since="2026-10-01", until="2026-12-01")]
    p = Pricer(o)
    assert p.price("openai", "gpt-4o-2024-08-06", AT, input_tokens=1_000_000, cached_input_tokens=500_000) == 2
    before = datetime(2026, 9, 1, tzinfo=UTC)
    assert p.price("openai", "gpt-4o-2024-08-06", before, input_tokens=1_000_000) == Decimal("2.5")
    assert p.price("anthropic", "gpt-4o-x", AT, input_tokens=1_000_000) is None


def test_prices_section_is_validated_with_file_and_key() -> None:
    cfg = parse_config('[[prices]]\nmodel = "x*"\ninput_per_mtok = "1.5"\noutput_per_mtok = "6"\n', "c.toml")
    assert cfg.prices[0].input_per_mtok == Decimal("1.5") and cfg.prices[0].provider == "*"
    with pytest.raises(ConfigError) as exc:
        parse_config('[[prices]]\nmodel = "x"\ninput_per_mtok = 1.5\noutput_per_mtok = "6"\nsince = "soon"\n', "c.toml")
    text = str(exc.value)
    assert "c.toml:3: prices[0].input_per_mtok: write money as a decimal string" in text
