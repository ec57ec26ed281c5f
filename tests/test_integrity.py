"""Integrity detectors on small hand-written pages: each hiding technique, hijacks, and the look-alikes
that ordinary government pages are full of (dropdown menus, 福利彩票, 体育局, police news)."""

from __future__ import annotations

import pytest

from crawler.checks.integrity import (
    IntegrityFinding,
    PageView,
    check_page,
    compare_cloaking,
    looks_spam_or_parked,
    page_view,
)
from crawler.checks.lexicon import Entry, Lexicon, spam_host
from crawler.parse.document import Document

SITE = "www.example.gov.cn"
HOSTS = frozenset({SITE})


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def page(body: str, head: str = "<title>某某市人民政府</title>") -> Document:
    html = f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"
    return Document.from_text(f"https://{SITE}/art/2024/1/1/art_1.html", html)


def checks(findings: list[IntegrityFinding], name: str) -> list[IntegrityFinding]:
    return [finding for finding in findings if finding.check == name]


# --------------------------------------------------------------------------- lexicon


def test_lexicon_loads_with_version_and_is_cached(lexicon: Lexicon) -> None:
    assert lexicon.version
    assert len(lexicon) > 100
    assert Lexicon.load() is lexicon


def test_lexicon_finds_terms_with_offsets(lexicon: Lexicon) -> None:
    matches = lexicon.find("欢迎来到澳门赌场，百家乐")
    assert [(m.term, m.category, m.strength, m.start) for m in matches] == [
        ("澳门赌场", "gambling", "strong", 4),
        ("百家乐", "gambling", "weak", 9),
    ]


def test_lexicon_folds_case_and_full_width(lexicon: Lexicon) -> None:
    assert [m.term for m in lexicon.find("XX体育ＡＰＰ下载")] == ["体育app下载"]
    assert [m.term for m in lexicon.find("BET365")] == ["bet365"]
    assert [(m.term, m.start) for m in lexicon.find("访问ｂｅｔ365与ＢｅＴ３６５")] == [("bet365", 2), ("bet365", 9)]
    spaced = Lexicon([Entry("Live Casino", "gambling", "strong")], "test")
    assert [m.start for m in spaced.find("进入ＬＩＶＥ\u3000ｃａｓｉｎｏ，live casino")] == [2, 14]


def test_lexicon_terms_are_words(lexicon: Lexicon) -> None:
    # Each term is held in every mix of ASCII and full-width spellings: 2^n for n ASCII characters.
    with pytest.raises(ValueError, match="ASCII characters"):
        Lexicon([Entry("this domain is for sale", "other", "strong")], "test")


def test_nested_and_allowed_matches_are_dropped(lexicon: Lexicon) -> None:
    assert [m.term for m in lexicon.find("真人百家乐")] == ["真人百家乐"]
    assert lexicon.find("国家体育总局棋牌运动管理中心") == []
    assert lexicon.find("澳门博彩业收入") == []


def test_find_in_any_matches_within_each_text_only(lexicon: Lexicon) -> None:
    assert lexicon.find_in_any(["通知公告", "政务公开", "真人娱乐"])
    assert not lexicon.find_in_any(["真人", "娱乐"])  # 真人娱乐 split over two anchors is no match
    assert not lexicon.find_in_any(["国家体育总局棋牌运动管理中心", "政务公开"])  # allowed phrases only
    assert not lexicon.find_in_any([])
    with pytest.raises(ValueError, match="spans lines"):
        Lexicon([Entry("真人\n娱乐", "gambling", "strong")], "test")


@pytest.mark.parametrize(
    "text", ["中国福利彩票发行管理中心", "体育彩票", "市体育局", "文化娱乐", "足球比赛", "办证大厅"]
)
def test_ordinary_government_words_are_not_in_the_lexicon(lexicon: Lexicon, text: str) -> None:
    assert lexicon.find(text) == []


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.bet365.com", "bet365"),
        ("hg0088.com", "hg0088"),
        ("www.8888ylc.com", "8888ylc"),
        ("m.xpj3344.cc", "xpj3344"),
        ("www.tibet.cn", None),
        ("beta.example.com", None),
        ("www.jinsha.gov.cn", None),
        ("www.bet365.gov.cn", None),
    ],
)
def test_spam_host_patterns_are_conservative(host: str, expected: str | None) -> None:
    assert spam_host(host) == expected


