"""The one place that reads configuration.

Roots come from ``luigi.cfg`` section ``[etl_targets]`` (optionally overlaid
by an environment section such as ``[etl_targets.prod]``) and are overridden
by the ``ETL_LANDING_ROOT`` / ``ETL_LAKE_ROOT`` environment variables, as the
data contract says. Everything else receives a :class:`Settings` value.
"""

import dataclasses
import os
from typing import Dict, List, Mapping, Optional

from etl_targets.errors import ConfigError

SECTION = "etl_targets"

#: setting name -> environment variable that wins over luigi.cfg
ENVIRONMENT_OVERRIDES = {
    "landing_root": "ETL_LANDING_ROOT",
    "lake_root": "ETL_LAKE_ROOT",
    "log_dir": "ETL_LOG_DIR",
}

DEFAULTS = {"log_dir": "logs"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where a run reads and writes.

    Attributes:
        landing_root: fsspec URL of the ERP drop area (read only).
        lake_root: fsspec URL of the lake (bronze/silver/gold/_ops).
        log_dir: local folder for per-run log files.
        env: the configuration set chosen with ``--env``, or None.
    """

    landing_root: str
    lake_root: str
    log_dir: str = DEFAULTS["log_dir"]
    env: Optional[str] = None


def _luigi_config():
    # Imported here so that modules below config never pay for luigi.
    import luigi.configuration

    return luigi.configuration.get_config()


def load_settings(env: Optional[str] = None, environ: Mapping[str, str] = os.environ,
                  config=None) -> Settings:
    """Resolves the roots for one run.

    Precedence: environment variable > ``[etl_targets.<env>]`` >
    ``[etl_targets]`` > built-in default. With ``env`` given, an environment
    variable that contradicts the env section is refused rather than obeyed,
    so a dev run can never write to the prod lake because someone left
    ``ETL_LAKE_ROOT`` exported.

    Args:
        env: configuration set name (``dev``, ``prod``...), or None.
        environ: the process environment (injected by tests).
        config: a ConfigParser-like object; defaults to luigi's.

    Raises:
        ConfigError: unknown env, missing root, or a contradicting override.
    """
    config = _luigi_config() if config is None else config
    env_section = f"{SECTION}.{env}" if env else None
    if env_section and not config.has_section(env_section):
        raise ConfigError(f"unknown --env {env!r}: luigi.cfg has no [{env_section}] section")
    values = {}
    for key in ("landing_root", "lake_root", "log_dir"):
        value = _option(config, SECTION, key)
        env_value = _option(config, env_section, key) if env_section else None
        if env_value is not None:
            value = env_value
        override = environ.get(ENVIRONMENT_OVERRIDES[key])
        if override:
            if env_value is not None and override != env_value:
                raise ConfigError(
                    f"{ENVIRONMENT_OVERRIDES[key]} is set and contradicts {key} of "
                    f"[{env_section}]; unset it or drop --env")
            value = override
        if value is None:
            value = DEFAULTS.get(key)
        if not value:
            raise ConfigError(
                f"{key} is not configured: set it in luigi.cfg [{SECTION}] "
                f"or export {ENVIRONMENT_OVERRIDES[key]}")
        # One spelling per root: "s3://lake/erp/" and "s3://lake/erp" are the
        # same lake, and roots are part of luigi's task ids.
        values[key] = value.rstrip("/") or value
    return Settings(env=env, **values)


def business_timezone(environ: Mapping[str, str] = os.environ, config=None) -> Optional[str]:
    """The IANA time zone that ``today``/``yesterday``/``-N`` dates are reckoned in.

    ``ETL_TIMEZONE`` wins over ``[etl_targets] timezone``; neither set means
    the machine's own zone. One zone per installation: ``--env`` sections do
    not change it (a business day is the same day for dev and prod).
    """
    if environ.get("ETL_TIMEZONE"):
        return environ["ETL_TIMEZONE"].strip()
    return _option(_luigi_config() if config is None else config, SECTION, "timezone")


#: what ``etl-targets gc`` keeps: ``retention_<stage>`` keys of ``[etl_targets]``
RETENTION_STAGES = ("bronze", "silver", "gold", "trash")


def retention(env: Optional[str] = None, config=None) -> Dict[str, Optional[str]]:
    """``retention_bronze``, ``_silver``, ``_gold``, ``_trash``: how long ``gc`` keeps each.

    Durations such as ``7y``, ``2y``, ``12w``, ``30d`` (parsed by
    :mod:`etl_targets.runs.retention`); empty or absent means forever, so
    nothing is removed unless someone wrote a limit down. ``[etl_targets.<env>]``
    wins over ``[etl_targets]``, an empty value there included (a dev lake may
    keep less than prod, or prod keep forever what dev drops). No environment
    variable: how long data is kept is a decision, not a per-shell setting.

    Returns:
        stage -> the configured text, or None for forever.

    Raises:
        ConfigError: an unknown ``env``.
    """
    config = _luigi_config() if config is None else config
    env_section = f"{SECTION}.{env}" if env else None
    if env_section and not config.has_section(env_section):
        raise ConfigError(f"unknown --env {env!r}: luigi.cfg has no [{env_section}] section")
    found = {}
    for stage in RETENTION_STAGES:
        key = f"retention_{stage}"
        section = env_section if env_section and config.has_option(env_section, key) else SECTION
        found[stage] = _option(config, section, key)
    return found


def dataset_modules(config=None) -> List[str]:
    """``[etl_targets] datasets``: where datasets declared outside the package live.

    Comma- or line-separated entries, each a module (``acme_etl``) or
    ``module:callable`` (see :mod:`etl_targets.datasets.external`). Code, not
    environment: ``--env`` sections and variables do not change it.
    """
    value = _option(_luigi_config() if config is None else config, SECTION, "datasets") or ""
    return [entry.strip() for entry in value.replace("\n", ",").split(",") if entry.strip()]


@dataclasses.dataclass(frozen=True)
class HttpSourceSettings:
    """How to reach one HTTP source (the FX rates API), and how patient to be with it.

    Attributes:
        url: the API's base URL, without a trailing ``/``.
        token: the bearer token, surrounding whitespace stripped ("" when its
            variable is not set); never in ``repr``, never written anywhere.
            Only visible ASCII can be sent: any other character is refused
            before a request (:func:`token_problem`).
        token_variable: the environment variable it came from (named in messages).
        connect_timeout, read_timeout: seconds one request may wait to connect
            and between bytes of the answer.
        answer_timeout: seconds one answer may take in all, however steadily
            its bytes come.
        max_attempts: requests per page before giving up (1: no retries).
        backoff_initial, backoff_max: the exponential backoff's first and
            largest wait in seconds (each wait is drawn at random below it).
        retry_after_max: the longest ``Retry-After`` waited for; a server
            asking for more fails the request.
        circuit_failures: consecutive failures after which the source's
            circuit opens for the rest of the build.
    """

    url: str
    token: str = dataclasses.field(repr=False)
    token_variable: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    answer_timeout: float = 120.0
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    circuit_failures: int = 5


def token_problem(token: str) -> Optional[str]:
    r"""Why ``token`` cannot be sent as ``Authorization: Bearer <token>``, or None.

    A token may hold only visible ASCII, ``!`` to ``~`` (RFC 9110's VCHAR,
    which RFC 6750's token characters are a part of): a space, a tab, a line
    break, another control character or anything beyond ASCII (which requests
    would send as Latin-1 bytes, or refuse with an error quoting the header) is
    refused. The answer names the first such character's kind and its
    position (from 1, in the token as stripped), never the token.

    >>> token_problem("abc-123_~+/=")
    >>> token_problem("sekret\nhalf")
    'contains a line break at position 7'
    >>> token_problem("caf\u00e9")
    'contains a character that is not printable ASCII at position 4'
    """
    for position, char in enumerate(token, 1):
        if "!" <= char <= "~":
            continue
        if char in "\r\n":
            kind = "a line break"
        elif char == " ":
            kind = "a space"
        elif char == "\t":
            kind = "a tab"
        elif char < " " or char == "\x7f":
            kind = "a control character"
        else:
            kind = "a character that is not printable ASCII"
        return f"contains {kind} at position {position}"
    return None


#: the knobs of an HTTP source's ``[<section>]`` and their smallest allowed value
HTTP_SOURCE_LIMITS = {"connect_timeout": 0.001, "read_timeout": 0.001, "answer_timeout": 0.001,
                      "max_attempts": 1, "backoff_initial": 0.0, "backoff_max": 0.0,
                      "retry_after_max": 0.0, "circuit_failures": 1}


def http_source(url_key: str, token_variable: str, section: str,
                environ: Mapping[str, str] = os.environ, config=None) -> HttpSourceSettings:
    """Resolves one HTTP source: its URL, its token, and ``[<section>]``'s limits.

    The URL is ``[etl_targets] <url_key>``; ``ETL_<URL_KEY>`` wins. The token
    only ever comes from the environment; an absent one, or one that cannot
    be sent as a header value, is refused when a request is about to be made
    (``status`` never asks the API, so it does not need it). One source per
    installation: ``--env`` sections do not change it (export
    ``ETL_<URL_KEY>`` per run instead).

    Args:
        url_key: e.g. ``fx_api_url`` (its variable: ``ETL_FX_API_URL``).
        token_variable: e.g. ``ETL_FX_TOKEN``.
        section: the section of timeouts, retries and breaker (``fx_source``);
            an absent key keeps the default of :class:`HttpSourceSettings`.

    Raises:
        ConfigError: no URL, or a limit that is not a number in range.
    """
    config = _luigi_config() if config is None else config
    variable = f"ETL_{url_key.upper()}"
    url = (environ.get(variable) or "").strip() or _option(config, SECTION, url_key)
    if not url:
        raise ConfigError(f"{url_key} is not configured: set it in luigi.cfg [{SECTION}] "
                          f"or export {variable}")
    token = (environ.get(token_variable) or "").strip()
    limits = {}
    for key, smallest in HTTP_SOURCE_LIMITS.items():
        text = _option(config, section, key)
        if text is None:
            continue
        kind = int if isinstance(smallest, int) else float
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value >= smallest:
            raise ConfigError(f"[{section}] {key} = {text!r}: expected a "
                              f"{'whole ' if kind is int else ''}number >= {smallest:g}")
        limits[key] = value
    return HttpSourceSettings(url=url.rstrip("/"), token=token, token_variable=token_variable,
                              **limits)


def _option(config, section: Optional[str], key: str) -> Optional[str]:
    if section is None or not config.has_section(section):
        return None
    if not config.has_option(section, key):
        return None
    value = config.get(section, key)
    return value.strip() or None
