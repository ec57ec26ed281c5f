"""Plant each site's faults (special paths + links on its pages) and write down the truth.

Both happen in one place on purpose: a planted link and its expected verdict can never drift
apart. Every planted target is linked from exactly one page so (source, target) is unambiguous.
"""

from __future__ import annotations

from datetime import date

from crawler.simweb import names
from crawler.simweb.model import (
    ENCODING_CASES,
    EXTERNAL_ADDR,
    EXTERNAL_HOSTS,
    HIDDEN_TECHNIQUES,
    NX_HOST,
    REFUSED_HOST,
    SILENT_HOST,
    ColumnSpec,
    Item,
    PlantedLink,
    SiteSpec,
    Special,
    assign_slots,
    column_items,
    make_site,
)
from crawler.simweb.truth import (
    CHECK_COLUMN_BLANK,
    CHECK_COLUMN_STALE,
    CHECK_FUTURE_DATE,
    CHECK_HOMEPAGE_STALE,
    ColumnTruth,
    EncodingCase,
    FreshnessCase,
    IntegrityCase,
    LinkCase,
    SiteTruth,
    TrapCase,
    Truth,
)
from crawler.types import Element, Reason, Verdict

BROKEN, UNVERIFIED, OK = Verdict.BROKEN, Verdict.UNVERIFIED, Verdict.OK
TOO_LONG_HOPS = 12
HUGE_PATH = "/download/huge.html"
HOMEPAGE_BLOCK_COLUMNS = 3  # columns shown as dated blocks on the homepage
HOMEPAGE_BLOCK_ITEMS = 6

# (header charset, meta charsets in order, BOM, body encoding) per encoding case.
ENCODINGS: dict[str, tuple[str | None, tuple[str, ...], bool, str]] = {
    "utf8": ("utf-8", ("utf-8",), False, "utf-8"),
    "enc_gb2312_header_gbk_meta": ("gb2312", ("gbk",), False, "gbk"),
    "enc_gbk_meta_utf8": (None, ("utf-8",), False, "gbk"),
    "enc_bom_utf8_meta_gbk": (None, ("gbk",), True, "utf-8"),
    "enc_gbk_two_metas": (None, ("gbk", "gb2312"), False, "gbk"),
}


def build_web(
    n_sites: int, seed: int, today: date, n_addresses: int = 4, max_items: int = 20
) -> tuple[list[SiteSpec], Truth]:
    n_site_addrs = max(1, n_addresses - 1)  # address 127.0.0.1 is for external hosts
    slots = assign_slots(n_sites, seed)
    truth = Truth(seed=seed, n_sites=n_sites, today=today)
    sites = [make_site(i, seed, today, slots[i], n_site_addrs, max_items) for i in range(n_sites)]
    for site in sites:
        _plant(site, seed, today, truth)
    truth.external_hosts = sorted(EXTERNAL_HOSTS)
    truth.nx_hosts = [NX_HOST]
    truth.refused_hosts = [REFUSED_HOST]
    truth.silent_hosts = [SILENT_HOST]
    truth.blocked_hosts = ["waf403.example-waf.cn", "waf412.example-waf.cn"]
    truth.robots_disallow_all_hosts = ["robots500.example-ext.cn"]
    return sites, truth


def homepage_items(seed: int, site: SiteSpec, today: date) -> list[tuple[int, list[Item]]]:
    """(column index, items) for the dated blocks on the homepage."""
    out: list[tuple[int, list[Item]]] = []
    for ci, col in enumerate(site.columns):
        items = column_items(seed, site, col, today)
        if items:
            out.append((ci, items[:HOMEPAGE_BLOCK_ITEMS]))
        if len(out) == HOMEPAGE_BLOCK_COLUMNS:
            break
    return out