# --------------------------------------------------------------------------- hidden links


HIDDEN_CASES = [
    ("display:none", '<div style="display:none">{link}</div>'),
    ("visibility:hidden", '<div style="visibility: hidden">{link}</div>'),
    ("offscreen", '<div style="position:absolute;left:-9999px;top:0">{link}</div>'),
    ("offscreen", '<div style="position:fixed;top:-1000px">{link}</div>'),
    ("zero_size", '<div style="height:0;overflow:hidden">{link}</div>'),
    ("zero_size", '<div style="width:1px;height:1px;overflow:hidden">{link}</div>'),
    ("font_size", '<div style="font-size:0">{link}</div>'),
    ("font_size", '<span style="font-size:1px">{link}</span>'),
    ("text_indent", '<p style="text-indent:-9999px">{link}</p>'),
    ("same_color", '<div style="color:#FFF;background-color:#ffffff">{link}</div>'),
    ("same_color", '<div style="color:white;background:#fff url(x.png)">{link}</div>'),
    ("marquee_zero_size", '<marquee height="1" width="1">{link}</marquee>'),
    ("marquee_scrollamount", '<marquee scrollamount="5000">{link}</marquee>'),
    ("hidden_attribute", "<div hidden>{link}</div>"),
    ("opacity:0", '<div style="opacity:0">{link}</div>'),
]


@pytest.mark.parametrize(("technique", "markup"), HIDDEN_CASES)
def test_each_hiding_technique_with_a_spam_link(lexicon: Lexicon, technique: str, markup: str) -> None:
    link = '<a href="http://www.spam-example.com/">澳门新葡京</a>'
    findings = checks(check_page(page(markup.format(link=link)), HOSTS, lexicon), "security.hidden_link")
    assert len(findings) == 1
    detail = findings[0].detail
    assert detail["technique"] == technique
    assert detail["href"] == "http://www.spam-example.com/"
    assert detail["anchor"] == "澳门新葡京"
    assert detail["terms"] == ["新葡京"]
    assert detail["path"].startswith("body > ") and detail["path"].endswith(" > a")
    assert "spam-example" in detail["evidence"] and len(detail["evidence"]) <= 300


@pytest.mark.parametrize(
    "markup",
    [
        '<div style="position:absolute;left:-999px">{link}</div>',
        '<div style="font-size:0px">{link}</div>',
        '<div style="color:#000;background-color:rgb(0,0,0)">{link}</div>',
        '<marquee width="0" height="0">{link}</marquee>',
    ],
)
def test_covert_hiding_of_plain_off_site_link_is_reported(lexicon: Lexicon, markup: str) -> None:
    link = '<a href="http://www.some-shop.com/">便宜手表</a>'
    findings = checks(check_page(page(markup.format(link=link)), HOSTS, lexicon), "security.hidden_link")
    assert [f.detail["href"] for f in findings] == ["http://www.some-shop.com/"]


def test_style_block_class_and_id_rules(lexicon: Lexicon) -> None:
    doc = page(
        '<div id="foot"><div class="hid"><a href="http://a.example.com/">百家乐 时时彩</a></div></div>'
        '<div id="yy"><a href="http://hg0088.com/">点击</a></div>',
        head="<title>x</title><style>/* ad */ .hid{ display:none !important }"
        "#yy{position:absolute;top:-2000px} @media (max-width:600px){.pc{display:none}}</style>",
    )
    findings = checks(check_page(doc, HOSTS, lexicon), "security.hidden_link")
    by_href = {f.detail["href"]: f.detail for f in findings}
    assert by_href["http://a.example.com/"]["path"] == "body > div#foot > div.hid > a"
    assert by_href["http://a.example.com/"]["technique"] == "display:none"
    assert by_href["http://a.example.com/"]["terms"] == ["百家乐", "时时彩"]
    assert by_href["http://hg0088.com/"]["host_pattern"] == "hg0088"
    assert by_href["http://hg0088.com/"]["technique"] == "offscreen"


