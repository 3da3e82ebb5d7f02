"""FX rates from the rates API and revenue in USD: the data contract's section 5.

The pipeline talks to a real HTTP server on a loopback port
(``tests/support/rates_server.py``, the ``rates_api`` fixture), which serves
two pages of rates for any date and can be told each fault the contract
names. Retries are made tiny here (``fast_retries``: 4 attempts, waits of
hundredths of a second, a 0.3 s read timeout, the circuit opening after 4
consecutive failures). ``so_revenue_usd`` is checked against a computation
written here with Python ``decimal`` from the published ``so_daily_sales``
and the served rates. The token is grepped for in everything a run leaves.
"""

from __future__ import annotations

import configparser
import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Dict, List

import luigi.configuration
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from etl_targets.cli import main
from etl_targets.config import http_source, token_problem
from etl_targets.datasets import DATASETS, clashes
from etl_targets.datasets.base import Dataset, DeclarationError, HttpSource
from etl_targets.datasets.gold_tables import MONTH_TO_DATE, GoldFunction, Input
from etl_targets.datasets.fx import SCHEMA as FX_SCHEMA, read_rates
from etl_targets.datasets.revenue import SCHEMA as USD_SCHEMA, so_revenue_usd
from etl_targets.errors import ConfigError, ContractError
from etl_targets.graph.http_tasks import HttpBronzeTask, HttpLandingTask, PagesSilverTask
from etl_targets.graph.registry import make_tasks
from etl_targets.lake.http_source import retry_after

from support.cli import etl_argv, explain, luigi_argv, run_command
from support.env import cli_environment
from support.lakes import run_records
from support.rates_server import SAMPLE_RATES, TEST_TOKEN

D = dt.date(2026, 1, 27)
ISO = D.isoformat()
FAST = {"connect_timeout": "0.5", "read_timeout": "0.3", "answer_timeout": "1", "max_attempts": "4",
        "backoff_initial": "0.01", "backoff_max": "0.02", "retry_after_max": "5",
        "circuit_failures": "4"}


@pytest.fixture
def fast_retries():
    """``[fx_source]`` with tiny waits, for the builds of this process; restored after."""
    config = luigi.configuration.get_config()
    before = dict(config.items("fx_source")) if config.has_section("fx_source") else {}
    if not config.has_section("fx_source"):
        config.add_section("fx_source")
    for key, value in FAST.items():
        config.set("fx_source", key, value)
    yield FAST
    config.remove_section("fx_source")
    config.add_section("fx_source")
    for key, value in before.items():
        config.set("fx_source", key, value)


@pytest.fixture
def api(rates_api, fast_retries, tmp_landing, landing_copier):
    """The rates API, fast retries, and the sample SO day of ``D`` in the landing area."""
    landing_copier(tmp_landing, D)
    return rates_api


# --- helpers -----------------------------------------------------------------------


def fx_outputs(lake: Path, day: dt.date = D) -> Dict[str, bool]:
    part = f"date={day.isoformat()}"
    return {"pages": (lake / "bronze" / "fx" / part / "pages.jsonl").exists(),
            "manifest": (lake / "bronze" / "fx" / part / "_manifest.json").exists(),
            "silver": (lake / "silver" / "fx" / part / "data.parquet").exists(),
            "gold": (lake / "gold" / "so_revenue_usd" / part / "data.parquet").exists()}


NOTHING = {"pages": False, "manifest": False, "silver": False, "gold": False}
EVERYTHING = {"pages": True, "manifest": True, "silver": True, "gold": True}


def error_lines(capsys) -> List[str]:
    captured = capsys.readouterr()
    return [line for line in (captured.out + captured.err).splitlines()
            if line.startswith("error:")]


def assert_no_token(root: Path, *texts: str, token: str = TEST_TOKEN) -> None:
    """The token is in no file below ``root`` (lake, logs, records) and in none of ``texts``."""
    for path in Path(root).rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), f"token in {path}"
    for text in texts:
        assert token not in text


