"""Column classification and freshness judgements (pure functions)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crawler.checks.freshness import (
    BASIC,
    COLUMN_BLANK,
    COLUMN_STALE,
    FUTURE_DATE,
    HOMEPAGE_STALE,
    NEWS,
    NOTICE_POLICY,
    OTHER,
    ColumnObservation,
    FreshnessPolicy,
    Judgement,
    classify,
    explains_empty,
    future_dated,
    judge_column,
    judge_homepage,
    veto_flags,
)
from crawler.types import ListItem

TODAY = date(2023, 11, 28)
POLICY = FreshnessPolicy()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("政务要闻", NEWS),
        ("工作动态", NEWS),
        ("区县动态", NEWS),
        ("图片新闻", NEWS),
        ("工作进展", NEWS),
        ("通知公告", NOTICE_POLICY),
        ("公示公告", NOTICE_POLICY),
        ("规范性文件", NOTICE_POLICY),
        ("政策解读", NOTICE_POLICY),
        ("人事任免", BASIC),
        ("发展规划", BASIC),
        ("财政预决算", BASIC),
        ("统计信息", BASIC),
        ("领导信息", BASIC),
        ("机构职能", BASIC),
        ("在线访谈", OTHER),
        ("", OTHER),
    ],
)
def test_classify_by_name(name: str, expected: str) -> None:
    assert classify(name, POLICY) == expected


def test_classify_by_column_type_and_overrides() -> None:
    assert classify("栏目一", POLICY, column_type="通知公告") == NOTICE_POLICY
    policy = FreshnessPolicy(class_overrides={"http://x.gov.cn/zt/": NEWS, "专题专栏": BASIC})
    assert classify("专题", policy, url="http://x.gov.cn/zt/") == NEWS
    assert classify("专题专栏", policy) == BASIC


def obs(
    column_class: str, newest: date | None, items: int = 10, note: str = "", name: str = "栏目"
) -> ColumnObservation:
    return ColumnObservation(
        site="1234567890",
        url="http://x.gov.cn/col/",
        name=name,
        column_class=column_class,
        newest_date=newest,
        newest_url="http://x.gov.cn/col/1.html" if newest else None,
        item_count=items,
        date_source="list",
        empty_note=note,
    )


@pytest.mark.parametrize(("column_class", "window"), [(NEWS, 14), (NOTICE_POLICY, 183), (BASIC, 365)])
def test_stale_boundary(column_class: str, window: int) -> None:
    assert judge_column(obs(column_class, TODAY - timedelta(days=window)), POLICY, TODAY) == []
    [judgement] = judge_column(obs(column_class, TODAY - timedelta(days=window + 1)), POLICY, TODAY)
    assert judgement.check == COLUMN_STALE
    assert judgement.detail["days_since"] == window + 1
    assert judgement.detail["window_days"] == window
    assert judgement.detail["class"] == column_class
    assert judgement.detail["latest_date"] == (TODAY - timedelta(days=window + 1)).isoformat()


def test_no_false_alarms() -> None:
    assert judge_column(obs(OTHER, date(2001, 1, 1)), POLICY, TODAY) == []  # no window
    assert judge_column(obs(NEWS, None), POLICY, TODAY) == []  # undated list: cannot tell
    assert judge_column(obs(NEWS, TODAY), POLICY, TODAY) == []
    assert judge_column(obs(NEWS, TODAY + timedelta(days=3)), POLICY, TODAY) == []  # future: own check


def test_window_override() -> None:
    policy = FreshnessPolicy(window_overrides={"工作动态": 30, "http://x.gov.cn/col/": None})
    assert judge_column(obs(NEWS, TODAY - timedelta(days=20), name="工作动态"), policy, TODAY) == []
    assert judge_column(obs(NEWS, TODAY - timedelta(days=900), name="要闻"), policy, TODAY) == []


def test_blank_column_and_explanations() -> None:
    [blank] = judge_column(obs(OTHER, None, items=0, note="本栏目暂无信息"), POLICY, TODAY)
    assert blank.check == COLUMN_BLANK
    assert judge_column(obs(NEWS, None, items=0, note="栏目正在建设中"), POLICY, TODAY) == []
    assert judge_column(obs(BASIC, None, items=0, note="本单位不涉及此项业务，暂无信息"), POLICY, TODAY) == []
    assert explains_empty("本栏目暂无信息。因本单位本年度未制定新的规划计划，故无相关内容。")
    assert not explains_empty("暂无信息")
    assert not explains_empty("")


def test_homepage() -> None:
    fresh = [ListItem("a", "u1", TODAY - timedelta(days=14)), ListItem("b", "u2", None)]
    assert judge_homepage(fresh, TODAY) == []
    [stale] = judge_homepage([ListItem("a", "u1", TODAY - timedelta(days=15))], TODAY, url="http://x.gov.cn/")
    assert stale.check == HOMEPAGE_STALE
    assert stale.detail["days_since"] == 15 and stale.detail["window_days"] == 14
    [undated] = judge_homepage([ListItem("a", "u1", None)], TODAY)  # undated items are not updates
    assert undated.detail["latest_date"] is None
    [future_only] = judge_homepage([ListItem("a", "u1", TODAY + timedelta(days=1))], TODAY)
    assert future_only.check == HOMEPAGE_STALE
    assert judge_homepage([ListItem("a", "u1", TODAY - timedelta(days=20))], TODAY, window=30) == []


def test_future_dated() -> None:
    assert future_dated(TODAY, TODAY) == []
    [j] = future_dated(TODAY + timedelta(days=1), TODAY, url="http://x.gov.cn/1.html")
    assert j == Judgement(FUTURE_DATE, "http://x.gov.cn/1.html", {"date": "2023-11-29", "days_ahead": 1})


def stale(column_class: str, n: int) -> list[Judgement]:
    return [Judgement(COLUMN_STALE, f"u{i}", {}, column_class) for i in range(n)]


def test_veto_thresholds() -> None:
    assert not veto_flags(stale(NEWS, 2) + stale(NOTICE_POLICY, 2) + stale(BASIC, 9), POLICY).any
    flags = veto_flags(stale(NEWS, 3) + stale(NOTICE_POLICY, 2), POLICY)
    assert flags.columns_veto and flags.stale_news_notice == 5
    assert veto_flags(stale(BASIC, 10), POLICY).columns_veto
    assert not veto_flags(stale(OTHER, 50), POLICY).any
    blanks = [Judgement(COLUMN_BLANK, f"b{i}", {}, OTHER) for i in range(5)]
    assert veto_flags(blanks[:4], POLICY).blank == 4 and not veto_flags(blanks[:4], POLICY).any
    assert veto_flags(blanks, POLICY).columns_veto
    assert veto_flags(blanks, FreshnessPolicy(blank_veto=6)).columns_veto is False
    home = veto_flags([Judgement(HOMEPAGE_STALE, "h", {})], POLICY)
    assert home.homepage_veto and not home.columns_veto
