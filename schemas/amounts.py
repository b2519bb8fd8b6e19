"""Parsing of amounts as published, into exact decimals (euros).

Budget files write the same amount in many ways: ``1 234,50`` with a space, a
no-break space (U+00A0) or a narrow no-break space (U+202F) between thousands;
``1.299,99``; ``7300000.0``; ``− 1 000,25`` with a U+2212 minus; accounting
negatives ``(1 234,50)``; a currency sign before or after; ``12,5 M€`` or
``1,2 Md€`` in texts. Every function here returns a :class:`decimal.Decimal`
(never a float) or ``None`` for an empty cell, and raises :class:`AmountError`
for a value that states no amount.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["AmountError", "CENT", "parse_amount", "parse_euros"]

CENT = Decimal("0.01")
_MAX_EUROS = Decimal("1e16")  # DECIMAL(18,2) holds 16 digits before the point

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009\u2007']+")
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-"})
_MULTIPLIERS = (
    (re.compile(r"(mds?|milliards?)(€|eur|euros)?$", re.IGNORECASE), Decimal("1e9")),
    (re.compile(r"(m|millions?)(€|eur|euros)$", re.IGNORECASE), Decimal("1e6")),
    (re.compile(r"(k|milliers?)(€|eur|euros)$", re.IGNORECASE), Decimal("1e3")),
)
_CURRENCY = re.compile(r"(€|eur|euros)", re.IGNORECASE)
_PLACEHOLDERS = frozenset({"-", "--", "\u2014"})  # a lone dash: no amount stated
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class AmountError(ValueError):
    """A cell that should hold an amount holds something else."""


def parse_amount(value: object) -> Decimal | None:
    """Parse one published amount into an exact :class:`Decimal`, at full precision.

    ``'1.299,99'`` → ``Decimal('1299.99')``; ``'(1 234,50)'`` → ``Decimal('-1234.50')``;
    ``'12,5 M€'`` → ``Decimal('12500000.0')``; ``''``, ``'-'`` and ``None`` → ``None``.
    Raises :class:`AmountError` for text that states no amount (``'n.d.'``, ``'abc'``).
    """
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    raw = str(value)
    text = _SPACES.sub("", raw.translate(_MINUS))
    if not text or text in _PLACEHOLDERS:
        return None
    negative = False
    if text.startswith("(") or ")" in text:
        inner = _CURRENCY.sub("", text)
        if inner.startswith("(") and inner.endswith(")"):
            negative, text = True, inner[1:-1]
    if text.startswith("-") and text[1:2] in ("(", "€"):
        negative, text = not negative, text[1:]
    multiplier = Decimal(1)
    for pattern, factor in _MULTIPLIERS:
        if pattern.search(text):
            text, multiplier = pattern.sub("", text), factor
            break
    text = _CURRENCY.sub("", text).strip("()")
    text = _normalise_separators(text)
    if not _NUMBER.match(text):
        raise AmountError(f"not an amount: {raw!r}")
    try:
        number = Decimal(text) * multiplier
    except InvalidOperation as exc:  # pragma: no cover - guarded by the regex
        raise AmountError(f"not an amount: {raw!r}") from exc
    return -number if negative else number


def _normalise_separators(text: str) -> str:
    """Make ``text`` a plain ``1234.5`` number: the last of ``,``/``.`` is the decimal mark."""
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        return text.replace(thousands, "").replace(decimal_mark, ".")
    if commas > 1:
        return text.replace(",", "")
    if commas == 1:
        return text.replace(",", ".")
    if dots > 1:
        return text.replace(".", "")
    return text


def parse_euros(value: object) -> Decimal | None:
    """Parse an amount in euros rounded to the cent, as stored in ``DECIMAL(18,2)``.

    Binary floats from Excel (``311029341.88000005``) round to the cent (half up).
    Raises :class:`AmountError` for text that is not an amount or an amount too
    large for ``DECIMAL(18,2)``.
    """
    number = parse_amount(value)
    if number is None:
        return None
    if not number.is_finite() or abs(number) >= _MAX_EUROS:
        raise AmountError(f"amount out of DECIMAL(18,2) range: {value!r}")
    rounded = number.quantize(CENT, rounding=ROUND_HALF_UP)
    if abs(rounded) >= _MAX_EUROS:
        raise AmountError(f"amount out of DECIMAL(18,2) range: {value!r}")
    return rounded