def expected_revenue_usd(sales: List[dict], rates: Dict[str, str]) -> List[dict]:
    """The contract's so_revenue_usd, computed independently with ``decimal``."""
    rate = {c: decimal.Decimal(r) for c, r in rates.items()}
    rate.setdefault("USD", decimal.Decimal(1))
    summed: Dict[tuple, decimal.Decimal] = {}
    for row in sales:
        key = (row["region"], row["currency"])
        summed[key] = summed.get(key, decimal.Decimal(0)) + row["revenue"]
    regions: Dict[str, list] = {}
    with decimal.localcontext(decimal.Context(prec=80)):
        for (region, currency), revenue in summed.items():
            usd = (revenue / rate[currency]).quantize(decimal.Decimal("0.01"),
                                                      rounding=decimal.ROUND_HALF_UP)
            total = regions.setdefault(region, [decimal.Decimal("0.00"), 0])
            total[0] += usd
            total[1] += 1
    return [{"region": r, "revenue_usd": t, "currencies": n}
            for r, (t, n) in sorted(regions.items())]


def gold_rows(lake: Path, table: str, day: dt.date = D) -> List[dict]:
    path = lake / "gold" / table / f"date={day.isoformat()}" / "data.parquet"
    return pq.read_table(path).to_pylist()


DROP = object()  # a field left out of a page


def page(number: int = 1, rates=(("EUR", "0.921350"),), next_page=None, **fields) -> tuple:
    """``(number, url, body)`` of a page as the contract shapes it; ``fields`` override."""
    body = {"date": ISO, "base": "USD", "page": number, "next_page": next_page,
            "rates": DROP if rates is DROP else [{"currency": c, "rate": r} for c, r in rates]}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not DROP}
    return number, f"http://rates.test/rates?date={ISO}&page={number}", json.dumps(body).encode()


# --- silver: the pages, judged ------------------------------------------------------------


def test_silver_is_currency_and_exact_rate_sorted_with_usd_added():
    table = read_rates([page(1, [("JPY", "155.123456"), ("EUR", "0.921350")], next_page=2),
                        page(2, [("CHF", "0.5000000")])], D)
    assert table.schema == FX_SCHEMA
    assert table.to_pylist() == [
        {"currency": "CHF", "rate": decimal.Decimal("0.500000")},
        {"currency": "EUR", "rate": decimal.Decimal("0.921350")},
        {"currency": "JPY", "rate": decimal.Decimal("155.123456")},
        {"currency": "USD", "rate": decimal.Decimal("1.000000")}]


BREACHES = [
    ("not JSON", [(1, "u", b"<html>busy</html>")], "page 1 (u): not JSON"),
    ("not an object", [(1, "u", b"[1, 2]")], "page 1 (u): not a JSON object"),
    ("lacks date", [page(date=DROP)], "lacks date"),
    ("lacks base", [page(base=DROP)], "lacks base"),
    ("lacks rates", [page(rates=DROP)], "lacks rates"),
    ("another date", [page(date="2026-01-26")], "date is '2026-01-26', not 2026-01-27"),
    ("another base", [page(base="EUR")], "base is 'EUR', not USD"),
    ("repeated currency", [page(1, [("EUR", "0.9")], next_page=2), page(2, [("EUR", "0.9")])],
     "page 2 (http://rates.test/rates?date=2026-01-27&page=2): currency EUR is repeated "
     "(first on page 1)"),
    ("negative rate", [page(rates=[("EUR", "-0.92")])],
     "rate of EUR is '-0.92', not a positive decimal"),
    ("zero rate", [page(rates=[("EUR", "0.000000")])], "not a positive decimal"),
    ("seven places", [page(rates=[("EUR", "0.9213501")])], "more than 6 decimal places"),
    ("a JSON number", [page(rates=[("EUR", 0.92)])], "rate of EUR is 0.92, not a decimal string"),
    ("an exponent", [page(rates=[("EUR", "9.2E-1")])], "not a positive decimal"),
    ("thousands separator", [page(rates=[("JPY", "1,155.5")])], "not a positive decimal"),
    ("too large", [page(rates=[("XAU", "1000000000000")])], "too large for decimal128(18, 6)"),
    ("a lower-case code", [page(rates=[("eur", "0.9")])], "currency 'eur' is not three"),
    ("USD other than 1", [page(rates=[("USD", "0.9")])], "rate of USD is 0.9, but the base is USD"),
    ("a broken next_page", [page(next_page="2")], 'next_page "2" is not a later page number'),
    ("a key named twice", [(1, "u", page()[2][:-1] + b', "rates": []}')],
     'page 1 (u): names "rates" twice in one object'),
    ("a rate named twice", [(1, "u", page()[2].replace(b'"rate": "0.921350"',
                                                        b'"rate": "0.92", "rate": "0.93"'))],
     'names "rate" twice in one object'),
]


