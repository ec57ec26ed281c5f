"""Extraction from parsed pages, and the soft-404 signals built on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.parse.document import Document
from crawler.parse.extract import (
    document_base,
    extract_links,
    meta_tags,
    page_title,
    parse_page,
    redirect_target,
    visible_text,
)
from crawler.parse.soft404 import (
    RedirectCollapse,
    Soft404Profile,
    says_not_found,
    text_fingerprint,
)
from crawler.types import Element, Link

PAGE_URL = "http://www.example.gov.cn/col/col12/index.html"
DATES_DEV = Path("/work/shared/data/dates-dev")

ARTICLE = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>  关于印发
  《政府信息公开工作要点》的通知 </title>
<meta name="SiteName" content="某某市人民政府">
<meta name="SiteDomain" content="www.example.gov.cn">
<meta name="SiteIDCode" content="1100000001">
<meta name="ColumnName" content="通知公告">
<meta name="ArticleTitle" content="关于印发《政府信息公开工作要点》的通知">
<meta name="PubDate" content="2023-05-06 10:00">
<meta name="keywords" content="政务公开">
<meta name="ColumnName" content="duplicate, ignored">
<link rel="stylesheet" href="/css/main.css">
<link rel="shortcut icon" href="/favicon.ico">
<link rel="canonical" href="/canonical.html">
<script src="../../js/jquery.js"></script>
<style>p { color: red }</style>
</head><body>
<div class="nav"><a href="/">首页</a> <a href="../col13/index.html">政务  公开</a>
<a href="javascript:void(0)">打印</a> <a href="mailto:a@example.gov.cn">信箱</a> <a href="#top">顶部</a></div>
<h1>关于印发《政府信息公开工作要点》的通知</h1>
<p>各区人民政府：现将要点印发给你们。</p>
<a href="/att/2023/要点.pdf">附件：要点.pdf</a>
<a href="/att/2023/要点.pdf">附件：要点.pdf</a>
<a href="/att/2023/要点.pdf"><img src="/img/pdf.png" alt="PDF 图标"></a>
<img src="/img/banner.jpg" title="横幅">
<map><area href="/map/a.html" alt="区域 A"></map>
<iframe src="https://video.example.gov.cn/embed/1"></iframe>
<embed src="/media/intro.swf"><object data="/media/intro2.swf"></object>
<video><source src="/media/v.mp4"></video>
<script>var visible = "no";</script><noscript>请启用脚本</noscript>
</body></html>"""


def doc(html: str, url: str = PAGE_URL) -> Document:
    return Document.from_text(url, html)


def test_extract_links() -> None:
    links = extract_links(doc(ARTICLE))
    assert links == (
        Link("http://www.example.gov.cn/css/main.css", "", Element.STYLESHEET),
        Link("http://www.example.gov.cn/favicon.ico", "", Element.STYLESHEET),
        Link("http://www.example.gov.cn/js/jquery.js", "", Element.SCRIPT),
        Link("http://www.example.gov.cn/", "首页", Element.A),
        Link("http://www.example.gov.cn/col/col13/index.html", "政务 公开", Element.A),
        Link("http://www.example.gov.cn/att/2023/%E8%A6%81%E7%82%B9.pdf", "附件：要点.pdf", Element.A),
        Link("http://www.example.gov.cn/att/2023/%E8%A6%81%E7%82%B9.pdf", "PDF 图标", Element.A),
        Link("http://www.example.gov.cn/img/pdf.png", "PDF 图标", Element.IMG),
        Link("http://www.example.gov.cn/img/banner.jpg", "横幅", Element.IMG),
        Link("http://www.example.gov.cn/map/a.html", "区域 A", Element.AREA),
        Link("https://video.example.gov.cn/embed/1", "", Element.IFRAME),
        Link("http://www.example.gov.cn/media/intro.swf", "", Element.EMBED),
        Link("http://www.example.gov.cn/media/intro2.swf", "", Element.OBJECT),
        Link("http://www.example.gov.cn/media/v.mp4", "", Element.SOURCE),
    )


