"""The site registry: which sites to inspect, read from CSV or TOML.

Every row is checked before the run starts and every problem is reported as
``file:line: field: problem``; a registry with any problem starts no run (no half-configured nights).

CSV header: ``name,url,site_code,organizer,kind,region`` plus optional override columns
``rate,concurrency,max_pages,max_depth,hosts,robots`` (``hosts``: extra hosts that belong to the
site, separated by spaces or ``;``). TOML: ``[[site]]`` tables with the same keys (``hosts`` a list).
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from yarl import URL

from crawler.errors import RegistryError
from crawler.frontier.urls import normalize
from crawler.types import RobotsPolicy, Site, SiteLimits

REQUIRED = ("name", "url", "site_code")
KNOWN = (*REQUIRED, "organizer", "kind", "region", "rate", "concurrency", "max_pages", "max_depth",
         "hosts", "robots")
# 网站标识码: 10 letters/digits, e.g. 2100000037 or bm55000001.
SITE_CODE = re.compile(r"^[A-Za-z0-9]{10}$")
HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$")


def load_registry(path: Path) -> list[Site]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RegistryError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise RegistryError([f"{path}: not UTF-8 text"]) from None
    rows = _toml_rows(path, text) if path.suffix.lower() == ".toml" else _csv_rows(path, text)
    sites: list[Site] = []
    problems: list[str] = []
    seen_codes: dict[str, int] = {}
    seen_urls: dict[str, int] = {}
    for line, row in rows:
        where = f"{path}:{line}"
        row_problems: list[str] = []
        site = _site(row, where, row_problems)
        if site is not None and not row_problems:
            if site.code in seen_codes:
                row_problems.append(f"{where}: site_code: duplicate of line {seen_codes[site.code]}")
            elif site.url in seen_urls:
                row_problems.append(f"{where}: url: duplicate of line {seen_urls[site.url]}")
            else:
                seen_codes[site.code] = line
                seen_urls[site.url] = line
                sites.append(site)
        problems.extend(row_problems)
    if not problems and not sites:
        problems.append(f"{path}: no sites")
    if problems:
        raise RegistryError(problems)
    return sites


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [h for h in REQUIRED if h not in header]
    unknown = [h for h in header if h and h not in KNOWN]
    if missing or unknown:
        problems = [f"{path}:1: {h}: missing column" for h in missing]
        problems += [f"{path}:1: {h}: unknown column (known: {', '.join(KNOWN)})" for h in unknown]
        raise RegistryError(problems)
    reader.fieldnames = header
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:
            yield reader.line_num, {"__extra__": "too many fields"}
            continue
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}


def _toml_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError([f"{path}: {exc}"]) from None
    # tomllib gives no line numbers; count [[site]] headers so a problem still points near its table.
    header_lines = [n for n, ln in enumerate(text.splitlines(), 1) if ln.strip() == "[[site]]"]
    for index, table in enumerate(data.get("site", [])):
        line = header_lines[index] if index < len(header_lines) else 0
        unknown = [k for k in table if k not in KNOWN]
        if unknown:
            yield line, {"__extra__": f"unknown key {unknown[0]!r}"}
            continue
        yield line, table


def _site(row: Mapping[str, Any], where: str, problems: list[str]) -> Site | None:
    if "__extra__" in row:
        problems.append(f"{where}: row: {row['__extra__']}")
        return None
    for name in REQUIRED:
        if not str(row.get(name, "")).strip():
            problems.append(f"{where}: {name}: missing")
    if problems:
        return None
    code = str(row["site_code"]).strip()
    if not SITE_CODE.match(code):
        problems.append(f"{where}: site_code: {code!r} is not a 10-character 网站标识码")
    url = _homepage(str(row["url"]).strip(), where, problems)
    hosts = _hosts(row.get("hosts", ""), where, problems)
    limits = _limits(row, where, problems)
    if problems or url is None:
        return None
    home_host = URL(url).host or ""
    return Site(
        code=code,
        name=str(row["name"]).strip(),
        url=url,
        organizer=str(row.get("organizer", "")).strip(),
        kind=str(row.get("kind", "")).strip().lower(),
        region=str(row.get("region", "")).strip(),
        hosts=tuple(dict.fromkeys([home_host, *hosts])),
        limits=limits,
    )


def _homepage(raw: str, where: str, problems: list[str]) -> str | None:
    try:
        parsed = URL(raw)
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        problems.append(f"{where}: url: {raw!r} is not an absolute http(s) URL")
        return None
    url = normalize(raw)
    if url is None:
        problems.append(f"{where}: url: {raw!r} cannot be normalised")
    return url


def _hosts(raw: Any, where: str, problems: list[str]) -> list[str]:
    items = raw if isinstance(raw, list) else re.split(r"[\s;]+", str(raw or ""))
    hosts = []
    for item in items:
        host = str(item).strip().lower()
        if not host:
            continue
        if not HOST.match(host):
            problems.append(f"{where}: hosts: {item!r} is not a host name")
        hosts.append(host)
    return hosts


def _limits(row: Mapping[str, Any], where: str, problems: list[str]) -> SiteLimits:
    def number(name: str, kind: type[int] | type[float], minimum: float) -> Any:
        raw = row.get(name, "")
        if raw in ("", None):
            return None
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            problems.append(f"{where}: {name}: {raw!r} is not a{'n integer' if kind is int else ' number'}")
            return None
        if value < minimum:
            problems.append(f"{where}: {name}: must be ≥ {minimum}, got {raw}")
            return None
        return value

    robots_raw = str(row.get("robots", "") or "").strip().lower()
    robots = None
    if robots_raw:
        try:
            robots = RobotsPolicy(robots_raw)
        except ValueError:
            problems.append(f"{where}: robots: {robots_raw!r} is not one of obey, ignore")
    rate = number("rate", float, 0.001)
    return SiteLimits(
        rate=rate,
        concurrency=number("concurrency", int, 1),
        max_pages=number("max_pages", int, 1),
        max_depth=number("max_depth", int, 0),
        robots=robots,
    )