@pytest.mark.parametrize("pages,problem", [b[1:] for b in BREACHES], ids=[b[0] for b in BREACHES])
def test_a_page_breaking_the_contract_is_an_error_naming_the_page_and_the_problem(pages, problem):
    with pytest.raises(ContractError) as raised:
        read_rates(pages, D)
    assert str(raised.value).startswith("fx rates of 2026-01-27, page ")
    assert problem in str(raised.value)


# --- gold: so_revenue_usd, exactly --------------------------------------------------------


def sales(*rows) -> pa.Table:
    return pa.table({"region": [r[0] for r in rows], "currency": [r[1] for r in rows],
                     "revenue": pa.array([decimal.Decimal(r[2]) for r in rows],
                                         pa.decimal128(18, 2))})


def rates(**given) -> pa.Table:
    return read_rates([page(rates=list(given.items()))], D)


def test_each_currency_is_rounded_half_away_from_zero_then_summed_per_region():
    table = so_revenue_usd(sales(("West", "EUR", "0.01"), ("West", "GBP", "0.01"),
                                 ("East", "EUR", "0.03"), ("East", "EUR", "0.00")),
                           rates(EUR="2", GBP="2"), D)
    assert table.schema == USD_SCHEMA
    # 0.005 -> 0.01 twice (a sum rounded once would give 0.01); 0.015 -> 0.02
    assert table.to_pylist() == [
        {"region": "East", "revenue_usd": decimal.Decimal("0.02"), "currencies": 1},
        {"region": "West", "revenue_usd": decimal.Decimal("0.02"), "currencies": 2}]


def test_revenue_per_currency_is_summed_over_skus_before_it_is_converted():
    table = so_revenue_usd(sales(("North", "JPY", "100.00"), ("North", "JPY", "55.12")),
                           rates(JPY="155.123456"), D)
    assert table.to_pylist() == [
        {"region": "North", "revenue_usd": decimal.Decimal("1.00"), "currencies": 1}]


def test_a_currency_without_a_rate_that_day_names_the_currency_and_the_date():
    with pytest.raises(ContractError, match="no FX rate for JPY on 2026-01-27"):
        so_revenue_usd(sales(("West", "USD", "1.00"), ("West", "JPY", "5.00")), rates(EUR="0.9"), D)


# --- the declaration words ----------------------------------------------------------------


def http_source_word(**given) -> HttpSource:
    return HttpSource(url_key="toy_api_url", token_variable="ETL_TOY_TOKEN", path="toys",
                      section="toy_source", read=read_rates, schema=FX_SCHEMA, records="rates",
                      **given)


def test_a_dataset_with_an_http_source_gets_the_http_stages_from_the_word_not_its_name():
    toy = Dataset(code="RATESTOY", folder="ratestoy", source=http_source_word(),
                  dedup_keys=("currency",))
    classes = make_tasks(toy)
    assert issubclass(classes["LandingRATESTOY"], HttpLandingTask)
    assert issubclass(classes["BronzeRATESTOY"], HttpBronzeTask)
    assert issubclass(classes["SilverRATESTOY"], PagesSilverTask)
    assert toy.landing_name(D) == "pages.jsonl" and toy.silver_schema == FX_SCHEMA


def test_an_http_source_and_landing_columns_do_not_mix():
    with pytest.raises(DeclarationError, match="has no file_prefix"):
        Dataset(code="MIXED", folder="mixed", file_prefix="zheMIXED", source=http_source_word(),
                dedup_keys=("currency",))


def test_a_gold_input_is_read_for_its_own_day_only():
    with pytest.raises(DeclarationError, match="own day only"):
        Input("sales", "so", MONTH_TO_DATE, gold="so_daily_sales")


