"""How an ERP export spells one value: codes, numbers, decimals, dates and timestamps.

Why: the contract accepts a code in any case and padding, a number with
thousands separators, a decimal with trailing zeros or fewer places, a
US date with or without leading zeros; a generator that draws every
spelling at some rate exercises every reading of it. Each function takes
the generator's ``rng`` and draws from it in a fixed order, so a seed
reproduces the bytes. Standard library only.
"""

from __future__ import annotations

import datetime
import functools
import random

_DAY_START, _DAY_SPAN = 6 * 3600, 16 * 3600  # activity between 06:00 and 22:00


@functools.lru_cache(maxsize=None)
def variants(word: str) -> tuple:
    """Spellings of a code that trim and case-fold back to ``word``."""
    low, up = word.lower(), word.upper()
    return (up, low, word.title(), f" {word}", f"{word} ", f"  {low} ", f" {up}", f"{low} ")


def spell(word: str, rng: random.Random, rate: float) -> str:
    """``word``, or with probability ``rate`` one of its :func:`variants`."""
    return rng.choice(variants(word)) if rng.random() < rate else word


def integer_text(value: int, rng: random.Random, rate: float) -> str:
    """Plain digits, or (at ``rate``, for 1,000 and up) thousands-grouped."""
    return f"{value:,}" if value >= 1000 and rng.random() < rate else str(value)


def decimal_text(units: int, scale: int, rng: random.Random, rate: float) -> str:
    """An exact decimal ``units / 10**scale`` in one of the accepted spellings.

    Canonical ``1234.5600``; at ``rate`` one of: thousands-grouped, trailing
    zeros trimmed (``1234.56``) or padded beyond the scale (``1234.560000``):
    the contract judges decimal places by value, so all mean the same.
    """
    whole, frac = divmod(units, 10**scale)
    digits = f"{frac:0{scale}d}"
    if rng.random() >= rate:
        return f"{whole}.{digits}"
    style = rng.random()
    if style < 0.4 and whole >= 1000:
        return f"{whole:,}.{digits}"
    if style < 0.7:
        trimmed = digits.rstrip("0")
        return f"{whole}.{trimmed}" if trimmed else str(whole)
    return f"{whole}.{digits}00"


def us_date(day: datetime.date, rng: random.Random, rate: float) -> str:
    """MM/DD/YYYY, or at ``rate`` with one-digit month and day (M/D/YYYY)."""
    if rng.random() < rate:
        return f"{day.month}/{day.day}/{day.year}"
    return day.strftime("%m/%d/%Y")


def stamp(day: datetime.date, seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` for ``seconds`` after midnight of ``day``."""
    return f"{day.isoformat()} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def work_time(day: datetime.date, rng: random.Random) -> str:
    """A timestamp during the working day (06:00-22:00) of ``day``."""
    return stamp(day, _DAY_START + int(rng.random() * _DAY_SPAN))


def later(text: str, rng: random.Random, at_most: int = 3600) -> str:
    """A timestamp 1..``at_most`` seconds after ``text``, the same day at the latest."""
    day, seconds = _parse_stamp(text)
    return stamp(day, min(seconds + rng.randint(1, at_most), 86399))


def earlier(text: str, rng: random.Random, at_most: int = 3600) -> str:
    """A timestamp 1..``at_most`` seconds before ``text``, the same day at the earliest."""
    day, seconds = _parse_stamp(text)
    return stamp(day, max(seconds - rng.randint(1, at_most), 0))


def _parse_stamp(text: str) -> tuple:
    """``(day, seconds after midnight)`` of a :func:`stamp`."""
    h, m, s = (int(part) for part in text[11:].split(":"))
    return datetime.date.fromisoformat(text[:10]), h * 3600 + m * 60 + s


def five_decimals(text: str, rng: random.Random) -> str:
    """A cost one decimal place too precise (``12.50001``): the contract allows four."""
    whole, _, frac = text.replace(",", "").partition(".")
    return f"{whole}.{(frac + '0000')[:4]}{rng.randint(1, 9)}"
