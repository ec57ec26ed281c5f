"""The site registry: good rows load with their overrides; every bad row is named by file:line: field."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.errors import RegistryError
from crawler.registry import load_registry
from crawler.types import RobotsPolicy

HEADER = "name,url,site_code,organizer,kind,region"


def write(tmp_path: Path, text: str, name: str = "sites.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_registry_loads_with_overrides() -> None:
    sites = load_registry(Path(__file__).parent.parent / "examples" / "sites.csv")
    assert [s.code for s in sites] == ["2100000037", "2101000001", "2101000012"]
    shenyang = sites[1]
    assert shenyang.url == "http://www.shenyang.gov.cn/"
    assert shenyang.hosts == ("www.shenyang.gov.cn", "zwgk.shenyang.gov.cn")
    assert shenyang.limits.rate == 1.0 and shenyang.limits.max_pages == 5000
    assert sites[2].limits.robots is RobotsPolicy.OBEY and sites[2].kind == "department"


def test_every_bad_row_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",rate\n"
                 "ok,http://www.a.gov.cn/,2100000001,,,,\n"
                 "no url,,2100000002,,,,\n"
                 "bad url,ftp://x.gov.cn/,2100000003,,,,\n"
                 "bad code,http://www.b.gov.cn/,12,,,,\n"
                 "bad rate,http://www.c.gov.cn/,2100000004,,,,fast\n"
                 "dup,http://www.d.gov.cn/,2100000001,,,,\n")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    problems = caught.value.problems
    assert problems == [
        f"{path}:3: url: missing",
        f"{path}:4: url: 'ftp://x.gov.cn/' is not an absolute http(s) URL",
        f"{path}:5: site_code: '12' is not a 10-character 网站标识码",
        f"{path}:6: rate: 'fast' is not a number",
        f"{path}:7: site_code: duplicate of line 2",
    ]


def test_missing_and_unknown_columns_are_reported_on_line_1(tmp_path: Path) -> None:
    path = write(tmp_path, "name,homepage,site_code\nx,http://a/,2100000001\n")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert caught.value.problems[0] == f"{path}:1: url: missing column"
    assert "homepage: unknown column" in caught.value.problems[1]


def test_toml_registry(tmp_path: Path) -> None:
    path = write(tmp_path, '[[site]]\nname = "甲"\nurl = "http://www.a.gov.cn"\nsite_code = "2100000001"\n'
                 'hosts = ["img.a.gov.cn"]\nmax_depth = 2\n\n[[site]]\nname = "乙"\nurl = "nope"\n'
                 'site_code = "2100000002"\n', "sites.toml")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert caught.value.problems == [f"{path}:8: url: 'nope' is not an absolute http(s) URL"]


def test_unreadable_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path / "missing.csv")
    assert caught.value.problems == [f"{tmp_path / 'missing.csv'}: cannot read: No such file or directory"]
