"""One typed settings object for everything.

Precedence, lowest first: defaults here → TOML file (``--config`` or ``GOVCRAWL_CONFIG``) →
environment (``GOVCRAWL_<FIELD>``) → command-line flags. Every value is validated when the object
is built, and a bad one is reported naming where it came from.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.errors import ConfigError
from crawler.types import RobotsPolicy

DEFAULT_USER_AGENT = "govcrawl/0.1 (+https://github.com/govcrawl/govcrawl; government website inspection)"
DEFAULT_SESSION_PARAMS = ("jsessionid", "phpsessid", "sid", "sessionid", "aspsessionid", "cfid", "cftoken")


@dataclass(frozen=True, slots=True)
class Settings:
    # Politeness: per host, per IP address (site clusters share one server), and for the whole process.
    rate: float = 2.0  # requests per second per host
    host_concurrency: int = 2
    ip_rate: float = 8.0
    ip_concurrency: int = 8
    global_concurrency: int = 64
    robots: RobotsPolicy = RobotsPolicy.OBEY
    max_backoff: float = 300.0  # seconds; cap of exponential backoff for a 429/503 without Retry-After
    retries: int = 2  # extra attempts for transient failures (timeouts, 5xx, resets, 429)
    retry_base_delay: float = 2.0

    # Frontier.
    max_pages: int = 2000  # per site
    max_depth: int = 5
    max_url_length: int = 1024
    strip_params: tuple[str, ...] = DEFAULT_SESSION_PARAMS
    check_external: bool = True

    # Fetching. The inspection rule: a page not open at 15 s has failed.
    connect_timeout: float = 10.0
    first_byte_timeout: float = 15.0
    total_timeout: float = 15.0
    max_body_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 10
    user_agent: str = DEFAULT_USER_AGENT
    resolve: tuple[str, ...] = ()  # 'PATTERN=ADDR[:PORT]', tried in order
    nameservers: tuple[str, ...] = ()  # 'IP[:PORT]'
    ca_file: Path | None = None
    allow_private: tuple[str, ...] = ()  # host patterns allowed to resolve to private/loopback addresses
    soft404_calibration: bool = True
    # Revisit column list pages with the validators the server sent last run: an unchanged list
    # costs a 304 and its column is carried over (its articles are not re-crawled that night).
    conditional: bool = True

    # Output.
    dsn: str | None = None
    data_dir: Path | None = None  # embedded Postgres lives under it; default: the user's data dir
    out: Path | None = None  # JSONL instead of Postgres
    keep_all_links: bool = False  # store every edge, not only those whose target is not ok
    sink_queue: int = 10_000
    metrics_port: int = 0  # 0: no /metrics endpoint during `run`
    pushgateway: str | None = None

    def __post_init__(self) -> None:
        for name in ("rate", "ip_rate", "connect_timeout", "first_byte_timeout", "total_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be > 0, got {getattr(self, name)}")
        for name in ("host_concurrency", "ip_concurrency", "global_concurrency", "max_pages", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be ≥ 1, got {getattr(self, name)}")
        for name in ("retries", "max_depth", "max_redirects", "metrics_port"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must be ≥ 0, got {getattr(self, name)}")

    def snapshot(self) -> dict[str, Any]:
        """JSON-able copy stored with each run, so a result can be traced to the settings that made it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "dsn" and value:
                value = "<set>"  # never store credentials
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_HINTS = typing.get_type_hints(Settings)


def coerce(name: str, raw: Any, where: str) -> Any:
    """Convert a raw value (TOML value or string) to the declared type of field ``name``."""
    hint = _HINTS[name]
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    target = next((a for a in args if a is not type(None)), hint) if optional else hint
    try:
        if optional and (raw is None or raw == ""):
            return None
        if typing.get_origin(target) is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if target is bool:
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if target in (int, float, str, Path) or isinstance(target, type):
            if target is int and isinstance(raw, float):
                raise ValueError("expected an integer")
            return target(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {name}: {exc}") from None
    raise ConfigError(f"{where}: {name}: unsupported type {hint}")


def _from_mapping(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise ConfigError(f"{where}: {key}: unknown setting")
        out[name] = coerce(name, raw, where)
    return out


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or (Path(env["GOVCRAWL_CONFIG"]) if env.get("GOVCRAWL_CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        values.update(_from_mapping(data.get("govcrawl", data), str(path)))
    for name in FIELDS:
        key = f"GOVCRAWL_{name.upper()}"
        if key in env:
            values[name] = coerce(name, env[key], f"environment {key}")
    values.update(_from_mapping({k: v for k, v in (overrides or {}).items() if v is not None}, "command line"))
    return Settings(**values)


def replace(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)


__all__ = ["Settings", "load_settings", "replace"]