def _plant(site: SiteSpec, seed: int, today: date, truth: Truth) -> None:
    f = site.faults
    code = site.code
    home = site.url
    first = site.columns[0]
    list_url = site.abs(first.list_path)
    article_path = column_items(seed, site, first, today)[0].path
    article_url = site.abs(article_path)
    page_urls = {"home": home, "list": list_url, "article": article_url}
    planted: dict[str, list[PlantedLink]] = {"home": [], "list": [], "article": []}
    site.planted = planted
    sp = site.specials

    def link(
        page: str,
        href: str,
        text: str,
        target: str,
        verdict: Verdict,
        reason: Reason | None,
        fault: str,
        element: Element = Element.A,
    ) -> None:
        planted[page].append(PlantedLink(href, text, element.value))
        case = LinkCase(code, page_urls[page], target, element, verdict, reason, fault)
        (truth.ok_links if verdict is OK else truth.links).append(case)

    def integrity(check: str, url: str, fault: str, detail: str = "", target: str = "") -> None:
        truth.integrity.append(IntegrityCase(code, check, url, fault, detail, target))

    # ---- links and pages
    if "http_404" in f:
        sp["/ztzl/2019/index.html"] = Special("status", 404)
        link(
            "home",
            "/ztzl/2019/index.html",
            "2019年专题",
            site.abs("/ztzl/2019/index.html"),
            BROKEN,
            Reason.HTTP_404,
            "http_404",
        )
    if "broken_image" in f:
        p = "/images/old/banner2019.jpg"
        sp[p] = Special("status", 404)
        link("article", p, "专题图片", site.abs(p), BROKEN, Reason.HTTP_404, "broken_image", Element.IMG)
    if "http_410" in f:
        p = "/xxgk/archive/2018/t20180101_1.html"
        sp[p] = Special("status", 410)
        link("list", p, "2018年归档信息", site.abs(p), BROKEN, Reason.HTTP_410, "http_410")
    if "broken_attachment" in f:
        p = "/uploadfile/2019/0101_missing.pdf"
        sp[p] = Special("status", 404)
        link("article", p, "附件：实施细则.pdf", site.abs(p), BROKEN, Reason.HTTP_404, "broken_attachment")
    if "http_500" in f:
        p = "/interact/mailbox.html"
        sp[p] = Special("status", 500)
        link("home", p, "领导信箱", site.abs(p), BROKEN, Reason.HTTP_5XX, "http_500")
    if "soft404_page" in f:
        p = "/bsfw/guide.html"
        sp[p] = Special("soft404")
        link("home", p, "办事指南", site.abs(p), BROKEN, Reason.SOFT_404, "soft404_page")
    if "soft404_host" in f:
        p = "/zwgk/old/index.html"  # not a special: every unknown path → 302 /404.html (200)
        link("home", p, "政务公开（旧版）", site.abs(p), BROKEN, Reason.SOFT_404, "soft404_host")
    if "redirect_chain" in f:
        sp["/r/c1.html"] = Special("redirect", 301, "/r/c2.html")
        sp["/r/c2.html"] = Special("redirect", 302, f"http://{site.host}/r/c3.html")
        sp["/r/c3.html"] = Special("redirect", 302, "/r/final.html")
        sp["/r/final.html"] = Special("page", title="网上办事大厅")
        link("home", "/r/c1.html", "网上办事大厅", site.abs("/r/c1.html"), OK, None, "redirect_chain")
    if "meta_refresh" in f:
        sp["/r/meta.html"] = Special("meta_refresh", location="/r/meta-target.html")
        sp["/r/meta-target.html"] = Special("page", title="政务服务")
        link("home", "/r/meta.html", "政务服务", site.abs("/r/meta.html"), OK, None, "meta_refresh")
        truth.ok_links.append(
            LinkCase(
                code,
                site.abs("/r/meta.html"),
                site.abs("/r/meta-target.html"),
                Element.META_REFRESH,
                OK,
                None,
                "meta_refresh",
            )
        )
    if "js_redirect" in f:
        sp["/r/js.html"] = Special("js_redirect", location="/r/js-target.html")
        sp["/r/js-target.html"] = Special("page", title="互动交流")
        link("home", "/r/js.html", "互动交流", site.abs("/r/js.html"), OK, None, "js_redirect")
        truth.ok_links.append(
            LinkCase(
                code,
                site.abs("/r/js.html"),
                site.abs("/r/js-target.html"),
                Element.JS_LOCATION,
                OK,
                None,
                "js_redirect",
            )
        )
    if "redirect_loop" in f:
        sp["/r/loop-a.html"] = Special("redirect", 302, "/r/loop-b.html")
        sp["/r/loop-b.html"] = Special("redirect", 302, "/r/loop-a.html")
        link(
            "home",
            "/r/loop-a.html",
            "数据开放",
            site.abs("/r/loop-a.html"),
            BROKEN,
            Reason.REDIRECT_LOOP,
            "redirect_loop",
        )
    if "too_many_redirects" in f:
        for i in range(1, TOO_LONG_HOPS + 1):
            nxt = f"/r/long{i + 1}.html" if i < TOO_LONG_HOPS else "/r/long-final.html"
            sp[f"/r/long{i}.html"] = Special("redirect", 302, nxt)
        sp["/r/long-final.html"] = Special("page", title="统计数据")
        link(
            "home",
            "/r/long1.html",
            "统计数据",
            site.abs("/r/long1.html"),
            BROKEN,
            Reason.TOO_MANY_REDIRECTS,
            "too_many_redirects",
        )
    if "ext_dns" in f:
        link("home", f"http://{NX_HOST}/", "原政务服务网", f"http://{NX_HOST}/", BROKEN, Reason.DNS, "ext_dns")
    if "ext_refused" in f:
        t = f"http://{REFUSED_HOST}/"
        link("home", t, "公共资源交易平台", t, BROKEN, Reason.REFUSED, "ext_refused")
    if "ext_timeout" in f:
        t = f"http://{SILENT_HOST}/"
        link("home", t, "信用信息平台", t, BROKEN, Reason.TIMEOUT, "ext_timeout")
    if "homepage_down" in f:
        truth.unreachable_sites.append(code)
    if "robots_disallow" in f:
        site.robots = "User-agent: *\nDisallow: /private/\n"
        p = "/private/internal.html"
        sp[p] = Special("page", title="内部资料")
        link("home", p, "内部资料", site.abs(p), UNVERIFIED, Reason.ROBOTS_DISALLOWED, "robots_disallow")
        truth.robots_disallowed_urls.append(site.abs(p))
    if "crawl_delay" in f:
        site.robots = "User-agent: *\nCrawl-delay: 1\nDisallow: /admin/\n"
        truth.crawl_delays[site.host] = 1.0
    if "ext_robots500" in f:
        t = "http://robots500.example-ext.cn/report.html"
        link("home", t, "年度报告平台", t, UNVERIFIED, Reason.ROBOTS_DISALLOWED, "ext_robots500")
    if "rate_limited_429" in f:
        p = "/bsfw/hot.html"
        sp[p] = Special("once", 429, title="热点服务", retry_after=1)
        link("home", p, "热点服务", site.abs(p), OK, None, "rate_limited_429")
    if "transient_503" in f:
        p = "/xxgk/transient.html"
        sp[p] = Special("once", 503, title="信息公开指南")
        link("home", p, "信息公开指南", site.abs(p), OK, None, "transient_503")
    if "waf_403" in f:
        t = "http://waf403.example-waf.cn/"
        link("home", t, "在线申报", t, UNVERIFIED, Reason.BLOCKED, "waf_403")
    if "waf_412" in f:
        t = "http://waf412.example-waf.cn/index.html"
        link("home", t, "网上信访", t, UNVERIFIED, Reason.BLOCKED, "waf_412")
    if "huge_body" in f:
        sp[HUGE_PATH] = Special("huge")
        link("home", HUGE_PATH, "数据下载", site.abs(HUGE_PATH), UNVERIFIED, Reason.BODY_TOO_LARGE, "huge_body")
    if "binary_html" in f:
        p = "/download/data.html"
        sp[p] = Special("binary")
        link("home", p, "统计年鉴", site.abs(p), OK, None, "binary_html")
    if "session_ids" in f:
        for col, sep in zip(site.columns[:2], (";jsessionid=", "?JSESSIONID="), strict=True):
            href = f"{col.list_path}{sep}8A3F5C0E1B2D4F6A7C9E0B1D3F5A7C9E"
            link("home", href, f"{col.name}（会话）", site.abs(href), OK, None, "session_ids")
            truth.traps.append(TrapCase(code, "session_id", site.abs(href), f"same page as {col.list_path}"))
    if "calendar_trap" in f:
        href = "/calendar?month=1"
        link("home", href, "活动日历", site.abs(href), OK, None, "calendar_trap")
        truth.traps.append(TrapCase(code, "calendar", site.abs(href), "month=N links month=N+1 forever"))
    if "long_urls" in f:
        href = "/search?q=" + "zhengwu" * 400
        link("home", href, "站内搜索", site.abs(href), OK, None, "long_urls")
        truth.traps.append(TrapCase(code, "long_url", site.abs(href), f"{len(href)}-char path+query"))
        # A classic CMS bug: a relative link that nests itself: /zt/ → /zt/zt/ → /zt/zt/zt/ ...
        link("home", "zt/index.html", "专题专栏", site.abs("/zt/index.html"), OK, None, "long_urls")
        truth.traps.append(TrapCase(code, "long_url", site.abs("/zt/index.html"), "relative self-nesting link"))

    # ---- freshness
    for col in site.columns:
        url = site.abs(col.list_path)
        if col.newest is None:
            kind = "blank_explained" if col.note else "blank"
            truth.freshness.append(
                FreshnessCase(code, kind, CHECK_COLUMN_BLANK, url, col.name, col.cls, None, expect_finding=not col.note)
            )
        elif _is_stale(col, today):
            truth.freshness.append(FreshnessCase(code, "stale", CHECK_COLUMN_STALE, url, col.name, col.cls, col.newest))
        if col.future_days:
            fut = column_items(seed, site, col, today)[0]
            truth.freshness.append(
                FreshnessCase(
                    code,
                    "future",
                    CHECK_FUTURE_DATE,
                    site.abs(fut.path),
                    col.name,
                    col.cls,
                    fut.date,
                    column_url=url,
                )
            )
    if "homepage_stale" in f:
        newest = max(it.date for _, items in homepage_items(seed, site, today) for it in items)
        truth.freshness.append(FreshnessCase(code, "homepage_stale", CHECK_HOMEPAGE_STALE, home, "", "", newest))

    # ---- integrity: hidden links go on distinct pages (home, list, article) of up to 3 per site
    techniques = [t for t in HIDDEN_TECHNIQUES if t in f]
    for page, tech in zip(("home", "list", "article"), techniques, strict=False):
        site.hidden[page] = tech
        target = f"http://www.lucky-example.com/{tech.removeprefix('hidden_')}.html"
        integrity("security.hidden_link", page_urls[page], tech, tech.removeprefix("hidden_"), target)
    if "hijacked" in f:
        integrity("security.hijacked_title", home, "hijacked", names.HIJACK_BRAND)
        integrity("security.hijacked_footer", home, "hijacked", names.HIJACK_BRAND)
        integrity("identity.organizer_mismatch", home, "hijacked", names.HIJACK_BRAND)
    if "spam_meta" in f:
        integrity("security.spam_content", home, "spam_meta", "gambling terms in meta keywords/description")
    if "cloaking" in f:
        integrity("security.cloaking", home, "cloaking", "spider UA or search-engine Referer gets another page")
    if "spam_outbound" in f:
        t = "http://www.old-partner-example.cn/"
        planted["home"].append(PlantedLink(t, "合作单位网站"))
        integrity("security.spam_outbound", home, "spam_outbound", "linked domain now serves gambling", t)
    ident = {
        "site_code_missing": "identity.site_code_missing",
        "site_code_mismatch": "identity.site_code_mismatch",
        "icp_missing": "identity.icp_missing",
        "psb_missing": "identity.psb_missing",
        "organizer_missing": "identity.organizer_missing",
        "organizer_mismatch": "identity.organizer_mismatch",
    }
    for fault, check in ident.items():
        if fault in f:
            integrity(check, home, fault, page_identity(site)[fault.rsplit("_", 1)[0]] or "")

    # ---- encoding
    case = site.charset_case
    if case in ENCODING_CASES:
        header, metas, bom, actual = ENCODINGS[case]
        truth.encodings.append(EncodingCase(code, home, actual, header, metas, bom, site.name))

    truth.sites.append(
        SiteTruth(
            code,
            site.name,
            home,
            site.organizer,
            site.kind,
            site.region,
            site.hosts,
            site.addr,
            site.cms,
            case,
            tuple(sorted(f)),
            tuple(
                ColumnTruth(
                    site.abs(c.list_path),
                    c.name,
                    c.cls,
                    c.cms,
                    c.date_format,
                    c.newest,
                    c.n_items,
                    c.n_pages,
                    c.note,
                )
                for c in site.columns
            ),
        )
    )


def _is_stale(col: ColumnSpec, today: date) -> bool:
    return col.newest is not None and (today - col.newest).days > names.FRESHNESS_WINDOW_DAYS[col.cls]


def page_identity(site: SiteSpec) -> dict[str, str | None]:
    """What the homepage shows (None = absent) for each identity field, after planted faults."""
    f = site.faults
    code: str | None = site.code
    if "site_code_missing" in f:
        code = None
    elif "site_code_mismatch" in f:
        code = site.code[:4] + f"{(int(site.code[4:]) + 5000) % 1000000:06d}"
    organizer: str | None = site.organizer
    if "organizer_missing" in f:
        organizer = None
    elif "organizer_mismatch" in f:
        organizer = site.organizer.replace("办公室", "办公厅") if site.kind == "portal" else f"{site.place}人民政府"
    elif "hijacked" in f:
        organizer = names.HIJACK_BRAND
    return {
        "site_code": code,
        "organizer": organizer,
        "icp": None if "icp_missing" in f else site.icp,
        "psb": None if "psb_missing" in f else site.psb,
    }


__all__ = ["ENCODINGS", "EXTERNAL_ADDR", "build_web", "homepage_items", "page_identity"]
