"""The openai provider over real HTTP: Retry-After honoured (bounded), jittered backoff otherwise,
no redirects followed (the key goes to base_url only)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from engine.ai.providers.base import CompletionFailed, CompletionRequest
from engine.ai.providers.openai import MAX_RETRY_AFTER_SECONDS, OpenAIProvider, retry_after_seconds
from engine.config.models import LLMSettings
from tests.ai.fake_llm_server import FakeLLM


def provider(server: FakeLLM, retries: int = 2, jitter: float = 0.5) -> tuple[OpenAIProvider, list[float]]:
    waits: list[float] = []
    settings = LLMSettings(provider="openai", base_url=server.base_url, model="m", retries=retries, timeout_seconds=2, api_key_env="LLM_TEST_KEY")
    return OpenAIProvider(settings, sleep=waits.append, jitter=lambda: jitter), waits


def ask(p: OpenAIProvider, text: str):
    return p.complete(CompletionRequest("m", "system", f"<data>\ncustomer_name: {text}\n</data>", {}))


def test_retry_after_seconds_is_waited_exactly_then_the_row_succeeds():
    with FakeLLM() as server:
        server.retry_after = "2"
        p, waits = provider(server)
        reply = ask(p, "FAULT_429 town")
    assert reply.text.endswith("FAULT_429 town") and waits == [2.0] and len(server.requests) == 2


def test_retry_after_as_an_http_date():
    with FakeLLM() as server:
        server.retry_after = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=5), usegmt=True)
        p, waits = provider(server)
        ask(p, "FAULT_429 dated")
    assert len(waits) == 1 and 3.0 <= waits[0] <= 5.0


def test_a_retry_after_beyond_the_bound_leaves_the_row_pending_without_waiting():
    with FakeLLM() as server:
        server.retry_after = str(int(MAX_RETRY_AFTER_SECONDS) + 1)
        p, waits = provider(server)
        with pytest.raises(CompletionFailed, match="rate limited: the server asks to wait 31 s"):
            ask(p, "FAULT_429 patient")
    assert waits == [] and len(server.requests) == 1


@pytest.mark.real_backoff
def test_without_retry_after_backoff_is_exponential_with_jitter():
    with FakeLLM() as server:
        server.retry_after, server.rate_limited_times = None, 3
        low, low_waits = provider(server, retries=3, jitter=0.0)
        ask(low, "FAULT_429 a")
        high, high_waits = provider(server, retries=3, jitter=0.999)
        ask(high, "FAULT_429 b")
    assert low_waits == [0.25, 0.5, 1.0]  # half of 0.5·2^(n-1) fixed …
    assert all(b > a and b < 2 * a for a, b in zip(low_waits, high_waits))  # … the other half random


def test_redirects_are_not_followed_and_the_key_is_sent_once_to_base_url(monkeypatch):
    monkeypatch.setenv("LLM_TEST_KEY", "sk-secret")
    with FakeLLM() as server:
        p, waits = provider(server)
        with pytest.raises(CompletionFailed, match="redirects are not followed"):
            ask(p, "FAULT_REDIRECT")
    assert server.authorizations == ["Bearer sk-secret"] and waits == []


def test_retry_after_parsing():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds("0") == 0.0 and retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:10 GMT", now) == 10.0
    assert retry_after_seconds("Wed, 31 Dec 2025 23:00:00 GMT", now) == 0.0  # a date in the past: retry now
