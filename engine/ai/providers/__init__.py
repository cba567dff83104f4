"""Provider registry: the `provider:` setting of a target's `llm:` → a Provider."""

from __future__ import annotations

from engine.ai.providers.base import Provider
from engine.config.models import LLMSettings


def make_provider(settings: LLMSettings) -> Provider:
    if settings.provider == "openai":
        from engine.ai.providers.openai import OpenAIProvider

        return OpenAIProvider(settings)
    if settings.provider == "local":
        from engine.ai.providers.local import LocalProvider

        return LocalProvider(settings)
    from engine.ai.providers.offline import OfflineProvider

    return OfflineProvider()