def test_a_gold_input_must_name_columns_its_table_has():
    reading = GoldFunction(name="toy_usd", task="GoldToyUSD", function=so_revenue_usd, inputs=(
        Input("sales", "so", columns=("region", "nope"), gold="so_daily_sales"),
        Input("fx", columns=("currency", "rate"))))
    toy = Dataset(code="USDTOY", folder="usdtoy", source=http_source_word(),
                  dedup_keys=("currency",), gold=(reading,))
    assert clashes(toy, DATASETS.values()) == [
        "gold table toy_usd reads nope of gold table 'so_daily_sales', which has no such column"]


# --- configuration ------------------------------------------------------------------------


def luigi_cfg(**sections) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser()
    parsed.read_dict(sections)
    return parsed


def test_etl_fx_api_url_wins_over_luigi_cfg_and_the_token_comes_from_the_environment():
    config = luigi_cfg(etl_targets={"fx_api_url": "https://cfg.invalid/v1/"})
    env = {"ETL_FX_TOKEN": "t0ken"}
    assert http_source("fx_api_url", "ETL_FX_TOKEN", "fx_source", env, config).url == \
        "https://cfg.invalid/v1"
    found = http_source("fx_api_url", "ETL_FX_TOKEN", "fx_source",
                        {**env, "ETL_FX_API_URL": "https://env.invalid/v2"}, config)
    assert (found.url, found.token) == ("https://env.invalid/v2", "t0ken")
    assert "t0ken" not in repr(found)


def test_retry_breaker_and_timeouts_come_from_the_source_section():
    config = luigi_cfg(etl_targets={"fx_api_url": "https://cfg.invalid"},
                       fx_source={"read_timeout": "2.5", "max_attempts": "7",
                                  "circuit_failures": "3"})
    found = http_source("fx_api_url", "ETL_FX_TOKEN", "fx_source", {}, config)
    assert (found.read_timeout, found.max_attempts, found.circuit_failures) == (2.5, 7, 3)
    assert (found.connect_timeout, found.backoff_initial) == (5.0, 0.5)  # the defaults


@pytest.mark.parametrize("sections,message", [
    ({}, "fx_api_url is not configured: set it in luigi.cfg [etl_targets] or export "
         "ETL_FX_API_URL"),
    ({"etl_targets": {"fx_api_url": "https://x"}, "fx_source": {"max_attempts": "0"}},
     "[fx_source] max_attempts = '0': expected a whole number >= 1"),
    ({"etl_targets": {"fx_api_url": "https://x"}, "fx_source": {"read_timeout": "soon"}},
     "[fx_source] read_timeout = 'soon': expected a number"),
])
def test_a_missing_url_or_a_bad_limit_is_a_config_error(sections, message):
    with pytest.raises(ConfigError) as raised:
        http_source("fx_api_url", "ETL_FX_TOKEN", "fx_source", {}, luigi_cfg(**sections))
    assert message in str(raised.value)


@pytest.mark.parametrize("token,problem", [
    ("ab\ncd", "contains a line break at position 3"),
    ("ab\r\ncd", "contains a line break at position 3"),
    ("abc\td", "contains a tab at position 4"),
    ("ab cd", "contains a space at position 3"),
    ("a\x00bc", "contains a control character at position 2"),
    ("abc\x7f", "contains a control character at position 4"),
    ("caf\u00e9", "contains a character that is not printable ASCII at position 4"),
    ("tok\u20acn", "contains a character that is not printable ASCII at position 4"),
    ("ab\u2028cd", "contains a character that is not printable ASCII at position 3"),
], ids=["LF", "CRLF", "tab", "space", "NUL", "DEL", "Latin-1", "euro", "line separator"])
def test_a_token_is_refused_for_its_first_character_a_header_cannot_carry(token, problem):
    assert token_problem(token) == problem


def test_every_visible_ascii_character_may_be_in_a_token():
    assert token_problem("".join(chr(code) for code in range(0x21, 0x7F))) is None


@pytest.mark.parametrize("header,seconds", [("3", 3.0), ("0.25", 0.25), (None, None),
                                            ("soon", None), ("-1", None)])
def test_retry_after_is_read_as_seconds(header, seconds):
    assert retry_after(header) == seconds


