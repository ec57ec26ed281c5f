"""HTML for simulated pages, rendered per request from the site spec (nothing is pre-rendered).

The markup imitates what TRS WCM and Hanweb (大汉) sites really emit, including their quirks
(relative ``./202311/t…`` links, Hanweb's ``<datastore>`` records inside CDATA), because the
crawler's list/date extraction must work on exactly that.
"""

from __future__ import annotations

import codecs
import random
from datetime import date
from html import escape
from urllib.parse import quote

from crawler.simweb import names
from crawler.simweb.model import ColumnSpec, Item, PlantedLink, SiteSpec
from crawler.simweb.plan import ENCODINGS, HOMEPAGE_BLOCK_ITEMS, homepage_items, page_identity

NOT_FOUND_HTML = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def error_html(status: int, reason: str) -> str:
    return NOT_FOUND_HTML.replace("404 Not Found", f"{status} {reason}")


def encode(site: SiteSpec | None, html: str) -> tuple[bytes, str]:
    """Body bytes and Content-Type header, following the site's (possibly inconsistent) charset setup."""
    header, _metas, bom, actual = ENCODINGS[site.charset_case if site else "utf8"]
    body = html.encode(actual, errors="xmlcharrefreplace")
    if bom:
        body = codecs.BOM_UTF8 + body
    return body, "text/html" + (f"; charset={header}" if header else "")


def fmt_list_date(d: date, fmt: str) -> str:
    if fmt == "iso":
        return f"<span>{d.isoformat()}</span>"
    if fmt == "bracket":
        return f"<span>[{d:%m-%d}]</span>"
    if fmt == "cn":
        return f"<span>{d.year}年{d.month:02d}月{d.day:02d}日</span>"
    return ""


# --------------------------------------------------------------------------- shared pieces


def _head(site: SiteSpec, title: str, extra_meta: dict[str, str], style: str = "", spam: bool = False) -> str:
    _header, metas, _bom, _actual = ENCODINGS[site.charset_case]
    ident = page_identity(site)
    parts = ["<!DOCTYPE html>\n<html>\n<head>"]
    for i, cs in enumerate(metas):  # first as <meta charset>, later ones in the http-equiv form
        parts.append(
            f'<meta charset="{cs}">'
            if i == 0
            else f'<meta http-equiv="Content-Type" content="text/html; charset={cs}">'
        )
    parts.append(f"<title>{escape(title)}</title>")
    meta = {"SiteName": site.name, "SiteDomain": site.host}
    if ident["site_code"]:
        meta["SiteIDCode"] = ident["site_code"]
    meta.update(extra_meta)
    keywords = f"{site.name},政务公开,政务服务"
    description = f"{site.name}门户网站"
    if spam:
        keywords += "," + ",".join(names.GAMBLING_TERMS)
        description = f"{names.GAMBLING_TERMS[0]}官方网站，{names.GAMBLING_TERMS[1]}、{names.GAMBLING_TERMS[2]}在线体验"
    meta["keywords"] = keywords
    meta["description"] = description
    parts.extend(f'<meta name="{k}" content="{escape(v)}">' for k, v in meta.items())
    parts.append('<link rel="stylesheet" href="/css/style.css">')
    parts.append('<script src="http://cdn.example-cdn.cn/jquery/1.12.4/jquery.min.js"></script>')
    if style:
        parts.append(f"<style>{style}</style>")
    parts.append("</head>\n<body>")
    return "\n".join(parts)


def _nav(site: SiteSpec) -> str:
    links = "".join(f'<li><a href="{c.list_path}">{escape(c.name)}</a></li>' for c in site.columns)
    return (
        f'<div class="header"><img src="/images/logo.png" alt="{escape(site.name)}">'
        f"<h1>{escape(site.name)}</h1></div>\n"
        f'<div class="nav"><ul><li><a href="/">首页</a></li>{links}</ul></div>'
    )


def _footer(site: SiteSpec, organizer_override: str | None = None) -> str:
    ident = page_identity(site)
    organizer = organizer_override or ident["organizer"]
    code = ident["site_code"]
    lines = []
    if organizer:
        lines.append(f"<p>主办单位：{escape(organizer)}</p>")
    ids = []
    if code:
        ids.append(f"网站标识码：{code}")
    if ident["icp"]:
        ids.append(f'<a href="http://beian.miit.gov.cn/" target="_blank">{ident["icp"]}</a>')
    if ident["psb"]:
        digits = "".join(ch for ch in ident["psb"] if ch.isdigit())
        ids.append(
            '<a href="http://www.beian.gov.cn/portal/registerSystemInfo?'
            f'recordcode={digits}" target="_blank">'
            f'<img src="/images/gongan.png" alt="">{ident["psb"]}</a>'
        )
    if ids:
        lines.append("<p>" + "　".join(ids) + "</p>")
    # 镕 is in GBK but not GB2312: a decoder that trusts a "gb2312" label literally fails here.
    lines.append(f"<p>地址：{escape(site.place)}镕城大道{site.index % 300 + 1}号　联系电话：024-2{site.index:07d}</p>")
    jiucuo = "http://pucha.kaipuyun.cn/exposure/jiucuo.html?" + (f"site_code={code}&amp;" if code else "")
    lines.append(f'<p><a href="{jiucuo}url={quote(site.url, safe="")}" target="_blank">我为政府网站找错</a></p>')
    lines.append(
        f'<p><a href="http://bszs.conac.cn/sitename?method=show&amp;id={site.index:08X}" target="_blank">'
        '<img src="http://dcs.conac.cn/image/red.png" alt="党政机关网站标识"></a></p>'
    )
    return '<div class="footer">\n' + "\n".join(lines) + "\n</div>\n</body>\n</html>\n"


