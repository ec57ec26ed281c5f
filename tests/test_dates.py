"""Date texts of list items and publication dates of article pages."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.parse.dates import DateFinding, article_date, date_from_url, infer_year, parse_date_text
from crawler.parse.document import Document

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-20", date(2023, 11, 20)),
        ("2023/11/20", date(2023, 11, 20)),
        ("2023.11.20", date(2023, 11, 20)),
        ("2023-1-5", date(2023, 1, 5)),
        ("2023年11月20日", date(2023, 11, 20)),
        ("2023 年 1 月 5 日", date(2023, 1, 5)),
        ("2023-11-20 09:30:00", date(2023, 11, 20)),
        ("发布时间：2023-11-20", date(2023, 11, 20)),
        ("二〇二三年十一月二十日", date(2023, 11, 20)),
        ("1999-12-31", date(1999, 12, 31)),
        ("第2020-01-02期", date(2020, 1, 2)),
        ("12020-01-02", None),  # a year does not follow a digit or a dot
        (".2020-01-02", None),
        ("7/5/1999 9:23:57 PM", date(1999, 7, 5)),
        ("[11-20]", date(2026, 11, 20)),
        ("(11-20)", date(2026, 11, 20)),
        ("（11-20）", date(2026, 11, 20)),
        ("11-20", date(2026, 11, 20)),
        ("11月20日", date(2026, 11, 20)),
        ("12-25", date(2025, 12, 25)),  # after today this year: last year
        ("2023-02-30", None),
        ("2023-13-01", None),
        ("[02-30]", None),
        ("1.5", None),  # a number in a title is no date
        ("价格上涨11.20元", None),
        ("V2.3.1", None),
        ("2023-11.20", None),  # separators must repeat
        ("", None),
    ],
)
def test_parse_date_text(text: str, expected: date | None) -> None:
    assert parse_date_text(text, TODAY) == expected


def test_year_inference_around_new_year() -> None:
    jan2 = date(2024, 1, 2)
    assert parse_date_text("[12-30]", jan2) == date(2023, 12, 30)
    assert parse_date_text("[01-02]", jan2) == date(2024, 1, 2)
    assert parse_date_text("01-03", jan2) == date(2023, 1, 3)
    assert parse_date_text("12月31日", date(2023, 12, 31)) == date(2023, 12, 31)


def test_leap_day_goes_to_last_leap_year() -> None:
    assert infer_year(2, 29, date(2026, 3, 1)) == date(2024, 2, 29)
    assert infer_year(2, 29, date(2024, 3, 1)) == date(2024, 2, 29)


@given(
    st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)), st.dates(max_value=date(2099, 1, 1))
)
def test_inferred_date_is_never_after_today(today: date, seen: date) -> None:
    found = parse_date_text(f"[{seen.month:02d}-{seen.day:02d}]", today)
    assert found is not None
    assert found <= today
    assert (today - found).days < 366 * 4 + 1


def page(body: str, head: str = "", url: str = "http://www.x.gov.cn/a/b.html") -> Document:
    return Document.from_text(url, f"<html><head>{head}</head><body>{body}</body></html>")


HEADER = (
    '<div class="top">今天是2026年11月28日 星期六</div>'
    '<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/xw/">工作动态</a> &gt; 正文</div>'
)
SIDEBAR = (
    '<div class="sidebar"><ul><li><a href="/1.html">其他新闻一则</a><span>2026-11-27</span></li>'
    '<li><a href="/2.html">其他新闻两则</a><span>2026-11-26</span></li></ul></div>'
)
FOOTER = '<div class="footer">版权所有 © 2026 某某市人民政府 网站标识码 1234567890</div>'


def test_meta_pubdate_first() -> None:
    doc = page(HEADER + "<h1>某某会议召开</h1>", '<meta name="PubDate" content="2023-12-13 09:30">')
    assert article_date(doc, TODAY) == DateFinding(date(2023, 12, 13), "meta:pubdate")


def test_article_published_time_meta() -> None:
    doc = page(
        "<h1>标题</h1>", '<meta property="article:published_time" content="2023-01-05T08:00:00+08:00">'
    )
    assert article_date(doc, TODAY) == DateFinding(date(2023, 1, 5), "meta:article:published_time")


def test_labelled_date_under_title_beats_distractors() -> None:
    body = (
        HEADER
        + SIDEBAR
        + '<h1>市政府召开常务会议</h1><div class="info">发布时间：2023-11-20 10:00 来源：市政府办公室</div>'
        + "<p>会议决定于2023年12月1日起施行。2022年11月3日的会议也提到……</p>"
        + FOOTER
    )
    doc = page(body, "<title>市政府召开常务会议_某某市人民政府</title>")
    assert article_date(doc, TODAY) == DateFinding(date(2023, 11, 20), "text:发布时间")


def test_unlabelled_date_line_under_title() -> None:
    body = HEADER + "<h1>某某区开展安全检查</h1><div>2023-06-01 来源：区应急局</div><p>2023年5月30日，……</p>"
    doc = page(body, "<title>某某区开展安全检查</title>")
    assert article_date(doc, TODAY) == DateFinding(date(2023, 6, 1), "text:header")


def test_title_inside_a_longer_line_anchors_the_header_area() -> None:
    # No heading tag, and the line holds the title rather than the other way round.
    body = HEADER + '<div class="tit">【转载】某某市召开重要工作会议（图）</div><div>2026-11-20</div>' + SIDEBAR
    doc = page(body, "<title>某某市召开重要工作会议_某某市人民政府</title>")
    assert article_date(doc, TODAY) == DateFinding(date(2026, 11, 20), "text:header")


def test_nearest_date_under_the_title_in_document_order_and_not_in_a_link() -> None:
    body = (
        '<div class="wz"><h1>某某局开展专项行动</h1><p>相关阅读：<a href="/1.html">2026-11-25</a>'
        " 等多篇报道，以及本次专项行动的背景介绍文字</p>"
        "<div><div><span>2023-05-06</span> 来源：某某局</div></div><div>2023-01-01</div></div>"
    )
    doc = page(body, "<title>某某局开展专项行动</title>")
    assert article_date(doc, TODAY) == DateFinding(date(2023, 5, 6), "text:header")


def test_information_disclosure_table_above_title() -> None:
    body = (
        "<table><tr><td>索引号：000/2023-01</td><td>发布日期：2023-11-20</td></tr>"
        "<tr><td>成文日期：2023-11-15</td><td>生成日期：2026-11-28</td></tr></table>"
        "<h1>关于印发某某办法的通知</h1><p>各区县：现将……2023年1月1日起施行。</p>"
    )
    doc = page(body, "<title>关于印发某某办法的通知</title>")
    assert article_date(doc, TODAY) == DateFinding(date(2023, 11, 20), "text:发布日期")


def test_catalogue_generation_date_is_not_a_label() -> None:
    body = "<h1>目录标题文字</h1><div>生成日期：2026-11-28</div><div>日期：2023-03-04</div>"
    doc = page(body, "<title>目录标题文字</title>")
    assert article_date(doc, TODAY) == DateFinding(date(2023, 3, 4), "text:日期")


def test_chinese_numeral_document_date() -> None:
    body = "<h1>某某文件标题</h1><div>成文日期：二〇二三年十一月二十日</div>"
    found = article_date(page(body, "<title>某某文件标题</title>"), TODAY)
    assert found == DateFinding(date(2023, 11, 20), "text:成文日期")


# A cached header shows another day than today; a label alone marks a date as today's.
@pytest.mark.parametrize("today_line", ["今天是2026年11月27日 星期五", "当前日期：2026-11-28"])
def test_today_and_copyright_only_give_no_date(today_line: str) -> None:
    header = HEADER.replace("今天是2026年11月28日 星期六", today_line)
    doc = page(header + "<h1>机构职能</h1><p>负责全市……工作。</p>" + FOOTER, "<title>机构职能</title>")
    assert article_date(doc, TODAY) is None


def test_short_publication_label() -> None:
    doc = page("<h1>某某工作会议召开</h1><div>发布：2023-05-06</div>", "<title>某某工作会议召开</title>")
    assert article_date(doc, TODAY) == DateFinding(date(2023, 5, 6), "text:发布")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://www.x.gov.cn/xxgk/202311/t20231120_123456.html", DateFinding(date(2023, 11, 20), "url:trs")),
        ("http://www.x.gov.cn/art/2023/11/20/art_1_2.html", DateFinding(date(2023, 11, 20), "url:art")),
        ("http://www.x.com/world/2019-12/10/c_1125.htm", DateFinding(date(2019, 12, 10), "url:ymd")),
        ("http://www.x.gov.cn/xw/202311/abc.html", DateFinding(date(2023, 11, 1), "url:month", "month")),
        ("http://www.x.gov.cn/xw/t20231340_1.html", None),
        ("http://www.x.gov.cn/xw/index.html", None),
    ],
)
def test_date_from_url(url: str, expected: DateFinding | None) -> None:
    assert date_from_url(url, TODAY) == expected


def test_url_used_when_page_has_no_date() -> None:
    doc = page("<h1>标题标题</h1><p>正文</p>", url="http://www.x.gov.cn/xw/202311/t20231120_1.html")
    assert article_date(doc, TODAY) == DateFinding(date(2023, 11, 20), "url:trs")


def test_future_date_is_kept() -> None:
    doc = page("<h1>标题标题</h1>", '<meta name="PubDate" content="2027-01-01 09:00">')
    found = article_date(doc, TODAY)
    assert found is not None and found.date == date(2027, 1, 1)