def test_retry_after_may_be_an_http_date():
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    assert 25 < retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 30


# --- the whole build against the rates API ---------------------------------------------------


def test_fx_builds_pages_rates_and_revenue_usd_matching_an_independent_computation(
        api, tmp_lake, tmp_path, capsys):
    assert main(["fx", "--date", ISO]) == 0
    part = tmp_lake / "bronze" / "fx" / f"date={ISO}"
    bodies = api.bodies(ISO)
    assert len(bodies) == 2
    assert (part / "pages.jsonl").read_bytes() == b"".join(b + b"\n" for b in bodies)
    manifest = json.loads((part / "_manifest.json").read_text())
    assert manifest["url"] == f"{api.url}/rates?date={ISO}"
    assert [p["bytes"] for p in manifest["pages"]] == [len(b) for b in bodies]
    assert manifest["rows"] == 4 and manifest["fetched_at"] and manifest["sha256"]
    silver = pq.read_table(tmp_lake / "silver" / "fx" / f"date={ISO}" / "data.parquet")
    assert silver.schema.equals(FX_SCHEMA)
    assert [r["currency"] for r in silver.to_pylist()] == ["CHF", "EUR", "GBP", "JPY", "USD"]
    expected = expected_revenue_usd(gold_rows(tmp_lake, "so_daily_sales"), SAMPLE_RATES)
    assert expected and gold_rows(tmp_lake, "so_revenue_usd") == expected
    assert max(r["currencies"] for r in expected) == 2  # EUR was converted as well as USD
    output = capsys.readouterr()
    assert_no_token(tmp_path, output.out, output.err)
    asked = len(api.requests)
    assert asked == 2  # page 1 asked once: the existence check's answer is landed
    assert main(["fx", "--date", ISO]) == 0
    assert len(api.requests) == asked  # a rerun with everything built asks nothing


