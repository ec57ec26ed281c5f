"""Settings precedence (file < env < flags) and one-line errors that name where a bad value came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.config import load_settings
from crawler.errors import ConfigError


def test_defaults_encode_the_inspection_rules() -> None:
    s = load_settings(env={})
    assert (s.rate, s.host_concurrency, s.total_timeout) == (2.0, 2, 15.0)


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "govcrawl.toml"
    cfg.write_text('rate = 1.5\nmax_pages = 10\nresolve = ["a=127.0.0.1"]\n')
    s = load_settings(cfg, env={"GOVCRAWL_MAX_PAGES": "20", "GOVCRAWL_RETRIES": "4"},
                      overrides={"retries": 1, "max_depth": None})
    assert s.rate == 1.5 and s.max_pages == 20 and s.retries == 1 and s.resolve == ("a=127.0.0.1",)
    assert s.max_depth == 5  # None from an absent flag keeps the lower layer


@pytest.mark.parametrize(("env", "message"), [
    ({"GOVCRAWL_RATE": "x"}, "environment GOVCRAWL_RATE: rate: could not convert string to float: 'x'"),
    ({"GOVCRAWL_RATE": "0"}, "rate: must be > 0, got 0.0"),
    ({"GOVCRAWL_ROBOTS": "maybe"}, "environment GOVCRAWL_ROBOTS: robots: 'maybe' is not a valid RobotsPolicy"),
    ({"GOVCRAWL_KEEP_ALL_LINKS": "perhaps"},
     "environment GOVCRAWL_KEEP_ALL_LINKS: keep_all_links: expected true or false"),
])
def test_bad_values_name_their_source(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert str(caught.value) == message


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "govcrawl.toml"
    cfg.write_text("speed = 3\n")
    with pytest.raises(ConfigError, match=r"govcrawl.toml: speed: unknown setting"):
        load_settings(cfg, env={})


def test_snapshot_hides_the_dsn() -> None:
    s = load_settings(env={"GOVCRAWL_DSN": "postgresql://u:secret@h/db"})
    assert s.snapshot()["dsn"] == "<set>"
