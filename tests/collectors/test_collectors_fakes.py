"""The fakes enforce the documented limits (so the conformance suite's `violations == []` can fail)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from spendwatch.fakes import FAKE_KEYS


def _get(server: Any, path: str, params: Any, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", trust_env=False) as c:
        return c.get(path, params=params, headers=headers)


@pytest.mark.parametrize("provider,path,params,status", [
    ("openai", "/v1/organization/usage/completions", {"bucket_width": "1h", "limit": 169}, 400),
    ("openai", "/v1/organization/usage/completions", {"bucket_width": "1d", "limit": 32}, 400),
    ("openai", "/v1/organization/costs", {"bucket_width": "1d", "limit": 181}, 400),
    ("openai", "/v1/organization/usage/completions", {"group_by[]": "model"}, 400),
    ("anthropic", "/v1/organizations/usage_report/messages", {"bucket_width": "1h", "limit": 169}, 400),
    ("anthropic", "/v1/organizations/cost_report", {"limit": 32}, 400),
    ("anthropic", "/v1/organizations/usage_report/messages", {"group_by": "model"}, 400),
    ("litellm", "/spend/logs/v2", {"page_size": 101}, 422),
    ("litellm", "/spend/logs/v2", {"start_date": "2026-01-01T00:00:00Z"}, 400),
    ("openrouter", "/api/v1/activity", {"date": "today"}, 400),
])
def test_breaking_a_documented_limit_is_refused_and_recorded(provider: str, path: str, params: dict, status: int,
                                                             dataset: Any, period: Any, serve: Any) -> None:
    start, end = period
    server = serve(provider, dataset)
    base = {"openai": {"start_time": int(start.timestamp()), "end_time": int(end.timestamp())},
            "anthropic": {"starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "litellm": {"start_date": start.strftime("%Y-%m-%d %H:%M:%S"),
                        "end_date": end.strftime("%Y-%m-%d %H:%M:%S")},
            "openrouter": {}}[provider]
    headers = ({"x-api-key": FAKE_KEYS[provider], "anthropic-version": "2023-06-01"} if provider == "anthropic"
               else {"Authorization": f"Bearer {FAKE_KEYS[provider]}"})
    r = _get(server, path, {**base, **params}, headers)
    assert r.status_code == status, r.text
    assert len(server.violations) == 1


def test_openrouter_refuses_today_and_days_beyond_30(dataset: Any, period: Any, serve: Any) -> None:
    start, end = period
    server = serve("openrouter", dataset, now=end + timedelta(hours=1))
    auth = {"Authorization": f"Bearer {FAKE_KEYS['openrouter']}"}
    assert _get(server, "/api/v1/activity", {"date": str(end.date())}, auth).status_code == 400
    assert _get(server, "/api/v1/activity", {"date": str((end - timedelta(days=31)).date())}, auth).status_code == 400
    ok = _get(server, "/api/v1/activity", {"date": str(start.date())}, auth)
    assert ok.status_code == 200 and ok.json()["data"]
    assert _get(server, "/api/v1/activity", {}, {"Authorization": "Bearer nope"}).status_code == 401


def test_openai_pages_empty_buckets_and_nulls(dataset: Any, period: Any, serve: Any) -> None:
    start, end = period
    server = serve("openai", dataset, page_buckets=None)
    auth = {"Authorization": f"Bearer {FAKE_KEYS['openai']}"}
    params = [("start_time", int(start.timestamp())), ("end_time", int(end.timestamp())), ("bucket_width", "1h"),
              ("limit", 5), ("group_by", "model")]
    body = _get(server, "/v1/organization/usage/embeddings", params, auth).json()
    assert len(body["data"]) == 5 and body["has_more"] and body["next_page"].startswith("page_")
    params[3] = ("limit", 168)
    week = _get(server, "/v1/organization/usage/embeddings", params, auth).json()
    assert len(week["data"]) == 168 and not week["has_more"] and week["next_page"] is None
    assert any(b["results"] == [] for b in week["data"]) and any(b["results"] for b in week["data"])
    results = [r for b in week["data"] for r in b["results"]]
    assert all(r["project_id"] is None and r["api_key_id"] is None and r["model"] for r in results)