def test_simple_selectors_of_a_selector_list_and_paths_within_one_menu(lexicon: Lexicon) -> None:
    doc = page(
        '<ul id="m" class="hid"><li class="a"><a href="http://www.some-shop.com/">便宜手表</a></li>'
        '<li class="b"><span><a href="http://www.other-shop.com/">名牌包</a></span></li></ul>'
        '<ul class="nav"><li><a href="http://www.third-shop.com/">手表</a></li></ul>',
        head="<style>.nav li,\n .hid ,div.x:hover{position:absolute;left:-9999px}</style>",
    )
    findings = checks(check_page(doc, HOSTS, lexicon), "security.hidden_link")
    assert [(f.detail["href"], f.detail["path"]) for f in findings] == [
        ("http://www.some-shop.com/", "body > ul#m > li.a > a"),
        ("http://www.other-shop.com/", "body > ul#m > li.b > span > a"),
    ]


def test_inline_style_overrides_hiding_rule(lexicon: Lexicon) -> None:
    doc = page(
        '<div class="hid" style="display:block"><a href="http://x.example.com/">开元棋牌</a></div>',
        head="<style>.hid{display:none}</style>",
    )
    assert checks(check_page(doc, HOSTS, lexicon), "security.hidden_link") == []


def test_rules_inside_media_queries_are_ignored(lexicon: Lexicon) -> None:
    doc = page(
        '<div class="pc"><a href="http://x.example.com/">shop</a></div>',
        head="<style>@media (max-width:600px){.pc{font-size:0}}</style>",
    )
    assert checks(check_page(doc, HOSTS, lexicon), "security.hidden_link") == []


def test_document_write_links(lexicon: Lexicon) -> None:
    script = (
        '<script>document.write(\'<div style="position:absolute;left:-5000px">'
        "<a href=\"http://www.shop-example.com/\">' + 'buy</a></div>');"
        "document.write(unescape('%3Ca href=%22http://www.x-example.com/%22%3E%E7%9C%9F%E4%BA%BA%E5%A8%B1%E4%B9%90%3C/a%3E'));"
        "</script>"
    )
    findings = checks(check_page(page(script), HOSTS, lexicon), "security.hidden_link")
    by_href = {f.detail["href"]: f.detail for f in findings}
    assert by_href["http://www.shop-example.com/"]["technique"] == "document.write+offscreen"
    assert by_href["http://www.x-example.com/"]["terms"] == ["真人娱乐"]


def test_inner_html_link_with_spam(lexicon: Lexicon) -> None:
    script = "<script>el.innerHTML = \"<a href='http://www.a-example.com/'>\\u6fb3\\u95e8\\u8d4c\\u573a</a>\";</script>"
    findings = checks(check_page(page(script), HOSTS, lexicon), "security.hidden_link")
    assert [f.detail["technique"] for f in findings] == ["innerHTML"]
    assert findings[0].detail["terms"] == ["澳门赌场"]


def test_script_written_badges_and_counters_are_not_reported(lexicon: Lexicon) -> None:
    script = (
        "<script>document.write(unescape(\"%3Cspan id='_ideConac' %3E%3C/span%3E%3Cscript "
        "src='https://dcs.conac.cn/js/33/000/0000/60429971/CA330000000604299710002.js'%3E%3C/script%3E\"));"
        "document.write('<a href=\"https://www.cnzz.com/stat/website.php?web_id=1\">站长统计</a>');"
        "document.write('<a href=\"http://www.vendor-example.com/\">技术支持：某某科技</a>');</script>"
    )
    assert checks(check_page(page(script), HOSTS, lexicon), "security.hidden_link") == []


def test_site_dropdown_menus_are_not_reported(lexicon: Lexicon) -> None:
    menu = """
    <ul class="nav">
      <li onmouseover="show(1)"><a href="/zwgk/">政务公开</a>
        <div class="sub" id="sub1" style="display:none">
          <a href="/zwgk/zfwj/">政府文件</a><a href="https://www.example.gov.cn/zwgk/tzgg/">通知公告</a>
          <a href="http://zwfw.example.gov.cn/">政务服务</a>
        </div></li>
      <li><a href="/ztzl/">专题专栏</a><div class="drop"><a href="/ztzl/cjwm/">创建文明城市</a></div></li>
    </ul>
    <div class="tab-panel" style="display:none"><a href="/jgzn/tyj/">市体育局</a>
      <a href="/fc/">福利彩票发行</a>
      <a href="https://www.sport.gov.cn/">国家体育总局</a> <a href="https://www.gov.cn/">中国政府网</a></div>
    <div id="share" style="display:none"><a href="http://service.weibo.com/share/share.php">微博</a></div>
    <a href="http://www.hanweb.com" style="display:none">Produced By 大汉网络 大汉版通发布系统</a>
    <h1 class="logo"><a style="text-indent:-9999px" href="http://www.partner-example.com/">logo</a></h1>
    """
    doc = page(menu, head="<title>某某市人民政府</title><style>.drop{display:none}</style>")
    assert check_page(doc, HOSTS, lexicon) == []