def _planted(links: list[PlantedLink]) -> str:
    if not links:
        return ""
    out = []
    for pl in links:
        if pl.element == "img":
            out.append(f'<p><img src="{escape(pl.href)}" alt="{escape(pl.text)}"></p>')
        else:
            out.append(f'<li><a href="{escape(pl.href)}" target="_blank">{escape(pl.text)}</a></li>')
    return '<div class="related"><h3>相关链接</h3><ul>' + "".join(out) + "</ul></div>"


HIDDEN_CLASS = "ft-ext"


def hidden_block(technique: str) -> tuple[str, str]:
    """(style for <head>, body HTML) hiding a gambling link with the given technique."""
    name = technique.removeprefix("hidden_")
    href = f"http://www.lucky-example.com/{name}.html"
    a = f'<a href="{href}">{names.GAMBLING_TERMS[0]}{names.GAMBLING_TERMS[1]}</a>'
    bodies = {
        "display_none": f'<div style="display:none">{a}</div>',
        "offscreen": f'<div style="position:absolute;left:-3000px;top:-3000px">{a}</div>',
        "font_zero": f'<p style="font-size:0">{a}</p>',
        "text_indent": f'<div style="text-indent:-9999px;overflow:hidden;height:1px">{a}</div>',
        "color_bg": f'<div style="color:#ffffff;background-color:#ffffff"><a style="color:#ffffff" '
        f'href="{href}">{names.GAMBLING_TERMS[2]}</a></div>',
        "marquee": f'<marquee width="0" height="0" scrollamount="9999">{a}</marquee>',
        "style_class": f'<div class="{HIDDEN_CLASS}">{a}</div>',
        "document_write": '<script type="text/javascript">document.write(\'<div style="display:none">'
        + a.replace('"', '\\"')
        + "</div>');</script>",
    }
    style = f".{HIDDEN_CLASS}{{display:none}}" if name == "style_class" else ""
    return style, bodies[name]


# --------------------------------------------------------------------------- pages


def homepage(site: SiteSpec, seed: int, today: date, cloaked: bool = False) -> str:
    title = site.name
    organizer = None
    if "hijacked" in site.faults:
        title = f"{names.HIJACK_BRAND}-{names.HIJACK_BRAND.removesuffix('APP下载')}官方网站"
        organizer = names.HIJACK_BRAND
    if cloaked:
        title = f"{names.GAMBLING_TERMS[0]}-{names.GAMBLING_TERMS[1]}-{site.name}"
    style, hidden = hidden_block(site.hidden["home"]) if "home" in site.hidden else ("", "")
    head = _head(site, title, {"ColumnName": "首页", "ColumnType": "首页"}, style, spam="spam_meta" in site.faults)
    blocks = []
    for ci, items in homepage_items(seed, site, today):
        col = site.columns[ci]
        lis = "".join(
            f'<li><a href="{it.path}" title="{escape(it.title)}">{escape(it.title)}</a>'
            f'<span class="date">{it.date.isoformat()}</span></li>'
            for it in items[:HOMEPAGE_BLOCK_ITEMS]
        )
        blocks.append(
            f'<div class="block"><div class="block-title"><h2>{escape(col.name)}</h2>'
            f'<a class="more" href="{col.list_path}">更多&gt;&gt;</a></div><ul>{lis}</ul></div>'
        )
    cloak = ""
    if cloaked:
        cloak = (
            '<div class="hot">'
            + "".join(
                f'<a href="http://www.lucky-example.com/cloak{i}.html">{t}</a>'
                for i, t in enumerate(names.GAMBLING_TERMS)
            )
            + "</div>"
        )
    friends = (
        '<div class="links"><h3>友情链接</h3><ul>'
        '<li><a href="http://www.gov.cn/" target="_blank">中国政府网</a></li>'
        '<li><a href="http://www.news-example.cn/" target="_blank">新闻网</a></li></ul></div>'
    )
    return "\n".join(
        (
            head,
            _nav(site),
            cloak,
            '<div class="main">',
            *blocks,
            "</div>",
            _planted(site.planted.get("home", [])),
            hidden,
            friends,
            _footer(site, organizer),
        )
    )


def _crumb(col: ColumnSpec, tail: str = "") -> str:
    return (
        '<div class="crumb">当前位置：<a href="/">首页</a> &gt; '
        + f'<a href="{col.list_path}">{escape(col.name)}</a>'
        + (f" &gt; {tail}" if tail else "")
        + "</div>"
    )


