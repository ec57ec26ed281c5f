"""Identity labels (国办发〔2017〕47号) extracted from realistic footers, and every identity finding."""

from __future__ import annotations

import pytest

from crawler.checks.identity import check_identity, extract_identity, labelled_values, normalise_name
from crawler.parse.document import Document
from crawler.types import Site

GOOD_FOOTER = """
<div class="footer">
  <p>主办单位：辽宁省人民政府办公厅&nbsp;&nbsp;&nbsp;承办单位：辽宁省大数据管理局</p>
  <p>网站标识码：2100000037&nbsp;&nbsp;<a href="https://beian.miit.gov.cn/">辽ICP备05023109号</a>
     <a href="http://www.beian.gov.cn/"><img src="/images/ga.png">辽公网安备 21010502000372号</a></p>
  <a href="https://bszs.conac.cn/sitename?method=show&id=1"><img src="https://dcs.conac.cn/image/red.png"></a>
  <a href="https://zfwzgl.www.gov.cn/exposure/jiucuo.html?site_code=2100000037">
    <img src="https://zfwzgl.www.gov.cn/exposure/images/jiucuo.png" alt="我为政府网站找错"></a>
</div>
"""

SITE = Site(
    code="2100000037",
    name="辽宁省人民政府",
    url="https://www.ln.gov.cn/",
    organizer="辽宁省人民政府办公厅",
    kind="portal",
    hosts=("www.ln.gov.cn",),
)


def page(body: str, head: str = '<meta name="SiteIDCode" content="2100000037">', url: str = "") -> Document:
    html = f"<html><head><title>辽宁省人民政府</title>{head}</head><body>{body}</body></html>"
    return Document.from_text(url or "https://www.ln.gov.cn/", html)


def codes(doc: Document, site: Site = SITE, homepage: bool = True) -> list[str]:
    return [finding.check for finding in check_identity(doc, site, homepage)]


def test_extract_good_footer() -> None:
    fields = extract_identity(page(GOOD_FOOTER))
    assert fields.site_id_code == "2100000037"
    assert fields.site_id_code_source == "meta+footer"
    assert fields.icp == "辽ICP备05023109号"
    assert fields.psb == "辽公网安备21010502000372号"
    assert fields.organizer == "辽宁省人民政府办公厅"
    assert fields.undertaker == "辽宁省大数据管理局"


def test_good_page_has_no_findings() -> None:
    assert codes(page(GOOD_FOOTER)) == []


@pytest.mark.parametrize(
    ("footer", "organizer", "code", "icp", "psb"),
    [
        (  # half-width colons, | separators, ICP with a -N suffix
            "主办单位:北京市人民政府办公厅 | 网站标识码:1100000088 | 京ICP备05060933号-1 | "
            "京公网安备11010502039394号",
            "北京市人民政府办公厅", "1100000088", "京ICP备05060933号-1", "京公网安备11010502039394号",
        ),
        (  # <br> between the labels; the value is a link on the next line; department code with letters
            "主办单位：<br><a href='/'>国家税务总局</a><br>网站标识码：bm29000002<br>京ICP备 05070602号",
            "国家税务总局", "bm29000002", "京ICP备05070602号", "",
        ),
        (  # full-width spaces and joint organizers on one line
            "主办：中共某某县委　某某县人民政府　　地址：某某县人民路1号　网站识别码：3306240001",
            "中共某某县委　某某县人民政府", "3306240001", "", "",
        ),
        (  # organizer followed directly by the ICP number
            "<p>主办单位：浙江省人民政府办公厅 浙ICP备05000001号</p>",
            "浙江省人民政府办公厅", "", "浙ICP备05000001号", "",
        ),
        (  # footer written by the CMS with document.write
            "<script>document.write('主办单位：上海市人民政府办公厅 网站标识码：3100000001');</script>",
            "上海市人民政府办公厅", "3100000001", "", "",
        ),
    ],
)  # fmt: skip
def test_extract_realistic_footers(footer: str, organizer: str, code: str, icp: str, psb: str) -> None:
    fields = extract_identity(page(footer, head=""))
    assert (fields.organizer, fields.footer_code, fields.icp, fields.psb) == (organizer, code, icp, psb)
    assert fields.site_id_code_source == ("footer" if code else "")


def test_commented_out_code_does_not_count() -> None:
    fields = extract_identity(page("<!-- 网站标识码：2100000037 --><p>主办单位：某某局</p>", head=""))
    assert fields.site_id_code == ""


def test_meta_only_code() -> None:
    fields = extract_identity(page("<p>主办单位：某某局</p>"))
    assert (fields.site_id_code, fields.site_id_code_source) == ("2100000037", "meta")


def test_site_code_missing() -> None:
    assert "identity.site_code_missing" in codes(page("<p>主办单位：辽宁省人民政府办公厅</p>", head=""))


