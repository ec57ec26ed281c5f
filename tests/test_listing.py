"""Column list pages: items, pagination, column names, data endpoints, column discovery."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.parse.document import Document
from crawler.parse.listing import (
    MAX_ITEM_LINKS,
    ColumnLink,
    _live_href,
    _page,
    _url_path,
    column_links,
    extract_list,
    homepage_items,
    looks_like_column_url,
    trs_pages,
)
from crawler.types import ListItem

TODAY = date(2023, 11, 28)
BASE = "http://www.x.gov.cn/xxgk/tzgg/index.html"

NAV = (
    '<div class="nav"><ul><li><a href="/">首页</a></li><li><a href="/zwgk/">政务公开</a></li>'
    '<li><a href="/xxgk/tzgg/">通知公告</a></li><li><a href="/hdjl/">互动交流</a></li></ul></div>'
)


def doc(body: str, head: str = "", url: str = BASE) -> Document:
    return Document.from_text(url, f"<html><head>{head}</head><body>{body}</body></html>")


def test_trs_list_with_pagination_script() -> None:
    body = (
        NAV + '<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="/xxgk/">信息公开</a> &gt; '
        '<a href="./">通知公告</a></div><ul class="list">'
        '<li><a href="./202311/t20231120_3.html" title="关于某某工作的通知（全文）">关于某某工作的通知</a>'
        "<span>2023-11-20</span></li>"
        '<li><a href="./202311/t20231115_2.html">关于某某的公告</a><span>[11-15]</span></li>'
        '<li><a href="./202311/t20231101_1.html">关于某某的公示</a><span>2023/11/01</span></li></ul>'
        '<div class="page"><script>var countPage = 3; createPageHTML(countPage, 0, "index", "html");</script>'
        "</div>"
    )
    result = extract_list(doc(body, "<title>通知公告_某某市</title>"), TODAY)
    assert result.is_list
    assert result.items == (
        ListItem(
            "关于某某工作的通知（全文）",
            "http://www.x.gov.cn/xxgk/tzgg/202311/t20231120_3.html",
            date(2023, 11, 20),
        ),
        ListItem(
            "关于某某的公告", "http://www.x.gov.cn/xxgk/tzgg/202311/t20231115_2.html", date(2023, 11, 15)
        ),
        ListItem(
            "关于某某的公示", "http://www.x.gov.cn/xxgk/tzgg/202311/t20231101_1.html", date(2023, 11, 1)
        ),
    )
    assert result.next_pages == (
        "http://www.x.gov.cn/xxgk/tzgg/index_1.html",
        "http://www.x.gov.cn/xxgk/tzgg/index_2.html",
    )
    assert result.column_name == "通知公告"


def test_column_name_and_type_from_meta() -> None:
    head = '<meta name="ColumnName" content="工作动态"><meta name="ColumnType" content="工作动态">'
    result = extract_list(doc("<p>空</p>", head), TODAY)
    assert (result.column_name, result.column_type) == ("工作动态", "工作动态")
    assert not result.is_list and result.items == ()


def test_column_name_falls_back_to_title() -> None:
    assert extract_list(doc("<p>x</p>", "<title>人事信息 - 某某局</title>"), TODAY).column_name == "人事信息"


def test_hanweb_cdata_records() -> None:
    records = "".join(
        f"<record><![CDATA[<li><a href='/art/2023/11/{d}/art_12_{d}.html' title='标题{d}'>标题{d}</a>"
        f"<span>2023-11-{d}</span></li>]]></record>"
        for d in (20, 10)
    )
    body = (
        f'<div id="12345"><script type="text/xml"><datastore><nextgroup><![CDATA[<a href="x"></a>]]>'
        f"</nextgroup><recordset>{records}</recordset></datastore></script></div>"
        "<script>var u = '/module/web/jpage/dataproxy.jsp?page=1&webid=1&columnid=12';</script>"
    )
    result = extract_list(doc(body, url="http://www.x.gov.cn/col/col12/index.html"), TODAY)
    assert result.is_list
    assert result.items == (
        ListItem("标题20", "http://www.x.gov.cn/art/2023/11/20/art_12_20.html", date(2023, 11, 20)),
        ListItem("标题10", "http://www.x.gov.cn/art/2023/11/10/art_12_10.html", date(2023, 11, 10)),
    )
    assert result.data_urls == (
        "http://www.x.gov.cn/module/web/jpage/dataproxy.jsp?page=1&webid=1&columnid=12",
    )


def test_table_list() -> None:
    rows = "".join(
        f'<tr><td><a href="/zfxxgk/{n}.html">规范性文件第{n}号</a></td><td>2023年10月{n}日</td></tr>'
        for n in range(10, 15)
    )
    result = extract_list(doc(NAV + f"<table><tr><th>标题</th><th>日期</th></tr>{rows}</table>"), TODAY)
    assert result.is_list
    assert [i.date for i in result.items] == [date(2023, 10, n) for n in range(10, 15)]


def test_list_without_dates_is_still_a_list_but_menus_are_not() -> None:
    items = "".join(f'<li><a href="/ldxx/{n}.html">领导{n}</a></li>' for n in range(4))
    result = extract_list(doc(NAV + f'<ul class="ldlist">{items}</ul>'), TODAY)
    assert result.is_list
    assert [i.url for i in result.items] == [f"http://www.x.gov.cn/ldxx/{n}.html" for n in range(4)]
    assert all(i.date is None for i in result.items)
    assert not extract_list(doc(NAV), TODAY).is_list


def test_links_with_dates_as_siblings() -> None:
    body = "".join(f'<a href="/xw/{n}.html">新闻标题{n}</a><span>(11-{n:02d})</span><br>' for n in (3, 2, 1))
    result = extract_list(doc(f"<div>{body}</div>"), TODAY)
    assert [i.date for i in result.items] == [date(2023, 11, 3), date(2023, 11, 2), date(2023, 11, 1)]


def test_dates_in_chinese_numerals_and_the_first_meta_of_a_name() -> None:
    rows = "".join(
        f'<li><a href="/zfwj/{n}.html">第{number}号文件的标题</a><span>二〇二三年十一月{day}日</span></li>'
        for n, number, day in ((1, "一", "二十"), (2, "二", "十"), (3, "三", "九"))
    )
    head = '<meta name="ColumnName" content=""><meta name="columnname" content="乙"><title>政府文件_某市</title>'
    result = extract_list(doc(f"<ul>{rows}</ul>", head), TODAY)
    assert [item.date for item in result.items] == [date(2023, 11, 20), date(2023, 11, 10), date(2023, 11, 9)]
    assert result.column_name == "政府文件"  # the first ColumnName is empty: the title's


def test_article_page_related_list_is_not_a_list_page() -> None:
    related = "".join(
        f'<li><a href="/xw/{n}.html">相关新闻{n}</a><span>2023-11-0{n}</span></li>' for n in (1, 2, 3)
    )
    head = '<meta name="ArticleTitle" content="某某新闻">'
    result = extract_list(doc(f"<h1>某某新闻</h1><p>正文</p><ul>{related}</ul>", head), TODAY)
    assert not result.is_list


def test_pagination_links() -> None:
    body = (
        '<div class="pages"><a href="index.html">首页</a><a href="index_1.html">2</a>'
        '<a href="list.jsp?page=2">下一页</a><a href="/xw/more.html">尾页</a>'
        '<a href="javascript:;">上一页</a></div>'
    )
    assert extract_list(doc(body), TODAY).next_pages == (
        "http://www.x.gov.cn/xxgk/tzgg/index_1.html",
        "http://www.x.gov.cn/xxgk/tzgg/list.jsp?page=2",
        "http://www.x.gov.cn/xw/more.html",
    )


def test_pagination_urls_in_any_case() -> None:
    body = (
        '<div><a href="INDEX_2.SHTML">第二页</a><a href="list.jsp?PageNum=3">第三页</a>'
        '<a href="list.jsp?id=5">其他</a><a href="/a_b/c_1.html">其他</a></div>'
    )
    assert extract_list(doc(body), TODAY).next_pages == (
        "http://www.x.gov.cn/xxgk/tzgg/INDEX_2.SHTML",
        "http://www.x.gov.cn/xxgk/tzgg/list.jsp?PageNum=3",
    )


def test_trs_newer_signature() -> None:
    assert trs_pages("'page_div', 3, 1, 'list', 'shtml', 60", "", "http://x.gov.cn/a/list.shtml") == [
        "http://x.gov.cn/a/list.shtml",
        "http://x.gov.cn/a/list_1.shtml",
        "http://x.gov.cn/a/list_2.shtml",
    ]
    assert trs_pages("n, 0", "", "http://x.gov.cn/a/") == []  # unknown page count


def test_looks_like_column_url() -> None:
    assert looks_like_column_url("http://x.gov.cn/col/col1234/index.html")
    assert looks_like_column_url("http://x.gov.cn/xxgk/tzgg/")
    assert not looks_like_column_url("http://x.gov.cn/xxgk/tzgg/202311/t20231120_1.html")
    assert not looks_like_column_url("http://x.gov.cn/art/2023/11/20/index.html")


def test_homepage_items_and_column_links() -> None:
    body = (
        NAV
        + '<div class="box"><div class="hd"><span>政务要闻</span><a href="/xw/zwyw/">更多&gt;&gt;</a></div>'
        '<ul><li><a href="/xw/zwyw/1.html">要闻一</a><span>11-27</span></li>'
        '<li><a href="/xw/zwyw/2.html">要闻二</a><span>11-20</span></li></ul></div>'
        '<div class="box"><div class="hd"><h3>通知公告</h3><a href="/col/col99/index.html">more</a></div>'
        '<ul><li><a href="/tz/1.html">通知一</a></li>'
        '<li><a href="/tz/2.html">通知二</a><i>2023-10-01</i></li></ul>'
        "</div>"
    )
    home = doc(body, url="http://www.x.gov.cn/")
    assert homepage_items(home, TODAY) == (
        ListItem("要闻一", "http://www.x.gov.cn/xw/zwyw/1.html", date(2023, 11, 27)),
        ListItem("要闻二", "http://www.x.gov.cn/xw/zwyw/2.html", date(2023, 11, 20)),
        ListItem("通知二", "http://www.x.gov.cn/tz/2.html", date(2023, 10, 1)),
    )
    links = column_links(home)
    assert ColumnLink("http://www.x.gov.cn/xw/zwyw/", "政务要闻", True) in links
    assert ColumnLink("http://www.x.gov.cn/col/col99/index.html", "通知公告", True) in links
    assert ColumnLink("http://www.x.gov.cn/zwgk/", "政务公开", False) in links
    assert all(not link.url.endswith(".html") or "/col/" in link.url for link in links)


# --------------------------------------------------------------------------- the shortcuts agree with the definitions
# List detection reads a page's links once and finds list items by walking up from them, instead of querying
# every element; these pin the cases where such shortcuts could read a page differently.

_MARKUP = st.recursive(
    st.sampled_from(['<a href="/x.html">新闻</a>', '<a href="javascript:;">无</a>', "<a>无</a>", "文字", "<br>"]),
    lambda inner: st.builds(
        lambda tag, children: f"<{tag}>{''.join(children)}</{tag}>",
        st.sampled_from(("div", "ul", "li", "td", "tr", "table", "span", "p", "a")),
        st.lists(inner, max_size=5),
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_MARKUP)
def test_link_holders_are_what_a_query_per_element_finds(body: str) -> None:
    page = doc(body)
    holders = _page(page).holders
    root = page.tree.body
    assert root is not None
    holding: list[int] = []
    for node in root.traverse():
        live = [a.mem_id for a in node.css("a[href]") if _live_href(a.attributes.get("href"))]
        if node.mem_id == root.mem_id or not live:
            assert node.mem_id not in holders.links
            continue
        holding.append(node.mem_id)
        assert [link.node.mem_id for link in holders.links[node.mem_id]] == live[: MAX_ITEM_LINKS + 1]
        children = [c for c in node.iter() if c.mem_id in holders.links]
        assert holders.holding_children.get(node.mem_id, 0) == len(children)
    assert [node.mem_id for node in holders.order] == holding


def test_an_element_with_more_than_three_links_is_no_item() -> None:
    rows = "".join(
        f'<li><a href="/a/{n}.html">第{n}条通知的标题</a>'
        + "".join(f'<a href="/a/{n}_{k}.pdf">附件{k}</a>' for k in range(1, links))
        + f"<span>2023-11-{n:02d}</span></li>"
        for n, links in ((1, 3), (2, 4), (3, 3), (4, 5), (5, 1))
    )
    result = extract_list(doc(f"<ul>{rows}</ul>"), TODAY)
    assert [item.url for item in result.items] == [f"http://www.x.gov.cn/a/{n}.html" for n in (1, 3, 5)]


def test_a_link_that_goes_nowhere_is_no_item_even_around_a_live_one() -> None:
    # An SVG <a> inside an HTML <a> is a live link held by a dead one: the dead one still has no URL.
    rows = (
        '<a href="/xw/1.html">新闻标题一</a><span>2023-11-04</span><br>'
        '<a href="javascript:;">新闻标题二<svg><a href="/xw/2.html">图标</a></svg></a><span>2023-11-03</span><br>'
        '<a>新闻标题三</a><span>2023-11-02</span><br>'
        '<a href="/xw/4.html">新闻标题四</a><span>2023-11-01</span><br>'
        '<a href="/xw/5.html">新闻标题五</a><span>2023-10-31</span><br>'
    )
    result = extract_list(doc(f"<div>{rows}</div>"), TODAY)
    assert [item.url for item in result.items] == [f"http://www.x.gov.cn/xw/{n}.html" for n in (1, 4, 5)]


def test_homepage_blocks_are_read_in_document_order() -> None:
    # Each <ul> is a block, and so is the <div> around them (one item per <ul>: its longest link, dated by
    # the first date of the rest of the <ul>). The outer block comes first, so its reading of a link wins.
    lists = "".join(
        f'<ul><li><a href="/xw/{n}1.html">要闻{n}甲</a><span>2023-11-0{n}</span></li>'
        f'<li><a href="/xw/{n}2.html">要闻{n}乙的标题更长</a><span>2023-10-0{n}</span></li></ul>'
        for n in (1, 2, 3)
    )
    items = homepage_items(doc(f'<div class="box">{lists}</div>', url="http://www.x.gov.cn/"), TODAY)
    assert [(item.url[-8:], item.date) for item in items] == [
        ("/12.html", date(2023, 11, 1)),
        ("/22.html", date(2023, 11, 2)),
        ("/32.html", date(2023, 11, 3)),
        ("/11.html", date(2023, 11, 1)),
        ("/21.html", date(2023, 11, 2)),
        ("/31.html", date(2023, 11, 3)),
    ]


def test_a_later_longer_list_wins_and_furniture_never_does() -> None:
    def rows(prefix: str, count: int) -> str:
        return "".join(
            f'<li><a href="/{prefix}/{n}.html">{prefix}栏目第{n}条信息</a><span>2023-11-{n:02d}</span></li>'
            for n in range(1, count + 1)
        )

    body = (
        f'<div class="footer"><ul>{rows("yqlj", 9)}</ul></div>'
        f"<ul>{rows('xw', 3)}</ul><ul>{rows('tz', 3)}</ul><ul>{rows('gg', 4)}</ul>"
        f'<div class="footer-links"><ul>{rows("dh", 8)}</ul></div>'
    )
    assert [item.url[-10:] for item in extract_list(doc(body), TODAY).items] == [
        f"/gg/{n}.html" for n in range(1, 5)
    ]
    body = f"<ul>{rows('xw', 3)}</ul><ul>{rows('tz', 3)}</ul>"  # a tie: the first
    assert [item.url[-10:] for item in extract_list(doc(body), TODAY).items] == [f"/xw/{n}.html" for n in (1, 2, 3)]


def test_an_image_link_is_named_by_its_alt_text() -> None:
    body = '<div class="nav"><a href="/tpxw/"><span><img src="t.png" alt="图片 新闻"></span></a></div>'
    assert column_links(doc(body)) == (ColumnLink("http://www.x.gov.cn/tpxw/", "图片 新闻", False),)


def test_navigation_links_among_content_links() -> None:
    # Links of one page share ancestors, and whether an ancestor is navigation is remembered per page.
    body = (
        '<div class="wrap"><div class="nav"><ul><li><a href="/a.html">机构概况</a></li>'
        '<li><a href="/b.html">政务公开</a></li></ul></div>'
        '<div class="main"><ul><li><a href="/c.html">领导活动</a></li></ul></div>'
        '<div class="menu"><a href="/d.html">互动交流</a></div>'
        '<div class="main"><p><a href="/e.html">某某会议</a></p></div></div>'
    )
    names = [link.name for link in column_links(doc(body))]
    assert names == ["机构概况", "政务公开", "互动交流"]


def test_an_article_page_still_shows_its_related_items() -> None:
    related = "".join(
        f'<li><a href="/xw/{n}.html">相关新闻{n}</a><span>2023-11-0{n}</span></li>' for n in (1, 2, 3)
    )
    result = extract_list(doc(f"<h1>某某新闻</h1><div id='zoom'>正文</div><ul>{related}</ul>"), TODAY)
    assert not result.is_list
    assert [item.url for item in result.items] == [f"http://www.x.gov.cn/xw/{n}.html" for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("prose", "linked", "is_article"),
    [(300, 0, True), (299, 0, False), (200, 100, False)],  # linked: text of paragraphs holding a link
)
def test_prose_makes_an_article(prose: int, linked: int, is_article: bool) -> None:
    items = "".join(f'<li><a href="/xw/{n}.html">新闻标题{n}</a><span>2023-11-0{n}</span></li>' for n in (1, 2, 3))
    paragraphs = f"<p>{'字' * (prose - 100)}</p><p>{'字' * 100}</p>"
    if linked:
        paragraphs += f"<p><span><a href='/x.html'>{'链' * linked}</a></span></p>"
    assert extract_list(doc(f"{paragraphs}<ul>{items}</ul>"), TODAY).is_list is not is_article


def test_known_links_are_left_out() -> None:
    body = NAV + '<div class="more"><h3>政策文件</h3><a href="/zcwj/">更多</a></div>'
    known = {"http://www.x.gov.cn/zwgk/", "http://www.x.gov.cn/zcwj/"}
    assert [link.name for link in column_links(doc(body), known=known.__contains__)] == ["首页", "通知公告", "互动交流"]


def test_pages_at_one_url_are_read_each_for_itself() -> None:
    first = doc('<ul><li><a href="/a/">机构概况</a></li></ul>', '<meta name="ColumnName" content="甲">')
    second = doc('<ul><li><a href="/b/">政务公开</a></li></ul>', '<meta name="ColumnName" content="乙">')
    assert [link.name for link in column_links(first)] == ["机构概况"]
    assert [link.name for link in column_links(second)] == ["政务公开"]
    assert (extract_list(first, TODAY).column_name, extract_list(second, TODAY).column_name) == ("甲", "乙")


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["http://", "https://", "HTTP://", "http:", "ftp://", ""]),
    st.text(alphabet="ab.1:/?#[]@ \t\n\r中ä%／＃", max_size=30),  # ／＃: NFKC-normalised in hosts
)
def test_url_path_is_what_urlsplit_finds(scheme: str, rest: str) -> None:
    try:
        expected = urlsplit(scheme + rest).path
    except ValueError:
        with pytest.raises(ValueError):
            _url_path(scheme + rest)
    else:
        assert _url_path(scheme + rest) == expected
