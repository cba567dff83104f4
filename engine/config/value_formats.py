"""How a number is written for people and for prompts: the currencies rulectl writes with a sign,
and how many decimals each currency's amounts have. One home for both the terminal and the
compiled prompt inputs, so `$` means the same thing in a table and in a prompt."""

from __future__ import annotations

# Currencies written with their sign; any other ISO 4217 code follows the amount (`1,200 CHF`).
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹"}

# ISO 4217 minor units: most currencies have cents; these have none.
# https://www.six-group.com/en/products-services/financial-information/data-standards.html (list one)
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "ISK", "VND", "PYG", "UGX", "XAF", "XOF"})

NUMBER_FORMATS = ("number", "percent", "currency")
DEFAULT_DECIMALS = 2  # a number that declares neither a format nor decimals, nor a scale
PERCENT_DECIMALS = 1
MAX_DECIMALS = 9


def currency_decimals(code: str) -> int:
    """Decimals an amount in `code` is written with (2, or 0 for currencies without minor units)."""
    return 0 if code.upper() in ZERO_DECIMAL_CURRENCIES else 2