def test_font_size_zero_layout_with_reset_children_is_not_hidden(lexicon: Lexicon) -> None:
    doc = page(
        '<ul class="links"><li><a href="http://www.bank-example.com/">某某银行</a></li></ul>',
        head="<style>.links{font-size:0} .links li{font-size:14px} li{font-size:14px}</style>",
    )
    assert checks(check_page(doc, HOSTS, lexicon), "security.hidden_link") == []


def test_link_in_nested_hidden_elements_takes_the_nearest_technique(lexicon: Lexicon) -> None:
    # A display:none tab holding an off-screen block: the off-screen block (covert) is what hides the links.
    doc = page(
        '<div class="tab" style="display:none"><a href="http://www.tab-example.com/">tab</a>'
        '<p style="position:absolute;left:-9999px"><a href="http://www.some-shop.com/">便宜手表</a>'
        '<a href="http://www.other-shop.com/">名牌包</a></p></div>'
        '<a href="http://www.visible-example.com/">visible</a>'
    )
    findings = checks(check_page(doc, HOSTS, lexicon), "security.hidden_link")
    assert [f.detail["href"] for f in findings] == ["http://www.some-shop.com/", "http://www.other-shop.com/"]
    assert {f.detail["technique"] for f in findings} == {"offscreen"}
    assert {f.detail["evidence"][:8] for f in findings} == {"<p style"}
    assert {f.detail["path"] for f in findings} == {"body > div.tab > p > a"}


def test_link_hidden_by_its_own_style(lexicon: Lexicon) -> None:
    doc = page('<p><a style="position:absolute;left:-9999px" href="http://www.some-shop.com/">便宜手表</a></p>')
    findings = checks(check_page(doc, HOSTS, lexicon), "security.hidden_link")
    assert [(f.detail["technique"], f.detail["path"]) for f in findings] == [("offscreen", "body > p > a")]


def test_children_revealed_by_class_rules(lexicon: Lexicon) -> None:
    # A class rule gives a child of a font-size:0 list its size back, unless another rule hides the child again;
    # visibility:visible shows one child of a visibility:hidden block, not its siblings.
    doc = page(
        '<ul style="font-size:0"><li class="item"><a href="http://www.bank-example.com/">某某银行</a></li>'
        '<li class="item small"><a href="http://www.some-shop.com/">便宜手表</a></li></ul>'
        '<div style="visibility:hidden"><p class="show"><a href="http://a.example.com/">澳门新葡京</a></p>'
        '<a href="http://b.example.com/">澳门新葡京</a></div>',
        head="<style>.item{font-size:14px} .item{color:#333} .small{font-size:0} .show{visibility:visible}</style>",
    )
    findings = checks(check_page(doc, HOSTS, lexicon), "security.hidden_link")
    assert [(f.detail["href"], f.detail["technique"]) for f in findings] == [
        ("http://www.some-shop.com/", "font_size"),
        ("http://b.example.com/", "visibility:hidden"),
    ]


def test_base_href_title_and_meta(lexicon: Lexicon) -> None:
    # The first <base href> and the first <title> count, wherever they are; relative links resolve against it.
    doc = page(
        '<svg><title>图标</title></svg><a href="hg0088/">链接</a>',
        head='<base href=" http://mirror.example.com/dir/ "><base href="/other/"><title>开元棋牌 官网</title>'
        '<meta name=" Keywords " content=" 百家乐  时时彩 ">',
    )
    findings = check_page(doc, HOSTS, lexicon)
    assert checks(findings, "security.hijacked_title")[0].detail == {
        "fields": ["meta.keywords", "title"],
        "terms": ["开元棋牌", "时时彩", "百家乐"],
        "categories": ["gambling"],
        "meta.keywords": "百家乐 时时彩",
        "title": "开元棋牌 官网",
    }
    assert page_view(doc, HOSTS, lexicon).link_hosts == frozenset({"mirror.example.com"})