def test_base_href_honoured() -> None:
    html = '<html><head><base href="http://static.example.gov.cn/site/"></head><body><a href="a.html">A</a></body>'
    page = doc(html)
    assert document_base(page) == "http://static.example.gov.cn/site/"
    assert extract_links(page) == (Link("http://static.example.gov.cn/site/a.html", "A", Element.A),)


def test_unusable_base_href_ignored() -> None:
    page = doc('<base href="javascript:x"><a href="a.html">A</a>')
    assert extract_links(page)[0].url == "http://www.example.gov.cn/col/col12/a.html"


def test_anchor_text_collapsed_and_capped() -> None:
    page = doc(f"<a href='/x'>  {'长' * 150} \n\t {'文' * 150} </a>")
    text = extract_links(page)[0].text
    assert len(text) == 200
    assert text.startswith("长" * 150 + " 文")


def test_frameset_links() -> None:
    page = doc('<frameset><frame src="top.html"><frame src="main.html"></frameset>')
    assert [link.element for link in extract_links(page)] == [Element.FRAME, Element.FRAME]


def test_page_title() -> None:
    assert page_title(doc(ARTICLE)) == "关于印发 《政府信息公开工作要点》的通知"
    assert page_title(doc("<p>no title</p>")) == ""


def test_meta_tags() -> None:
    meta = meta_tags(doc(ARTICLE))
    assert meta["sitename"] == "某某市人民政府"
    assert meta["siteidcode"] == "1100000001"
    assert meta["columnname"] == "通知公告"  # the first occurrence wins
    assert meta["pubdate"] == "2023-05-06 10:00"
    assert meta["keywords"] == "政务公开"


def test_meta_refresh_in_meta_tags() -> None:
    meta = meta_tags(doc('<meta http-equiv="Refresh" content="0; url=/new/">'))
    assert meta == {"refresh": "0; url=/new/"}


def test_visible_text_skips_scripts_and_styles_and_leaves_the_tree_alone() -> None:
    page = doc(ARTICLE)
    text = visible_text(page)
    assert "各区人民政府：现将要点印发给你们。" in text
    assert "visible" not in text
    assert "color" not in text
    assert "请启用脚本" not in text
    assert "  " not in text
    assert page.tree.css_first("body script") is not None  # the shared tree is not mutated


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0;url=/new/index.html", "http://www.example.gov.cn/new/index.html"),
        ("0; URL='http://www.other.gov.cn/'", "http://www.other.gov.cn/"),
        ("3;URL=&quot;../col1/&quot;", "http://www.example.gov.cn/col/col1/"),
        ("10, url=/x", "http://www.example.gov.cn/x"),
        ("0;/direct", "http://www.example.gov.cn/direct"),
        ("30;url=/slow", None),
        ("5", None),
        ("0;url=javascript:void(0)", None),
    ],
)
def test_meta_refresh(content: str, expected: str | None) -> None:
    assert redirect_target(doc(f'<meta http-equiv="refresh" content="{content}"><p>正在跳转</p>')) == expected


@pytest.mark.parametrize(
    "script",
    [
        "window.location.href = '/new/';",
        'location.href="/new/"',
        "location.replace('/new/')",
        "window.location = '/new/';",
        "top.location.href='/new/';",
        'self.location.assign("/new/")',
    ],
)
def test_js_redirect(script: str) -> None:
    page = doc(f"<html><body><p>页面跳转中，请稍候…</p><script>{script}</script></body></html>")
    assert redirect_target(page) == "http://www.example.gov.cn/new/"
    assert extract_links(page)[-1] == Link("http://www.example.gov.cn/new/", "", Element.JS_LOCATION)


def test_js_location_on_a_content_page_is_not_a_redirect() -> None:
    body = "<p>" + "正文内容。" * 100 + "</p><script>function go(){ location.href = '/search/'; }</script>"
    assert redirect_target(doc(f"<html><body>{body}</body></html>")) is None


