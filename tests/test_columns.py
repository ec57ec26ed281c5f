"""Column freshness during a crawl: a tiny hand-written site fed page by page to a ColumnTracker."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crawler.checks.columns import ColumnsOutcome, ColumnTracker, PageView, column_key, empty_column_note
from crawler.checks.freshness import (
    BASIC,
    COLUMN_BLANK,
    COLUMN_STALE,
    FUTURE_DATE,
    HOMEPAGE_STALE,
    NEWS,
    NOTICE_POLICY,
    ColumnObservation,
    FreshnessPolicy,
    Judgement,
)
from crawler.parse.document import Document
from crawler.parse.extract import parse_page
from crawler.types import Site

TODAY = date(2023, 11, 28)
HOME = "http://www.x.gov.cn/"
SITE = Site(code="1100000001", name="某市人民政府", url=HOME)
FOOTER = '<div class="footer">主办单位：某市人民政府办公室 网站标识码：1100000001</div>'
COLUMNS = {  # path → nav text
    "xwdt/": "工作动态",
    "tzgg/": "通知公告",
    "zcwj/": "政策文件",
    "rsxx/": "人事信息",
}


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def nav(columns: dict[str, str] = COLUMNS) -> str:
    entries = "".join(f'<li><a href="/{path}">{name}</a></li>' for path, name in columns.items())
    return f'<div class="nav"><ul><li><a href="/">首页</a></li>{entries}</ul></div>'


def html(title: str, body: str, head: str = "") -> str:
    return f"<html><head><title>{title}</title>{head}</head><body>{body}{FOOTER}</body></html>"


def items(prefix: str, dates: list[str | None], start: int = 1) -> str:
    rows = "".join(
        f'<li><a href="{prefix}content_{n}.html">关于第{n}项工作的情况说明</a>'
        + (f"<span>{d}</span>" if d else "")
        + "</li>"
        for n, d in enumerate(dates, start)
    )
    return f'<ul class="list">{rows}</ul>'


def list_page(name: str, rows: str, head: str = "", pager: str = "") -> str:
    crumb = f'<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="./">{name}</a></div>'
    return html(f"{name}_某市人民政府", nav() + crumb + rows + pager, head)


def homepage(dates: list[str | None]) -> str:
    block = '<div class="news"><h3>要闻</h3>' + items("/xwdt/", dates) + "</div>"
    return html("某市人民政府", nav() + block)


def article(title: str, pubdate: str, url_note: str = "") -> str:
    head = f'<meta name="ArticleTitle" content="{title}"><meta name="PubDate" content="{pubdate} 09:30">'
    body = f'<h1>{title}</h1><div id="zoom"><p>{"正文内容。" * 80}{url_note}</p></div>'
    return html(title, nav() + body, head)


def view(url: str, text: str, depth: int = 1, final_url: str | None = None) -> PageView:
    doc = Document.from_text(final_url or url, text)
    return PageView(url=url, final_url=final_url or url, depth=depth, doc=doc, parsed=parse_page(doc))


def crawl(pages: list[PageView], policy: FreshnessPolicy | None = None) -> tuple[ColumnsOutcome, list[Judgement]]:
    tracker = ColumnTracker(SITE, policy or FreshnessPolicy(), TODAY)
    immediate = [j for page in pages for j in tracker.observe(page)]
    return tracker.finish(), immediate


def by_name(outcome: ColumnsOutcome) -> dict[str, ColumnObservation]:
    return {obs.name: obs for obs in outcome.observations}


def checks(outcome: ColumnsOutcome) -> list[tuple[str, str]]:
    return sorted((j.check, j.url) for j in outcome.judgements)


TRS_PAGER = '<div class="page"><script>createPageHTML(2, 0, "index", "html");</script></div>'


def healthy_site() -> list[PageView]:
    return [
        view(HOME, homepage([day(1), day(3), day(5)]), depth=0),
        view(HOME + "xwdt/", list_page("工作动态", items("./", [day(1), day(2), day(9)]), pager=TRS_PAGER)),
        view(HOME + "xwdt/index_1.html", list_page("工作动态", items("./", [day(20), day(30), day(40)], 4))),
        view(HOME + "tzgg/", list_page("通知公告", items("./", [day(40), day(60), day(90)]))),
        view(HOME + "rsxx/", list_page("人事信息", items("./", [day(200), day(300), day(360)]))),
        view(HOME + "xwdt/content_1.html", article("某某工作动态", day(1)), depth=2),
    ]


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://www.x.gov.cn/xwdt/", "http://www.x.gov.cn/xwdt/"),
        ("http://www.x.gov.cn/xwdt/index.html", "http://www.x.gov.cn/xwdt/"),
        ("http://www.x.gov.cn/xwdt/index_3.shtml", "http://www.x.gov.cn/xwdt/"),
        ("http://www.x.gov.cn/list.jsp?id=5&page=2", "http://www.x.gov.cn/list.jsp?id=5"),
        ("http://www.x.gov.cn/list.jsp?pageNo=2", "http://www.x.gov.cn/list.jsp"),
        ("http://www.x.gov.cn/col/col123/index.html?uid=456&pageNum=2", "http://www.x.gov.cn/col/col123/"),
        ("http://www.x.gov.cn/art/col/col123/", "http://www.x.gov.cn/art/col/col123/"),
    ],
)
def test_column_key_merges_pages_and_variants(url: str, key: str) -> None:
    assert column_key(url) == key


# --------------------------------------------------------------------------- a healthy site


def test_healthy_site_has_no_findings() -> None:
    outcome, immediate = crawl(healthy_site())
    assert immediate == []
    assert outcome.judgements == ()
    assert not outcome.veto.any
    columns = by_name(outcome)
    assert set(columns) == {"工作动态", "通知公告", "人事信息"}
    news = columns["工作动态"]
    assert (news.url, news.column_class, news.item_count) == (HOME + "xwdt/", NEWS, 6)
    assert (news.newest_date, news.newest_url, news.date_source) == (
        TODAY - timedelta(1),
        HOME + "xwdt/content_1.html",
        "list",
    )
    assert columns["通知公告"].column_class == NOTICE_POLICY
    assert columns["人事信息"].column_class == BASIC


def test_homepage_reached_again_is_not_a_column() -> None:
    page = homepage([day(1), day(2), day(3)])
    outcome, _ = crawl([view(HOME, page, depth=0), view(HOME + "index.html", page, depth=1)])
    assert outcome.observations == ()


def test_pagination_and_url_variants_count_once() -> None:
    rows = items("./", [day(1), day(2), day(3)])
    pages = [
        view(HOME + "xwdt/", list_page("工作动态", rows, pager=TRS_PAGER)),
        view(HOME + "xwdt/index.html", list_page("工作动态", rows, pager=TRS_PAGER)),  # the same page again
        view(HOME + "xwdt/index_1.html", list_page("工作动态", items("./", [day(4), day(5), day(6)], 4))),
    ]
    outcome, _ = crawl(pages)
    (news,) = outcome.observations
    assert (news.url, news.item_count) == (HOME + "xwdt/", 6)


def test_later_page_first_still_reports_first_page() -> None:
    pages = [
        view(HOME + "xwdt/index_1.html", list_page("工作动态", items("./", [day(4), day(5), day(6)], 4))),
        view(HOME + "xwdt/index.html", list_page("工作动态", items("./", [day(1), day(2), day(3)]))),
    ]
    outcome, _ = crawl(pages)
    assert [obs.url for obs in outcome.observations] == [HOME + "xwdt/index.html"]


def test_odd_pagination_urls_join_their_first_page_via_next_pages() -> None:
    pager = '<div class="pager"><a href="list_p2.html">2</a><a href="list_p2.html">下一页</a></div>'
    pages = [
        view(HOME + "gzdt/", list_page("工作动态", items("./", [day(1), day(2), day(3)]), pager=pager)),
        view(HOME + "gzdt/list_p2.html", list_page("工作动态", items("./", [day(4), day(5), day(6)], 4))),
    ]
    outcome, _ = crawl(pages)
    assert [(obs.url, obs.item_count) for obs in outcome.observations] == [(HOME + "gzdt/", 6)]


# --------------------------------------------------------------------------- stale columns


def test_stale_news_column_detected_across_pagination() -> None:
    pages = [
        view(HOME, homepage([day(1), day(2), day(3)]), depth=0),
        view(HOME + "xwdt/", list_page("工作动态", items("./", [day(20), day(25), day(30)]), pager=TRS_PAGER)),
        view(HOME + "xwdt/index_1.html", list_page("工作动态", items("./", [day(40), day(50), day(60)], 4))),
    ]
    outcome, _ = crawl(pages)
    assert checks(outcome) == [(COLUMN_STALE, HOME + "xwdt/")]
    (stale,) = outcome.judgements
    assert stale.detail["days_since"] == 20
    assert stale.detail["latest_url"] == HOME + "xwdt/content_1.html"
    assert stale.column_class == NEWS
    assert not outcome.veto.any


def test_five_stale_columns_veto() -> None:
    names = {f"bm{n}/": f"部门{n}动态" for n in range(5)}
    pages = [view(HOME, homepage([day(1), day(2), day(3)]), depth=0)]
    pages += [
        view(HOME + path, list_page(name, items("./", [day(30), day(31), day(32)]))) for path, name in names.items()
    ]
    outcome, _ = crawl(pages)
    assert [j.check for j in outcome.judgements] == [COLUMN_STALE] * 5
    assert outcome.veto.stale_news_notice == 5
    assert outcome.veto.columns_veto and outcome.veto.any
    four, _ = crawl(pages[:-1])
    assert four.veto.stale_news_notice == 4 and not four.veto.any


def test_hanweb_cdata_list_and_its_variants() -> None:
    records = "".join(
        f'<record><![CDATA[<li><a href="/art/2023/1/{n}/art_123_{n}.html">部门工作动态第{n}条信息</a>'
        f"<span>{d}</span></li>]]></record>"
        for n, d in enumerate([day(30), day(31), day(32)], 1)
    )
    head = '<meta name="ColumnName" content="部门动态">'
    body = f'<div id="123"><script type="text/xml"><recordset>{records}</recordset></script></div>'
    pages = [
        view(HOME + "col/col123/index.html", list_page("部门动态", body, head=head)),
        view(HOME + "col/col123/index.html?uid=456&pageNum=2", list_page("部门动态", body, head=head)),
    ]
    outcome, _ = crawl(pages)
    (obs,) = outcome.observations
    assert (obs.name, obs.column_class, obs.newest_date) == ("部门动态", NEWS, TODAY - timedelta(30))
    assert checks(outcome) == [(COLUMN_STALE, HOME + "col/col123/index.html")]


# --------------------------------------------------------------------------- undated lists


def test_undated_list_dated_by_its_articles() -> None:
    pages = [
        view(HOME + "zcwj/", list_page("政策文件", items("./", [None] * 6))),
        view(HOME + "zcwj/content_2.html", article("关于印发某办法的通知", day(300)), depth=2),
        view(HOME + "zcwj/content_1.html", article("关于印发某规定的通知", day(200)), depth=2),
        view(HOME + "zcwj/content_6.html", article("更早的文件", day(10)), depth=2),  # not among the first 5
    ]
    outcome, _ = crawl(pages)
    (obs,) = outcome.observations
    assert (obs.newest_date, obs.newest_url) == (TODAY - timedelta(200), HOME + "zcwj/content_1.html")
    assert obs.date_source == "article:meta:pubdate"
    assert checks(outcome) == [(COLUMN_STALE, HOME + "zcwj/")]


def test_articles_seen_before_their_undated_list_still_count() -> None:
    pages = [
        view(HOME + "zcwj/content_1.html", article("关于印发某规定的通知", day(20)), depth=1),
        view(HOME + "zcwj/", list_page("政策文件", items("./", [None] * 3))),
    ]
    outcome, _ = crawl(pages)
    (obs,) = outcome.observations
    assert obs.newest_date == TODAY - timedelta(20)
    assert outcome.judgements == ()


def test_undated_list_without_articles_is_not_judged() -> None:
    outcome, _ = crawl([view(HOME + "zcwj/", list_page("政策文件", items("./", [None] * 3)))])
    (obs,) = outcome.observations
    assert (obs.newest_date, obs.date_source, obs.item_count) == (None, "none", 3)
    assert outcome.judgements == ()


# --------------------------------------------------------------------------- blank columns


def empty_page(name: str, note: str) -> str:
    area = f'<div class="list-box"><h2>{name}</h2><div class="list">{note}</div></div>'
    return list_page(name, area, head=f'<meta name="ColumnName" content="{name}">')


def test_blank_column_without_reason_is_reported() -> None:
    outcome, _ = crawl([view(HOME + "lddt/", empty_page("领导动态", "暂无信息"))])
    (obs,) = outcome.observations
    assert (obs.name, obs.item_count, obs.empty_note) == ("领导动态", 0, "暂无信息")
    assert checks(outcome) == [(COLUMN_BLANK, HOME + "lddt/")]


def test_blank_column_with_explanatory_note_is_exempt() -> None:
    outcome, _ = crawl([view(HOME + "jgzn/", empty_page("机构职能", "本栏目正在建设中，敬请期待"))])
    (obs,) = outcome.observations
    assert obs.item_count == 0
    assert outcome.judgements == ()


def test_five_blank_columns_veto() -> None:
    pages = [view(HOME + f"k{n}/", empty_page(f"空栏目{n}", "")) for n in range(5)]
    outcome, _ = crawl(pages)
    assert outcome.veto.blank == 5 and outcome.veto.columns_veto


def test_content_pages_at_column_urls_are_not_blank() -> None:
    prose = "<p>" + "本机关负责全市有关工作，主要职责如下。" * 30 + "</p>"
    contact = "<p>地址：某市某路1号 电话：0000-1234567</p>"
    links = items("/about/", [None, None, None])
    pages = [
        view(HOME + "ldjs/", list_page("领导简介", prose)),
        view(HOME + "lxwm/index.html", list_page("联系我们", contact)),
        view(HOME + "wzdt/", list_page("网站地图", links.replace('class="list"', 'class="map"'))),
    ]
    outcome, _ = crawl(pages)
    assert outcome.judgements == ()


def test_empty_hanweb_recordset_is_blank() -> None:
    head = '<meta name="ColumnName" content="规划计划">'
    area = '<div class="list-box"><h2>规划计划</h2><script type="text/xml"><recordset></recordset></script></div>'
    outcome, _ = crawl([view(HOME + "col/col9/index.html", list_page("规划计划", area, head=head))])
    assert checks(outcome) == [(COLUMN_BLANK, HOME + "col/col9/index.html")]
    assert outcome.judgements[0].column_class == BASIC


def test_landing_page_of_sub_columns_is_not_blank() -> None:
    area = '<div class="main"><h1>专题专栏</h1><a href="zt1/">专题一</a><a href="/">首页</a></div>'
    outcome, _ = crawl([view(HOME + "zt/index.html", list_page("专题专栏", area))])
    assert outcome.judgements == ()


def test_empty_column_note() -> None:
    doc = Document.from_text(HOME + "a/", html("空", nav() + '<div class="con">本栏目暂无信息</div>'))
    assert empty_column_note(doc) == "本栏目暂无信息"
    doc = Document.from_text(HOME + "a/", html("空", nav() + '<div class="con"><img src="org.png"></div>'))
    assert empty_column_note(doc) is None


# --------------------------------------------------------------------------- homepage and articles


def test_stale_homepage() -> None:
    outcome, _ = crawl([view(HOME, homepage([day(20), day(30), day(40)]), depth=0)])
    assert checks(outcome) == [(HOMEPAGE_STALE, HOME)]
    (stale,) = outcome.judgements
    assert (stale.detail["days_since"], stale.detail["basis"]) == (20, "homepage")
    assert outcome.veto.homepage_veto


def test_fresh_homepage() -> None:
    outcome, _ = crawl([view(HOME, homepage([day(14), day(30)]), depth=0)])
    assert outcome.judgements == ()


def test_undated_homepage_counts_as_not_updated() -> None:
    many = html("某市人民政府", nav() + "".join(items(f"/b{n}/", [None] * 10) for n in range(5)))
    outcome, _ = crawl([view(HOME, many, depth=0)])
    assert checks(outcome) == [(HOMEPAGE_STALE, HOME)]


def test_navigation_homepage_is_judged_by_second_level_pages() -> None:
    entry = view(HOME, html("某市人民政府", nav()), depth=0)
    stale_level = view(HOME + "xwdt/", list_page("工作动态", items("./", [day(20), day(21), day(22)])))
    fresh_level = view(HOME + "tzgg/", list_page("通知公告", items("./", [day(3), day(40), day(50)])))
    deep_fresh = view(HOME + "xwdt/content_1.html", article("某动态", day(1)), depth=2)  # not second level

    stale, _ = crawl([entry, stale_level, deep_fresh])
    homepage_judgements = [j for j in stale.judgements if j.check == HOMEPAGE_STALE]
    assert [(j.url, j.detail["basis"], j.detail["days_since"]) for j in homepage_judgements] == [
        (HOME, "second_level", 20)
    ]
    fresh, _ = crawl([entry, stale_level, fresh_level])
    assert HOMEPAGE_STALE not in {j.check for j in fresh.judgements}


def test_future_dated_article_is_reported_once() -> None:
    future = day(-10)
    url = HOME + "xwdt/content_9.html"
    pages = [
        view(url, article("未来的文章", future), depth=2),
        view(HOME + "xwdt/old.html", article("未来的文章", future), depth=2, final_url=url),  # redirect to it
        view(HOME + "xwdt/content_8.html", article("今天的文章", day(0)), depth=2),
    ]
    outcome, immediate = crawl(pages)
    assert [(j.check, j.url, j.detail["date"], j.detail["date_source"]) for j in immediate] == [
        (FUTURE_DATE, url, future, "meta:pubdate")
    ]
    assert outcome.judgements == ()


def test_month_precision_and_guessed_dates_are_not_future() -> None:
    month_only = html("某文件", "<p>无日期</p>")
    guessed = html("某会议", "<p>会议定于2024年3月1日召开。</p>")
    _, immediate = crawl(
        [
            view(HOME + "a/202312/content.html", month_only, depth=2),
            view(HOME + "a/notice.html", guessed, depth=2),
        ]
    )
    assert immediate == []