def test_script_written_link_with_escaped_attribute_name(lexicon: Lexicon) -> None:
    script = "<script>document.write('<a h\\x72ef=\"http://www.x-example.com/\">\u771f\u4eba\u5a31\u4e50</a>');</script>"
    findings = checks(check_page(page(script), HOSTS, lexicon), "security.hidden_link")
    assert [f.detail["href"] for f in findings] == ["http://www.x-example.com/"]


def test_inline_style_comes_before_the_hidden_attribute(lexicon: Lexicon) -> None:
    # The first technique found for an element is kept: stylesheet rules, inline styles, the hidden
    # attribute, marquee sizes, in this order.
    doc = page(
        '<div hidden style="position:absolute;left:-9999px"><a href="http://www.some-shop.com/">便宜手表</a></div>'
        '<marquee width="1" style="display:none"><a href="http://www.other-shop.com/">名牌包</a></marquee>'
    )
    findings = checks(check_page(doc, HOSTS, lexicon), "security.hidden_link")
    assert [(f.detail["href"], f.detail["technique"]) for f in findings] == [("http://www.some-shop.com/", "offscreen")]


def test_hidden_html_element(lexicon: Lexicon) -> None:
    doc = Document.from_text(
        f"https://{SITE}/", '<html style="display:none"><body><p>开元棋牌</p><a href="/a">a</a></body></html>'
    )
    before = doc.tree.html
    spam = checks(check_page(doc, HOSTS, lexicon), "security.spam_content")
    assert [hit["where"] for hit in spam[0].detail["hits"]] == ["hidden"]
    assert doc.tree.html == before


def test_links_and_text_in_noscript_are_not_read(lexicon: Lexicon) -> None:
    # No <style> on the page: the noscript element alone has to be removed before the page is read.
    doc = page(
        '<noscript><p>开元棋牌</p><a href="http://www.some-shop.com/" style="position:absolute;left:-9999px">'
        "便宜手表</a></noscript><p>正文</p>",
        head="<title>某某市人民政府</title>",
    )
    assert check_page(doc, HOSTS, lexicon) == []


def test_hidden_spam_text_without_links_is_spam_content(lexicon: Lexicon) -> None:
    doc = page('<div style="display:none">开元棋牌 欢迎您</div><p>正文</p>')
    findings = checks(check_page(doc, HOSTS, lexicon), "security.spam_content")
    assert findings and findings[0].detail["where"] == ["hidden"]


def test_single_weak_term_counts_only_when_covertly_hidden(lexicon: Lexicon) -> None:
    covert = page('<div style="position:absolute;left:-3000px">时时彩</div>')
    tab = page('<div class="tab" style="display:none">时时彩</div>')
    assert checks(check_page(covert, HOSTS, lexicon), "security.spam_content")
    assert checks(check_page(tab, HOSTS, lexicon), "security.spam_content") == []


# --------------------------------------------------------------------------- hijacks and spam content


HIJACKED_NOTICE = """
<html><head><meta charset="utf-8"><title>开云体育APP下载</title>
<meta name="keywords" content="开云体育APP下载,开云体育官网">
<meta name="SiteIDCode" content="3300000001"></head>
<body><div class="article"><h1>关于2024年第一季度全省政府网站和政务新媒体检查情况的通报</h1>
<p>各市、县（市、区）人民政府办公室，省级各单位：现将检查情况通报如下。</p></div>
<div class="footer">主办单位：开云体育APP下载&nbsp;&nbsp;承办单位：某某省人民政府办公厅<br>
网站标识码：3300000001 浙ICP备05000001号 浙公网安备 33010602000001号</div></body></html>
"""


