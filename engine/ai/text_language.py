"""Which language a text is in, when that is clear: the check behind the local sentiment analyser's
note (VADER reads English only, so German or French text mostly scores neutral and nothing else
says so).

py3langid (a fork of langid.py: naive Bayes over byte n-grams, its model inside the wheel, offline
and deterministic; https://github.com/adbar/py3langid) guesses among the languages below, and a
guess counts only at GUESS_CONFIDENCE or more: short texts ("ok", "AP", "Login broken") and product
names stay unguessed, so a note never blames English text. The set is limited to widely written
languages because a guess over all ~100 scatters short English texts into related languages.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

ENGLISH = "en"
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "no", "fi", "cs", "sk", "hu", "ro", "el", "tr",
             "ru", "uk", "bg", "ja", "zh", "ko", "ar", "he", "hi", "id", "vi", "th")
GUESS_CONFIDENCE = 0.8
MIN_LETTERS = 8  # fewer letters than this: too short to tell


@lru_cache(maxsize=1)
def _identifier():
    """The model, loaded once per process (~1.5 s: it is stored compressed)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def guess_language(text: str) -> str | None:
    """The ISO 639-1 code of `text`'s language when the guess is confident, else None."""
    if sum(character.isalpha() for character in text) < MIN_LETTERS:
        return None
    language, confidence = _identifier().classify(text)
    return language if confidence >= GUESS_CONFIDENCE else None


def other_languages(texts: list[str]) -> Counter[str]:
    """How many of `texts` are confidently in a language other than English, per language."""
    found: Counter[str] = Counter()
    for text in texts:
        language = guess_language(text)
        if language is not None and language != ENGLISH:
            found[language] += 1
    return found