def test_mobile_redirect_is_not_the_page_redirect() -> None:
    script = "if (/android|iphone/i.test(navigator.userAgent)) { window.location.href = 'http://m.example.gov.cn/'; }"
    assert redirect_target(doc(f"<html><body><div id='app'></div><script>{script}</script></body></html>")) is None


def test_parse_page() -> None:
    parsed = parse_page(Document.from_bytes(PAGE_URL, ARTICLE.encode("gb18030"), "gbk"))
    assert parsed.url == PAGE_URL
    assert parsed.title == "关于印发 《政府信息公开工作要点》的通知"
    assert parsed.charset == "gb18030"
    assert parsed.meta["sitename"] == "某某市人民政府"
    assert parsed.text_length == len(visible_text(Document.from_text(PAGE_URL, ARTICLE)))
    assert len(parsed.links) == 14
    assert parsed.redirect_to is None
    assert parsed.soft404_text is False


def test_parse_page_of_a_redirect_page() -> None:
    html = '<html><head><meta http-equiv="refresh" content="0;url=/new/"></head><body>跳转中</body></html>'
    parsed = parse_page(doc(html))
    assert parsed.redirect_to == "http://www.example.gov.cn/new/"
    assert parsed.links == (Link("http://www.example.gov.cn/new/", "", Element.META_REFRESH),)


def test_parse_page_of_an_error_page() -> None:
    html = "<html><head><title>提示信息</title></head><body><div>对不起，您访问的页面不存在或已被删除！</div></body>"
    assert parse_page(doc(html)).soft404_text is True


# --------------------------------------------------------------------------- soft 404: the page's own words

NAV = "首页 政务公开 政务服务 互动交流 走进本市 " * 10
FOOTER = " 主办单位：某某市人民政府办公室 网站标识码：1100000001 京ICP备05070218号"


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("404", ""),
        ("404 Not Found", "nginx"),
        ("页面不存在", NAV + FOOTER),
        ("错误提示", "对不起，该信息已删除。"),
        ("某某市人民政府", NAV + "抱歉，您访问的页面不存在！" + FOOTER),
        ("某某市人民政府", NAV + "很抱歉，找不到该页面 返回首页" + FOOTER),
        ("某某市人民政府", "文章不存在或已删除"),
        ("", "Page Not Found"),
        ("某某市人民政府", "该信息已被删除 返回首页"),
        ("某某市人民政府", "HTTP 404 - 未找到文件"),
    ],
)
def test_says_not_found(title: str, text: str) -> None:
    assert says_not_found(title, text)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("某某市人民政府", NAV + FOOTER),
        ("关于第404号建议的答复", "答复正文……" * 50),
        ("关于纠正错误做法的通知", "正文……" * 50),
        ("某某市政府信息公开", NAV + "本网站已删除过期的信息，详见公告。" * 3 + "正文……" * 400),
        ("某某市人民政府", NAV + "正文……" * 400 + "页面不存在的链接请向我们反馈" + FOOTER),
        ("关于404条不合格产品的通报", ""),
        ("", ""),
    ],
)
def test_does_not_say_not_found(title: str, text: str) -> None:
    assert not says_not_found(title, text)


@pytest.mark.skipif(not DATES_DEV.exists(), reason="dates-dev data set not present")
def test_no_false_positives_on_real_pages() -> None:
    rows = [json.loads(line) for line in (DATES_DEV / "truth.jsonl").read_text().splitlines()]
    flagged = []
    for row in rows:
        parsed = parse_page(
            Document.from_bytes("http://www.example.gov.cn/a.html", (DATES_DEV / row["file"]).read_bytes())
        )
        if parsed.soft404_text:
            flagged.append(row["file"])
    assert flagged == []
    assert len(rows) > 100


# --------------------------------------------------------------------------- soft 404: per-host profile

ERROR_TEXT = NAV + "对不起，您访问的页面 /{path} 不存在！ 2024-05-06 10:11:12" + FOOTER
HOME_TEXT = NAV + "要闻动态 " * 200 + FOOTER


def fingerprint(path: str) -> str:
    return text_fingerprint(ERROR_TEXT.format(path=path))


