"""Site identity labels required by 《政府网站发展指引》(国办发〔2017〕47号).

Every page footer must show 主办单位, 网站标识码 (matching the SiteIDCode meta tag and the registry), the ICP
and 公安 filing numbers; the homepage must also carry the 党政机关网站标识 (conac.cn) and the
"我为政府网站找错" entry; and the site must live on a www.<x>.gov.cn / <dept>.<x>.gov.cn domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from crawler.checks.integrity import IntegrityFinding
from crawler.parse.document import Document
from crawler.types import Site

# 31 province-level abbreviations: ICP and 公安 filing numbers start with one of them.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_ICP_RE = re.compile(rf"[{_PROVINCES}]\s*ICP\s*备\s*\d+\s*号(?:\s*-\s*\d+)?", re.IGNORECASE)
_PSB_RE = re.compile(rf"[{_PROVINCES}]\s*公网安备\s*\d{{14}}\s*号")
# 10 characters: digits (2100000037) or a department prefix and digits (bm55000001). 识别码 is a common slip.
_SITE_CODE_RE = re.compile(r"网站(?:标识|识别)码\s*[:：]?\s*([0-9A-Za-z]{10})(?![0-9A-Za-z])")

# What may follow an organizer name on the same footer line: the next label ends the value.
_NEXT_LABELS = (
    "主办单位", "主办", "承办单位", "承办", "协办", "运维单位", "运行维护", "技术支持", "网站维护",
    "维护单位", "网站标识码", "网站识别码", "版权所有", "地址", "电话", "联系方式", "邮编", "邮箱", "传真",
    "Copyright", "©", "建议使用", "联系我们", "网站地图",
)  # fmt: skip
_LABEL_RE = re.compile(r"(主办单位|主办|承办单位|承办)\s*[:：]\s*")
_VALUE_END_RE = re.compile(
    "|".join(
        [
            r"[\n\r\t|｜丨│\"'<>]",
            r"[\s\u00a0\u3000]{2,}",
            rf"[{_PROVINCES}]?(?:ICP|公网安备)",
            *map(re.escape, _NEXT_LABELS),
        ]
    ),
    re.IGNORECASE,
)
_PUNCT_RE = re.compile(r"[\s\u00a0\u3000\W_]+")

_JIUCUO_URL = "zfwzgl.www.gov.cn/exposure/jiucuo"
_JIUCUO_TEXT = "我为政府网站找错"
_CONAC_HOSTS = ("conac.cn",)  # dzjg.conac.cn, bszs.conac.cn, dcs.conac.cn all end with it
_PORTAL_RE = re.compile(r"^www\.[a-z0-9-]+\.gov\.cn$")
_DEPARTMENT_RE = re.compile(r"^(?!www\.)[a-z0-9-]+\.[a-z0-9-]+\.gov\.cn$")


@dataclass(frozen=True, slots=True)
class IdentityFields:
    site_id_code: str  # the meta SiteIDCode when present, else the footer's 网站标识码
    site_id_code_source: str  # "meta", "footer", "meta+footer" (both present) or ""
    icp: str
    psb: str
    organizer: str
    undertaker: str = ""  # 承办单位
    meta_code: str = ""
    footer_code: str = ""


def extract_identity(doc: Document) -> IdentityFields:
    return _identity_fields(doc, identity_text(doc))


def _identity_fields(doc: Document, text: str) -> IdentityFields:
    meta_code = _meta_site_code(doc)
    found = _SITE_CODE_RE.search(text)
    footer_code = found.group(1) if found else ""
    source = "+".join(name for name, code in (("meta", meta_code), ("footer", footer_code)) if code)
    pairs = _labelled(text)  # one pass over the text for both labels
    return IdentityFields(
        site_id_code=meta_code or footer_code,
        site_id_code_source=source,
        icp=_first(_ICP_RE, text),
        psb=_first(_PSB_RE, text),
        organizer=next((value for label, value in pairs if label in ("主办单位", "主办")), ""),
        undertaker=next((value for label, value in pairs if label in ("承办单位", "承办")), ""),
        meta_code=meta_code,
        footer_code=footer_code,
    )


FOOTER_EVIDENCE = 300  # characters of the page's end kept as evidence that a label is missing


def check_identity(doc: Document, site: Site, is_homepage: bool) -> list[IntegrityFinding]:
    text = identity_text(doc)  # once: the body's text is the costly part
    findings = _footer_findings(doc.url, _identity_fields(doc, text), site, _footer_excerpt(text))
    if is_homepage:
        findings += _homepage_findings(doc, site, text)
    return findings


def identity_text(doc: Document) -> str:
    """Body text including inline scripts: many CMSs write the footer with document.write. Comments are
    not text, so a commented-out label does not count. A label followed by a line break and a link
    (主办单位：<br><a>XX市人民政府</a>) is joined back onto one line."""
    body = doc.tree.body
    text = body.text(separator="\n") if body is not None else ""
    return re.sub(r"([:：])[\s\u00a0\u3000]*\n[\s\u00a0\u3000]*", r"\1", text)


def labelled_values(text: str, labels: tuple[str, ...]) -> list[str]:
    """Values of `label：value` pairs, each ending at the next label, a separator or a line break."""
    return [value for label, value in _labelled(text) if label in labels]


def _labelled(text: str) -> list[tuple[str, str]]:
    """(label, value) of every `label：value` pair with a value, in order."""
    pairs: list[tuple[str, str]] = []
    for label in _LABEL_RE.finditer(text):
        rest = text[label.end() : label.end() + 120]
        end = _VALUE_END_RE.search(rest)
        value = (rest[: end.start()] if end else rest).strip(" \u00a0\u3000，,;；。")
        if value:
            pairs.append((label.group(1), value))
    return pairs


def normalise_name(name: str) -> str:
    return _PUNCT_RE.sub("", name).lower()


def _footer_excerpt(text: str) -> str:
    """The end of the page text, where footers carry the labels: the evidence that a label is absent."""
    return " ".join(text.split())[-FOOTER_EVIDENCE:]


def _footer_findings(url: str, fields: IdentityFields, site: Site, footer: str) -> list[IntegrityFinding]:
    findings: list[IntegrityFinding] = []
    if not fields.site_id_code:
        findings.append(IntegrityFinding("identity.site_code_missing", url, {"registry": site.code, "footer": footer}))
    else:
        codes = {c.lower() for c in (fields.meta_code, fields.footer_code, site.code) if c}
        if len(codes) > 1:
            detail = {"meta": fields.meta_code, "footer": fields.footer_code, "registry": site.code}
            findings.append(IntegrityFinding("identity.site_code_mismatch", url, detail))
    if not fields.icp:
        findings.append(IntegrityFinding("identity.icp_missing", url, {"footer": footer}))
    if not fields.psb:
        findings.append(IntegrityFinding("identity.psb_missing", url, {"footer": footer}))
    if not fields.organizer:
        findings.append(IntegrityFinding("identity.organizer_missing", url, {"registry": site.organizer,
                                                                             "footer": footer}))
    elif site.organizer and not _same_organizer(fields.organizer, site.organizer):
        detail = {"page": fields.organizer, "registry": site.organizer}
        findings.append(IntegrityFinding("identity.organizer_mismatch", url, detail))
    return findings


def _same_organizer(page: str, registry: str) -> bool:
    # Joint organizers (中共XX县委 XX县人民政府) legitimately list more than the registry's one name.
    page_n, registry_n = normalise_name(page), normalise_name(registry)
    return registry_n in page_n or page_n in registry_n if page_n and registry_n else page_n == registry_n


def _homepage_findings(doc: Document, site: Site, text: str) -> list[IntegrityFinding]:
    findings: list[IntegrityFinding] = []
    refs = _references(doc)
    if not any(_JIUCUO_URL in ref for ref in refs) and _JIUCUO_TEXT not in text:
        findings.append(IntegrityFinding("identity.jiucuo_missing", doc.url,
                                         {"looked_for": [_JIUCUO_URL, _JIUCUO_TEXT]}))
    if not any(host in ref for ref in refs for host in _CONAC_HOSTS):
        findings.append(IntegrityFinding("identity.conac_missing", doc.url, {"looked_for": list(_CONAC_HOSTS)}))
    domain = _domain_problem(site)
    if domain is not None:
        findings.append(IntegrityFinding("identity.domain_pattern", doc.url, domain))
    return findings


def _references(doc: Document) -> list[str]:
    """Every URL-ish string the page points at: href/src attributes plus inline script text, because both
    the conac badge and the 找错 entry are usually inserted by a script the site pastes in."""
    refs: list[str] = []
    for node in doc.tree.css("a[href], area[href], img[src], script, iframe[src]"):
        attrs = node.attributes
        ref = attrs.get("href") or attrs.get("src")
        if ref:
            refs.append(ref.lower())
        elif node.tag == "script":
            refs.append(node.text(deep=True).lower())
    return refs


def _domain_problem(site: Site) -> dict[str, str] | None:
    if site.kind not in ("portal", "department"):
        return None
    host = (site.hosts[0] if site.hosts else urlsplit(site.url).hostname or "").lower()
    pattern = _PORTAL_RE if site.kind == "portal" else _DEPARTMENT_RE
    if pattern.match(host):
        return None
    expected = "www.<name>.gov.cn" if site.kind == "portal" else "<dept>.<name>.gov.cn"
    return {"host": host, "kind": site.kind, "expected": expected}


def _meta_site_code(doc: Document) -> str:
    for meta in doc.tree.css("meta[name]"):
        if (meta.attributes.get("name") or "").strip().lower() == "siteidcode":
            return (meta.attributes.get("content") or "").strip()
    return ""


def _first(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    return re.sub(r"\s+", "", found.group(0)) if found else ""