@pytest.mark.parametrize(
    ("meta", "footer", "registry"),
    [
        ("2100000037", "2100000038", "2100000037"),
        ("2100000037", "", "2100000099"),
        ("", "bm55000001", "BM55000002"),
    ],
)
def test_site_code_mismatch(meta: str, footer: str, registry: str) -> None:
    head = f'<meta name="siteidcode" content="{meta}">' if meta else ""
    body = (
        GOOD_FOOTER.replace("2100000037", footer)
        if footer
        else GOOD_FOOTER.replace("网站标识码：2100000037", "")
    )
    site = Site(code=registry, name="x", url="https://www.ln.gov.cn/", organizer="辽宁省人民政府办公厅")
    findings = [f for f in check_identity(page(body, head=head), site, False) if "site_code" in f.check]
    assert [f.check for f in findings] == ["identity.site_code_mismatch"]
    assert findings[0].detail == {"meta": meta, "footer": footer, "registry": registry}


def test_code_case_is_ignored() -> None:
    site = Site(code="BM55000001", name="x", url="https://www.x.gov.cn/")
    assert "identity.site_code_mismatch" not in codes(page("网站标识码：bm55000001", head=""), site, False)


def test_icp_psb_organizer_missing() -> None:
    result = codes(page("<p>网站标识码：2100000037</p>"), homepage=False)
    assert result == ["identity.icp_missing", "identity.psb_missing", "identity.organizer_missing"]


def test_organizer_mismatch_after_normalising() -> None:
    same = GOOD_FOOTER.replace("辽宁省人民政府办公厅", "辽宁省人民政府 办公厅")
    assert "identity.organizer_mismatch" not in codes(page(same))
    hijacked = GOOD_FOOTER.replace("辽宁省人民政府办公厅", "开云体育APP下载")
    findings = [
        f for f in check_identity(page(hijacked), SITE, False) if f.check == "identity.organizer_mismatch"
    ]
    assert findings[0].detail == {"page": "开云体育APP下载", "registry": "辽宁省人民政府办公厅"}


def test_no_organizer_mismatch_without_registry_value() -> None:
    site = Site(code="2100000037", name="x", url="https://www.ln.gov.cn/")
    assert codes(page(GOOD_FOOTER.replace("辽宁省人民政府办公厅", "别的单位")), site) == []


def test_homepage_only_checks() -> None:
    bare = GOOD_FOOTER.split('<a href="https://bszs')[0] + "</div>"
    assert codes(page(bare), homepage=False) == []
    assert codes(page(bare), homepage=True) == ["identity.jiucuo_missing", "identity.conac_missing"]


def test_jiucuo_and_conac_written_by_scripts() -> None:
    scripts = (
        "<script id='_jiucuo_' sitecode='2100000037' src='https://zfwzgl.www.gov.cn/exposure/jiucuo.js'></script>"
        "<script>document.write(unescape(\"%3Cspan id='_ideConac'%3E%3C/span%3E%3Cscript "
        "src='https://dcs.conac.cn/js/21/000/0000/1/CA21.js'%3E%3C/script%3E\"));</script>"
    )
    body = GOOD_FOOTER.split('<a href="https://bszs')[0] + scripts + "</div>"
    assert codes(page(body)) == []


def test_jiucuo_text_entry() -> None:
    body = GOOD_FOOTER.split('<a href="https://zfwzgl')[0] + "<a href='/jc'>我为政府网站找错</a></div>"
    assert codes(page(body)) == []


@pytest.mark.parametrize(
    ("kind", "host", "ok"),
    [
        ("portal", "www.ln.gov.cn", True),
        ("portal", "ln.gov.cn", False),
        ("portal", "www.liaoning.com", False),
        ("portal", "www.ln.gov.cn.example.com", False),
        ("department", "fgw.ln.gov.cn", True),
        ("department", "www.ln.gov.cn", False),
        ("department", "www.lnfgw.com.cn", False),
        ("", "www.example.com", True),
    ],
)
def test_domain_pattern(kind: str, host: str, ok: bool) -> None:
    site = Site(code="2100000037", name="x", url=f"https://{host}/", organizer="", kind=kind, hosts=(host,))
    findings = [
        f for f in check_identity(page(GOOD_FOOTER), site, True) if f.check == "identity.domain_pattern"
    ]
    assert (findings == []) is ok
    if findings:
        assert findings[0].detail["host"] == host


def test_labelled_values_and_normalise() -> None:
    text = "主办单位：甲单位 | 承办单位：乙单位\n主办：丙单位"
    assert labelled_values(text, ("主办单位", "主办")) == ["甲单位", "丙单位"]
    assert labelled_values(text, ("承办单位",)) == ["乙单位"]
    assert normalise_name(" 某某市（人民）政府 办公室。") == "某某市人民政府办公室"