def test_hijacked_inspection_notice(lexicon: Lexicon) -> None:
    doc = Document.from_text(f"https://{SITE}/art/2024/4/1/art_1.html", HIJACKED_NOTICE)
    findings = check_page(doc, HOSTS, lexicon)
    title = checks(findings, "security.hijacked_title")[0].detail
    assert title["fields"] == ["meta.keywords", "title"]
    assert title["terms"] == ["体育app下载", "开云体育"]
    assert title["title"] == "开云体育APP下载"
    footer = checks(findings, "security.hijacked_footer")[0].detail
    assert footer["line"].startswith("主办单位：开云体育APP下载")
    assert footer["categories"] == ["gambling"]
    spam = checks(findings, "security.spam_content")[0].detail
    assert {"title", "meta.keywords", "text"} <= set(spam["where"])
    assert all(len(hit["snippet"]) <= 90 for hit in spam["hits"])


def test_footer_organizer_with_br_and_link(lexicon: Lexicon) -> None:
    doc = page('<div id="foot">主办单位：<br><a href="/">澳门新葡京</a> 网站标识码：3300000001</div>')
    assert checks(check_page(doc, HOSTS, lexicon), "security.hijacked_footer")


def test_two_weak_terms_in_title_are_a_hijack(lexicon: Lexicon) -> None:
    doc = page("<p>x</p>", head="<title>时时彩 百家乐 平台</title>")
    assert checks(check_page(doc, HOSTS, lexicon), "security.hijacked_title")


@pytest.mark.parametrize(
    "title",
    ["市体育局", "中国福利彩票发行管理中心", "体育彩票公益金使用情况", "市棋牌协会换届", "文化娱乐场所管理"],
)
def test_legitimate_titles_are_not_hijacks(lexicon: Lexicon, title: str) -> None:
    doc = page(f"<p>{title}</p><div>主办单位：{title}</div>", head=f"<title>{title}</title>")
    assert check_page(doc, HOSTS, lexicon) == []


def test_lottery_and_sports_bureau_page_is_clean(lexicon: Lexicon) -> None:
    body = """
    <h1>市体育局关于福利彩票和体育彩票销售情况的公示</h1>
    <p>2023年全市销售福利彩票12亿元，体育彩票8亿元，筹集彩票公益金3.2亿元，用于全民健身、足球场地建设、
    社会福利和文化娱乐活动。市棋牌运动协会举办象棋比赛。办证大厅地址：市民中心二楼。</p>
    <div class="footer">主办单位：某某市体育局 网站标识码：3301000001</div>
    """
    assert check_page(page(body, head="<title>市体育局</title>"), HOSTS, lexicon) == []


def test_police_news_about_gambling_is_not_spam(lexicon: Lexicon) -> None:
    body = """
    <ul><li><a href="/jwzx/1.html">警方破获一起特大网络"百家乐"赌博案</a></li>
    <li><a href="/jwzx/2.html">严厉打击地下六合彩、时时彩等非法赌博活动</a></li></ul>
    <p>经查，犯罪嫌疑人利用境外赌博网站组织"百家乐""六合彩"赌博，涉案金额上亿元，警方依法查处。</p>
    """
    assert check_page(page(body, head="<title>市公安局</title>"), HOSTS, lexicon) == []


def test_weak_terms_far_apart_do_not_combine(lexicon: Lexicon) -> None:
    body = "<p>澳门葡京" + "。正文内容" * 40 + "时时彩</p>"
    assert checks(check_page(page(body), HOSTS, lexicon), "security.spam_content") == []


def test_spam_in_visible_text_anchor_and_host(lexicon: Lexicon) -> None:
    body = (
        '<p>真人视讯 网上赌场</p><a href="http://www.other-example.com/">六合彩</a>'
        '<a href="https://www.bet365.com/">体育</a>'
    )
    detail = checks(check_page(page(body), HOSTS, lexicon), "security.spam_content")[0].detail
    assert set(detail["where"]) == {"text", "anchor", "link_host"}
    assert {"真人视讯", "网上赌场", "六合彩", "bet365"} <= set(detail["terms"])
    assert detail["categories"] == ["gambling"]


def test_anchor_terms_are_judged_per_link(lexicon: Lexicon) -> None:
    # All anchors are searched at once first; each one must still be judged alone: one weak term counts in
    # an off-site anchor only, and weak terms of neighbouring anchors do not combine.
    body = "".join(f'<a href="/col/{n}/">栏目{n}</a>' for n in range(30))
    body += '<a href="/a/">时时彩</a><a href="/b/">百家乐</a><a href="http://www.other-example.com/">六合彩</a>'
    detail = checks(check_page(page(body), HOSTS, lexicon), "security.spam_content")[0].detail
    assert [hit["term"] for hit in detail["hits"] if hit["where"] == "anchor"] == ["六合彩"]