def list_page(site: SiteSpec, col: ColumnSpec, page: int, items: list[Item]) -> str:
    first_page = page == 0 and col is site.columns[0]
    style, hidden = hidden_block(site.hidden["list"]) if first_page and "list" in site.hidden else ("", "")
    head = _head(site, f"{col.name}_{site.name}", {"ColumnName": col.name, "ColumnType": col.name}, style)
    if col.cms == "hanweb":
        records = "".join(
            f'<record><![CDATA[\n<li><a href="{it.path}" target="_blank" title="{escape(it.title)}">'
            f"{escape(it.title)}</a>{fmt_list_date(it.date, col.date_format)}</li>\n]]></record>\n"
            for it in items
        )
        body = (
            f'<div class="default_pgContainer" id="{col.cid}00"><script type="text/xml"><datastore>'
            f"<recordset>\n{records}</recordset></datastore></script></div>"
            '<script language="javascript" src="/js/jpage.js"></script>'
        )
    else:
        shown = items[page * col.per_page : (page + 1) * col.per_page]
        lis = "".join(
            f'<li><a href="./{it.date:%Y%m}/t{it.date:%Y%m%d}_{it.artid}.html" target="_blank" '
            f'title="{escape(it.title)}">{escape(it.title)}</a>{fmt_list_date(it.date, col.date_format)}</li>'
            for it in shown
        )
        pager = f'<script>createPageHTML({col.n_pages}, {page}, "index", "html");</script>'
        if page + 1 < col.n_pages:
            pager += f'<a href="index_{page + 1}.html">下一页</a>'
        if page > 0:
            pager += f'<a href="{"index.html" if page == 1 else f"index_{page - 1}.html"}">上一页</a>'
        body = f'<ul class="list">{lis}</ul><div class="page">{pager}</div>'
    note = f'<div class="note">{escape(col.note)}</div>' if col.note else ""
    planted = _planted(site.planted.get("list", [])) if first_page else ""
    return "\n".join(
        (
            head,
            _nav(site),
            _crumb(col),
            f'<div class="list-box"><h2>{escape(col.name)}</h2>',
            body,
            note,
            "</div>",
            planted,
            hidden,
            _footer(site),
        )
    )


def article(site: SiteSpec, col: ColumnSpec, it: Item, first: bool) -> str:
    rng = random.Random(it.artid)
    style, hidden = hidden_block(site.hidden["article"]) if first and "article" in site.hidden else ("", "")
    pub = f"{it.date.isoformat()} {8 + it.artid % 10:02d}:{it.artid % 60:02d}"
    head = _head(
        site,
        f"{it.title}_{site.name}",
        {
            "ColumnName": col.name,
            "ColumnType": col.name,
            "ArticleTitle": it.title,
            "PubDate": pub,
            "ContentSource": site.organizer,
        },
        style,
    )
    paras = "".join(f"<p>{names.paragraph(rng, site.place)}</p>" for _ in range(rng.randint(2, 5)))
    ym = f"{it.date:%Y%m}"
    extras = []
    if col.cls == "news" and it.idx % 2 == 0:
        extras.append(f'<p style="text-align:center"><img src="/images/{ym}/{it.artid}.jpg" alt=""></p>')
    if it.idx % 3 == 0:
        ext = ("pdf", "doc", "xls")[it.idx % 9 // 3]
        extras.append(f'<p>附件：<a href="/uploadfile/{ym}/{it.artid}_1.{ext}">{escape(it.title)}.{ext}</a></p>')
    return "\n".join(
        (
            head,
            _nav(site),
            _crumb(col, "正文"),
            '<div class="article">',
            f"<h1>{escape(it.title)}</h1>",
            f'<div class="info">发布时间：{pub}　来源：{escape(site.organizer)}</div>',
            f'<div class="content">{paras}{"".join(extras)}</div>',
            "</div>",
            _planted(site.planted.get("article", [])) if first else "",
            hidden,
            _footer(site),
        )
    )


def simple_page(site: SiteSpec | None, title: str, body: str) -> str:
    if site is None:
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
            f"<body><h1>{escape(title)}</h1>{body}</body></html>"
        )
    return "\n".join(
        (
            _head(site, f"{title}_{site.name}", {"ColumnName": title}),
            _nav(site),
            f'<div class="main"><h1>{escape(title)}</h1>{body}</div>',
            _footer(site),
        )
    )


def soft404_page(site: SiteSpec) -> str:
    return "\n".join(
        (
            _head(site, "页面不存在", {}),
            '<div class="error"><img src="/images/404.png" alt="">',
            "<h2>抱歉，您访问的页面不存在或已被删除！</h2>",
            '<p><a href="/">返回首页</a></p></div>',
            "</body></html>",
        )
    )


def parked_page() -> str:
    t = names.GAMBLING_TERMS
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{t[0]}-{t[1]}-{t[2]}官方网站</title>'
        f'<meta name="keywords" content="{",".join(t)}"></head><body><h1>{t[0]}娱乐场</h1>'
        f"<p>{t[3]}、{t[4]}、{t[5]}，注册即送彩金！</p><p>本域名正在出售，有意者请联系。</p></body></html>"
    )