FAULTS = {
    "429 with Retry-After": lambda api: api.fail(429, times=2, page=1, retry_after="0.25"),
    "500s": lambda api: api.fail(500, times=3, page=2),
    "an answer slower than the read timeout": lambda api: api.slow(1.0, times=1, page=1),
    "dropped connections": lambda api: api.drop(times=2, page=2),
    "connections cut in the middle of an answer": lambda api: api.cut(times=2, page=2),
    "an answer dripped slower than answer_timeout": lambda api: api.drip(0.05, times=1, page=1),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_transient_fault_recovers_within_the_retry_budget(api, tmp_lake, tmp_path, capsys,
                                                           fault):
    fault(api)
    assert main(["fx", "--date", ISO]) == 0
    assert fx_outputs(tmp_lake) == EVERYTHING
    manifest = json.loads((tmp_lake / "bronze" / "fx" / f"date={ISO}" / "_manifest.json")
                          .read_text())
    assert max(p["attempts"] for p in manifest["pages"]) > 1
    assert gold_rows(tmp_lake, "so_revenue_usd") == expected_revenue_usd(
        gold_rows(tmp_lake, "so_daily_sales"), SAMPLE_RATES)
    output = capsys.readouterr()
    assert_no_token(tmp_path, output.out, output.err)


def test_retry_after_is_honoured(api, tmp_lake):
    api.fail(429, times=2, page=1, retry_after="0.25")
    assert main(["fx", "--date", ISO]) == 0
    first = [r.at for r in api.requests_for(page=1)]
    assert len(first) == 3 and all(b - a >= 0.25 for a, b in zip(first, first[1:]))


def test_a_persistent_fault_opens_the_circuit_and_fails_the_date_in_one_line(
        api, tmp_lake, tmp_path, capsys):
    api.fail(500)
    assert main(["fx", "--date", ISO]) == 5
    [line] = error_lines(capsys)
    assert line == (f"error: fx API circuit open after 4 consecutive failures (last: HTTP 500 "
                    f"from {api.url}/rates?date={ISO}&page=1); no more requests to it in this run")
    assert len(api.requests) == 4  # bronze does not ask again what the existence check could not
    assert fx_outputs(tmp_lake) == NOTHING
    [record] = run_records(tmp_lake, "fx")
    assert "circuit open after 4 consecutive failures" in record["error"]
    marker = tmp_lake / "_ops" / "failures" / "fx" / f"date={ISO}" / "BronzeFX.json"
    assert "circuit open after 4 consecutive failures" in json.loads(marker.read_text())["error"]
    assert_no_token(tmp_path)
    api.clear()
    assert main(["fx", "--date", ISO]) == 0
    assert fx_outputs(tmp_lake) == EVERYTHING


def test_a_circuit_opening_on_a_later_page_lands_nothing_of_the_date(
        api, tmp_lake, tmp_path, capsys):
    api.fail(503, page=2)
    assert main(["fx", "--date", ISO]) == 5
    [line] = error_lines(capsys)
    assert "circuit open after 4 consecutive failures (last: HTTP 503" in line
    assert f"date={ISO}&page=2" in line
    assert fx_outputs(tmp_lake) == NOTHING  # page 1 arrived, but half a date never lands
    marker = json.loads((tmp_lake / "_ops" / "failures" / "fx" / f"date={ISO}" / "BronzeFX.json")
                        .read_text())
    assert "circuit open" in marker["error"]
    assert_no_token(tmp_path)
    api.clear()
    assert main(["fx", "--date", ISO]) == 0
    assert fx_outputs(tmp_lake) == EVERYTHING


def test_an_open_circuit_is_not_called_again_for_the_rest_of_the_run(
        api, tmp_lake, tmp_landing, landing_copier, capsys):
    landing_copier(tmp_landing, D - dt.timedelta(days=1))
    api.fail(500)
    assert main(["fx", "--start", (D - dt.timedelta(days=1)).isoformat(), "--end", ISO]) == 5
    assert len(api.requests) == 4  # the second date fails at once
    assert "circuit open" in error_lines(capsys)[0]


def test_rates_not_published_yet_are_a_missing_input_and_land_nothing(api, tmp_lake, capsys):
    api.unpublished.add(ISO)
    assert main(["fx", "--date", ISO]) == 4
    [line] = error_lines(capsys)
    assert line == f"error: missing landing file: {api.url}/rates?date={ISO}"
    assert fx_outputs(tmp_lake) == NOTHING and len(api.requests) == 1
    api.unpublished.clear()
    assert main(["fx", "--date", ISO]) == 0
    assert fx_outputs(tmp_lake) == EVERYTHING


def test_a_malformed_page_lands_in_bronze_and_fails_silver_naming_the_page(
        api, tmp_lake, tmp_path, capsys):
    api.serve(b"<html>maintenance</html>", page=2)
    assert main(["fx", "--date", ISO]) == 5
    [line] = error_lines(capsys)
    assert line.startswith(f"error: fx rates of {ISO}, page 2 ({api.url}/rates?date={ISO}&page=2)"
                           f": not JSON")
    part = tmp_lake / "bronze" / "fx" / f"date={ISO}"
    assert (part / "pages.jsonl").read_bytes() == \
        api.body(ISO, 1) + b"\n<html>maintenance</html>\n"  # the raw evidence
    assert json.loads((part / "_manifest.json").read_text())["rows"] is None
    assert fx_outputs(tmp_lake) == {"pages": True, "manifest": True, "silver": False,
                                    "gold": False}
    api.clear()
    assert main(["fx", "--date", ISO]) == 5  # bronze still holds the broken page
    assert main(["invalidate", "fx", "--date", ISO]) == 0
    assert main(["fx", "--date", ISO]) == 0
    assert fx_outputs(tmp_lake) == EVERYTHING
    assert_no_token(tmp_path)


def test_a_page_of_another_date_is_a_contract_error(api, tmp_lake, capsys):
    api.serve(api.body("2026-01-26", 1), page=1)
    assert main(["fx", "--date", ISO]) == 5
    [line] = error_lines(capsys)
    assert line.endswith("date is '2026-01-26', not 2026-01-27")
    assert not fx_outputs(tmp_lake)["silver"]


def test_a_refused_token_fails_at_once_and_is_never_shown(api, tmp_lake, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.setenv("ETL_FX_TOKEN", "wrong-token-d41d8cd98f")
    assert main(["fx", "--date", ISO]) == 5
    [line] = error_lines(capsys)
    assert "HTTP 401 (the token was refused: check ETL_FX_TOKEN)" in line
    assert len(api.requests) == 1 and not api.requests[0].authorized
    assert_no_token(tmp_path, line, token="wrong-token-d41d8cd98f")


def fx_command(tmp_path: Path, api, **env) -> tuple:
    """``etl-targets fx --date D`` in a subprocess, as cron runs it, with an alert command.

    Returns:
        (exit status, stdout + stderr, the alert's ``ETL_FAILURE_LINE`` or None).
    """
    alert = tmp_path / "alert.txt"
    environment = cli_environment(
        tmp_path / "lake", tmp_path / "landing", tmp_path / "logs",
        **{"ETL_FX_API_URL": api.url, "ETL_FX_TOKEN": TEST_TOKEN,
           "ETL_ALERT_CMD": f'printf "%s\\n" "$ETL_FAILURE_LINE" > {alert}', **env})
    done = run_command(etl_argv("fx", "--date", ISO), cwd=tmp_path, env=environment)
    return done.returncode, done.stdout + done.stderr, \
        alert.read_text().strip() if alert.exists() else None


def assert_failed_date_names(tmp_path: Path, text: str) -> None:
    """The date's failure marker, the run record and failures.log all carry the error."""
    lake = tmp_path / "lake"
    marker = lake / "_ops" / "failures" / "fx" / f"date={ISO}" / "BronzeFX.json"
    assert text in json.loads(marker.read_text())["error"]
    [record] = run_records(lake, "fx")
    assert text in record["error"]
    assert text in (tmp_path / "logs" / "failures.log").read_text()


UNSENDABLE_TOKENS = {
    "a line break": ("sekret-TOKEN-4242xyz\nsecondhalf99",
                     "ETL_FX_TOKEN contains a line break at position 21"),
    "a carriage return": ("sekret-TOKEN-4242xyz\r\nsecondhalf99",
                          "ETL_FX_TOKEN contains a line break at position 21"),
    "a tab": ("sekret-TOKEN-4242xyz\tsecondhalf99", "ETL_FX_TOKEN contains a tab at position 21"),
    "a character beyond Latin-1": ("sekret-TOKEN-4242\u20acsecondhalf99",
                                   "ETL_FX_TOKEN contains a character that is not printable "
                                   "ASCII at position 18"),
    "a Latin-1 letter": ("sekret-TOKEN-4242\u00e9secondhalf99",
                         "ETL_FX_TOKEN contains a character that is not printable ASCII at "
                         "position 18"),
}


@pytest.mark.parametrize("token,problem", UNSENDABLE_TOKENS.values(),
                         ids=UNSENDABLE_TOKENS.keys())
def test_a_token_that_cannot_be_a_header_is_refused_before_any_request_and_never_shown(
        api, tmp_path, token, problem):
    code, output, alert = fx_command(tmp_path, api, ETL_FX_TOKEN=token)
    # A setting only the FX tables need fails their dates, as a missing one does
    # (README "FX rates"): `all` still builds every other table.
    assert code == 5, output
    [line] = [line for line in output.splitlines() if line.startswith("error:")]
    assert line == (f"error: {problem}: a bearer token may hold only visible ASCII characters "
                    f"(no spaces, tabs, line breaks or other control characters); nothing was "
                    f"sent to the fx API")
    assert api.requests == []
    assert_failed_date_names(tmp_path, problem)
    assert alert is not None and problem in alert
    assert fx_outputs(tmp_path / "lake") == NOTHING
    for part in ("sekret-TOKEN-4242", "secondhalf99"):  # each side of the bad character
        assert_no_token(tmp_path, output, token=part)


@pytest.mark.parametrize("unset,line", [
    ("ETL_FX_TOKEN", "error: ETL_FX_TOKEN is not set: the fx API needs its bearer token in the "
                     "environment"),
    ("ETL_FX_API_URL", "error: fx_api_url is not configured: set it in luigi.cfg [etl_targets] "
                       "or export ETL_FX_API_URL"),
], ids=["no token", "no URL"])
def test_a_missing_fx_setting_fails_the_date_in_one_line_naming_it(api, tmp_path, unset, line):
    code, output, alert = fx_command(tmp_path, api, **{unset: None})
    assert code == 5, output  # as above: a failure of the FX dates, not of the whole run
    assert [found for found in output.splitlines() if found.startswith("error:")] == [line]
    assert api.requests == []
    assert_failed_date_names(tmp_path, line[len("error: "):])
    assert_no_token(tmp_path, output)


def test_whitespace_around_the_token_is_stripped_not_refused(api, tmp_lake, monkeypatch):
    monkeypatch.setenv("ETL_FX_TOKEN", f"  {TEST_TOKEN}\r\n")
    assert main(["fx", "--date", ISO]) == 0
    assert api.requests and all(request.authorized for request in api.requests)


def test_an_error_a_request_raises_names_the_page_and_never_the_token(
        api, tmp_lake, tmp_path, monkeypatch, capsys):
    def send(adapter, request, **kwargs):  # as requests words a header it refuses
        raise requests.exceptions.InvalidHeader(
            f"Invalid header value: {request.headers['Authorization']!r}")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    assert main(["fx", "--date", ISO]) == 5
    output = capsys.readouterr()
    [line] = [line for line in (output.out + output.err).splitlines()
              if line.startswith("error:")]
    assert line == (f"error: {api.url}/rates?date={ISO}&page=1: request failed (InvalidHeader: "
                    f"Invalid header value: 'Bearer REDACTED'); not retried")
    marker = tmp_lake / "_ops" / "failures" / "fx" / f"date={ISO}" / "BronzeFX.json"
    assert "request failed (InvalidHeader" in json.loads(marker.read_text())["error"]
    log_file = tmp_path / "logs" / "fx" / f"fx-{ISO}.log"
    assert "Bearer REDACTED" in log_file.read_text()  # the traceback, scrubbed
    assert_no_token(tmp_path, output.out, output.err)


def test_input_is_refused_for_a_dataset_landing_from_its_api(capsys):
    assert main(["fx", "--date", ISO, "--input", "rates.json"]) == 2


# --- plain luigi, and the S3 lake ----------------------------------------------------------


def luigi_build(lake, landing, logs, api, tmp_path):
    env = cli_environment(lake, landing, logs, ETL_FX_API_URL=api.url, ETL_FX_TOKEN=TEST_TOKEN)
    done = run_command(luigi_argv("GoldSORevenueUSD", "--date", ISO, "--local-scheduler"),
                       cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, explain(done)
    assert_no_token(tmp_path, done.stdout, done.stderr)
    return done


def test_plain_luigi_builds_revenue_usd_on_a_local_lake(api, tmp_lake, tmp_landing, tmp_path):
    luigi_build(tmp_lake, tmp_landing, tmp_path / "logs", api, tmp_path)
    assert gold_rows(tmp_lake, "so_revenue_usd") == expected_revenue_usd(
        gold_rows(tmp_lake, "so_daily_sales"), SAMPLE_RATES)
    assert fx_outputs(tmp_lake) == EVERYTHING


@pytest.mark.s3
def test_fx_and_plain_luigi_build_revenue_usd_on_the_s3_lake(api, s3_env, s3fs_client,
                                                           tmp_landing, tmp_path, monkeypatch):
    def rows(lake: str, table: str) -> List[dict]:
        with s3fs_client.open(f"{lake}/gold/{table}/date={ISO}/data.parquet", "rb") as handle:
            return pq.read_table(handle).to_pylist()

    cli_lake, luigi_lake = f"s3://{s3_env}/cli", f"s3://{s3_env}/luigi"
    monkeypatch.setenv("ETL_LAKE_ROOT", cli_lake)
    assert main(["fx", "--date", ISO]) == 0
    luigi_build(luigi_lake, tmp_landing, tmp_path / "logs", api, tmp_path)
    for lake in (cli_lake, luigi_lake):
        expected = expected_revenue_usd(rows(lake, "so_daily_sales"), SAMPLE_RATES)
        assert expected and rows(lake, "so_revenue_usd") == expected
        assert s3fs_client.cat(f"{lake}/bronze/fx/date={ISO}/pages.jsonl") == \
            b"".join(b + b"\n" for b in api.bodies(ISO))
    for key in s3fs_client.find(s3_env):
        assert TEST_TOKEN.encode() not in s3fs_client.cat(key), key