def test_check_page_does_not_modify_the_shared_tree(lexicon: Lexicon) -> None:
    doc = page(
        '<div style="display:none"><a href="http://x.example.com/">百家乐</a></div><script>var a;</script>'
    )
    before = doc.tree.html
    check_page(doc, HOSTS, lexicon)
    assert doc.tree.html == before


# --------------------------------------------------------------------------- fetch-based helpers


def view(**changes: object) -> PageView:
    base: dict[str, object] = {
        "title": "某某市人民政府",
        "final_url": f"https://{SITE}/",
        "link_hosts": frozenset({"www.gov.cn"}),
        "spam_terms": frozenset(),
    }
    return PageView(**{**base, **changes})  # type: ignore[arg-type]


def test_cloaking_identical_views() -> None:
    assert compare_cloaking(view(), view(title=" 某某市人民政府 ")) is None


def test_cloaking_differences() -> None:
    crawler = view(
        title="澳门新葡京",
        final_url="https://www.casino-example.com/",
        link_hosts=frozenset({"www.gov.cn", "hg0088.com"}),
        spam_terms=frozenset({"新葡京"}),
    )
    detail = compare_cloaking(view(), crawler)
    assert detail is not None
    assert detail["differences"] == ["title", "redirect", "new_link_hosts", "crawler_only_spam"]
    assert detail["new_link_hosts"] == ["hg0088.com"]
    assert detail["crawler_only_terms"] == ["新葡京"]
    assert detail["normal"]["title"] == "某某市人民政府"
    assert detail["crawler"]["title"] == "澳门新葡京"


def test_page_view_of_another_document_at_the_same_url(lexicon: Lexicon) -> None:
    # check_page and page_view share the scan of one document, not of one URL (the crawler fetches a homepage
    # twice to compare what people and search engines are shown).
    people = page('<a href="https://www.gov.cn/">国务院</a>')
    crawler = page('<a href="http://hg0088.com/">新葡京</a>')
    check_page(people, HOSTS, lexicon)
    assert page_view(crawler, HOSTS, lexicon).link_hosts == frozenset({"hg0088.com"})
    assert page_view(people, HOSTS, lexicon).link_hosts == frozenset({"www.gov.cn"})


def test_page_view_collects_off_site_hosts_and_spam(lexicon: Lexicon) -> None:
    doc = page(
        '<a href="/a">a</a><a href="https://www.gov.cn/">国务院</a><p>开元棋牌</p>', head="<title> T </title>"
    )
    result = page_view(doc, HOSTS, lexicon)
    assert result.title == "T"
    assert result.link_hosts == frozenset({"www.gov.cn"})
    assert result.spam_terms == frozenset({"开元棋牌"})


@pytest.mark.parametrize(
    "html",
    [
        "<title>example.com</title><body><h1>此域名出售</h1><p>联系 QQ</p></body>",
        "<body><p>This domain is for sale!</p></body>",
        '<body><script src="https://www.sedo.com/park.js"></script></body>',
        '<body><a href="https://dan.com/buy-domain/example.com">Buy</a></body>',
    ],
)
def test_parked_pages(lexicon: Lexicon, html: str) -> None:
    result = looks_spam_or_parked(Document.from_text("http://old-partner.example.com/", html), lexicon)
    assert result is not None and result["kind"] == "parked"


def test_spam_outbound_page(lexicon: Lexicon) -> None:
    html = "<title>澳门新葡京娱乐场</title><body>真人百家乐 注册送彩金</body>"
    result = looks_spam_or_parked(Document.from_text("http://old-partner.example.com/", html), lexicon)
    assert result is not None and result["kind"] == "spam" and "新葡京" in result["terms"]


def test_ordinary_outbound_page(lexicon: Lexicon) -> None:
    html = '<title>某某大学</title><body><a href="https://jordan.com/">Jordan</a>欢迎报考</body>'
    assert looks_spam_or_parked(Document.from_text("http://www.example.edu.cn/", html), lexicon) is None