def test_profile_of_a_host_that_answers_200_with_one_error_page() -> None:
    calibration = "http://www.example.gov.cn/govcrawl-4f9a1c.html"
    profile = Soft404Profile.learn(calibration, calibration, 200, "提示", ERROR_TEXT.format(path="govcrawl-4f9a1c"))
    url = "http://www.example.gov.cn/art/2019/1/1/art_99_1.html"
    text = ERROR_TEXT.format(path="art/2019/1/1/art_99_1.html")
    assert profile.matches(url, 200, "提示", len(text), text_fingerprint(text))
    assert not profile.matches(url, 200, "政府信息公开", len(HOME_TEXT), text_fingerprint(HOME_TEXT))
    assert not profile.matches(url, 404, "提示", len(text), text_fingerprint(text))


def test_profile_same_error_title_and_size_matches_when_text_differs() -> None:
    calibration = "http://www.example.gov.cn/govcrawl-x.html"
    profile = Soft404Profile.learn(calibration, calibration, 200, "页面不存在", ERROR_TEXT.format(path="x"))
    other = ERROR_TEXT.format(path="y") + " 返回首页"
    assert profile.matches("http://www.example.gov.cn/y", 200, "页面不存在", len(other), "different-hash")


def test_profile_with_a_site_wide_title_needs_the_same_text() -> None:
    # Unknown URLs get the homepage (status 200, the site's name as title); real pages share that title.
    calibration = "http://www.example.gov.cn/govcrawl-x.html"
    profile = Soft404Profile.learn(calibration, calibration, 200, "某某市人民政府", HOME_TEXT)
    article = HOME_TEXT.replace("要闻动态", "通知公告")
    url = "http://www.example.gov.cn/art/1.html"
    assert not profile.matches(url, 200, "某某市人民政府", len(article), text_fingerprint(article))
    assert profile.matches(url, 200, "某某市人民政府", len(HOME_TEXT), text_fingerprint(HOME_TEXT))


def test_profile_of_a_host_that_redirects_unknown_urls_to_one_page() -> None:
    home = "http://www.example.gov.cn/"
    profile = Soft404Profile.learn("http://www.example.gov.cn/govcrawl-x.html", home, 200, "首页", HOME_TEXT)
    assert profile.redirects_unknown
    assert profile.matches(home, 200, "首页", len(HOME_TEXT), "h", requested_url="http://www.example.gov.cn/old.html")
    assert not profile.matches(home, 200, "首页", len(HOME_TEXT), "h", requested_url=home)
    assert not profile.matches("http://www.example.gov.cn/a.html", 200, "文章", 5000, "other")


def test_honest_host_profile_matches_no_200() -> None:
    url = "http://www.example.gov.cn/govcrawl-x.html"
    profile = Soft404Profile.learn(url, url, 404, "404 Not Found", "Not Found")
    assert not profile.matches("http://www.example.gov.cn/a.html", 200, "404 Not Found", 9, profile.text_hash)


def test_text_fingerprint_ignores_echoed_urls_and_dates() -> None:
    assert fingerprint("a/b.html") == fingerprint("c/d/e.html?x=1")
    assert fingerprint("a") != text_fingerprint(HOME_TEXT)


# --------------------------------------------------------------------------- soft 404: redirect sinks


def test_redirect_collapse() -> None:
    sinks = RedirectCollapse(min_sources=3)
    sink = "http://www.example.gov.cn/404.html"
    for i in range(2):
        sinks.record(f"http://www.example.gov.cn/old/{i}.html", sink)
    sinks.record("http://www.example.gov.cn/old/0.html", sink)  # the same source again does not count
    sinks.record(sink, sink)  # not a redirect
    assert not sinks.is_sink(sink)
    sinks.record("http://www.example.gov.cn/old/2.html", sink)
    assert sinks.is_sink(sink)
    assert sinks.sinks() == frozenset({sink})
    sinks.record("http://www.example.gov.cn/a", "https://www.example.gov.cn/a")
    assert not sinks.is_sink("https://www.example.gov.cn/a")
