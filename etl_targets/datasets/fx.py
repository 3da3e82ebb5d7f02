"""FX, exchange rates from the rates API: the contract's section 5 written as a declaration.

The landing is an :class:`~etl_targets.datasets.base.HttpSource`, not a
file; silver is :func:`read_rates`, a pure function of the pages bronze
landed. Every page is judged as a whole: a page that breaks the contract
fails the date (naming the page and the problem), since a rate that is
silently dropped would convert revenue with a gap in it.

>>> page = b'{"date": "2026-01-27", "base": "USD", "next_page": null, ' \\
...        b'"rates": [{"currency": "EUR", "rate": "0.921350"}]}'
>>> read_rates([(1, "page 1", page)], dt.date(2026, 1, 27)).to_pylist()
[{'currency': 'EUR', 'rate': Decimal('0.921350')}, {'currency': 'USD', 'rate': Decimal('1.000000')}]
"""

import datetime as dt
import decimal
import json
import re
from typing import Dict, Iterable, Optional, Tuple

import pyarrow as pa

from etl_targets.datasets.base import Dataset, HttpSource
from etl_targets.datasets.revenue import SO_REVENUE_USD
from etl_targets.errors import ContractError

BASE = "USD"
RATE_SCALE = 6
RATE = pa.decimal128(18, RATE_SCALE)
SCHEMA = pa.schema([("currency", pa.string()), ("rate", RATE)])
#: digits, optionally a point and more digits: no sign, exponent or thousands separator
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_LARGEST = decimal.Decimal(10) ** (RATE.precision - RATE_SCALE)


def read_rates(pages: Iterable[Tuple[int, str, bytes]], day: dt.date) -> pa.Table:
    """The silver of one date: ``currency``, ``rate`` (decimal128(18, 6)), USD added, sorted.

    Args:
        pages: ``(number, url, body)`` of each page, in order (bronze's pages).
        day: the date asked for; every page must carry it.

    Raises:
        ContractError: the first page that breaks the contract, with the problem.
    """
    rates: Dict[str, decimal.Decimal] = {}
    first_page: Dict[str, int] = {}
    last: Optional[Tuple[int, str, dict]] = None
    for number, url, body in pages:
        where = f"fx rates of {day.isoformat()}, page {number} ({url})"
        found = _page(body, day, where)
        for currency, rate in _entries(found["rates"], where):
            if currency in rates:
                raise ContractError(where, f"currency {currency} is repeated (first on page "
                                           f"{first_page[currency]})")
            rates[currency], first_page[currency] = rate, number
        last = (number, where, found)
    if last is not None:
        _check_last(*last)
    if rates.setdefault(BASE, decimal.Decimal(1)) != 1:
        raise ContractError(f"fx rates of {day.isoformat()}, page {first_page[BASE]}",
                            f"rate of {BASE} is {rates[BASE]}, but the base is {BASE}")
    currencies = sorted(rates)
    return pa.table([pa.array(currencies, pa.string()),
                     pa.array([rates[c] for c in currencies], RATE)], schema=SCHEMA)


def _page(body: bytes, day: dt.date, where: str) -> dict:
    """The page as a JSON object with the contract's ``date``, ``base`` and ``rates``."""
    try:
        found = json.loads(body, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        raise ContractError(where, f"names {exc} twice in one object (which one holds?)") from None
    except ValueError as exc:
        raise ContractError(where, f"not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise ContractError(where, "not a JSON object")
    missing = [key for key in ("date", "base", "rates") if key not in found]
    if missing:
        raise ContractError(where, "lacks " + ", ".join(missing))
    if found["date"] != day.isoformat():
        raise ContractError(where, f"date is {found['date']!r}, not {day.isoformat()}")
    if found["base"] != BASE:
        raise ContractError(where, f"base is {found['base']!r}, not {BASE}")
    if not isinstance(found["rates"], list):
        raise ContractError(where, "rates is not a list")
    return found


class _RepeatedKey(Exception):
    """A JSON object names a key twice: JSON parsers keep the last, or the first."""


def _unique_keys(pairs) -> dict:
    found = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(json.dumps(key))
        found[key] = value
    return found


def _entries(entries: list, where: str):
    """(currency, rate) of each entry, each judged exactly (never through a float)."""
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "currency" not in entry or "rate" not in entry:
            raise ContractError(where, f"rates[{index}] is not an object with currency and rate")
        currency = entry["currency"]
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise ContractError(where, f"rates[{index}]: currency {currency!r} is not three "
                                       f"upper-case letters")
        yield currency, parse_rate(entry["rate"], f"rate of {currency}", where)


def parse_rate(text, what: str, where: str) -> decimal.Decimal:
    """A positive decimal string with at most 6 places (judged by value: ``0.5000000`` is 0.5).

    Raises:
        ContractError: anything else, a JSON number included (it was a float already).
    """
    if not isinstance(text, str):
        raise ContractError(where, f"{what} is {json.dumps(text)}, not a decimal string")
    if not _DECIMAL.fullmatch(text):
        raise ContractError(where, f"{what} is {text!r}, not a positive decimal")
    value = decimal.Decimal(text)
    if value <= 0:
        raise ContractError(where, f"{what} is {text!r}, not a positive decimal")
    if value.normalize().as_tuple().exponent < -RATE_SCALE:
        raise ContractError(where, f"{what} is {text!r}: more than {RATE_SCALE} decimal places")
    if value >= _LARGEST:
        raise ContractError(where, f"{what} is {text!r}: too large for {RATE}")
    return value


def _check_last(number: int, where: str, found: dict) -> None:
    """The last page landed must end the chain: a ``next_page`` bronze did not follow is a cut."""
    following = found.get("next_page")
    if following is None:
        return
    if isinstance(following, int) and not isinstance(following, bool) and following > number:
        raise ContractError(where, f"next_page {following} was not fetched (more pages than "
                                   f"the limit)")
    raise ContractError(where, f"next_page {json.dumps(following)} is not a later page number")


FX = Dataset(
    code="FX",
    folder="fx",
    source=HttpSource(url_key="fx_api_url", token_variable="ETL_FX_TOKEN", path="rates",
                      section="fx_source", read=read_rates, schema=SCHEMA, records="rates"),
    dedup_keys=("currency",),
    gold=(SO_REVENUE_USD,),
)
