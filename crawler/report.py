"""``govcrawl report``: the inspection notice (检查通报) of one run, as HTML, Markdown, CSV or JSON.

`build_report` reads the database into a `Report` (plain frozen dataclasses); `render` turns it
into bytes. Per site: the veto items hit (单项否决), findings counted by check code, the evidence
(URL, referring page, time, status, reason, element and anchor text) and what changed since the
previous run of the same kind (``run_changes``).

The availability veto is the 7-day probe rule, not a single failed crawl: for a crawl run it is
taken from the newest finished ``probe`` run that started before the crawl ended. A crawl's own
``site.unreachable`` finding (the homepage failed that night) is evidence, not a veto.

Everything shown comes from crawled pages, which may be hostile: HTML escapes every value and
allows no script (CSP), Markdown escapes markup and HTML, CSV defuses spreadsheet formulas.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from crawler.checks.freshness import BASIC, NEWS, NOTICE_POLICY, FreshnessPolicy
from crawler.errors import StoreError, UserError
from crawler.types import Reason

FORMATS = ("html", "md", "csv", "json")
DEFAULT_TZ = "Asia/Shanghai"  # notices are read in local time
UNREACHABLE = "site.unreachable"
SITE_VETO = "site.veto"

CHECK_LABELS: dict[str, str] = {
    "site.unreachable": "网站无法访问",
    "site.veto": "单项否决（计数规则）",
    "homepage.stale": "首页长期未更新",
    "column.stale": "栏目长期未更新",
    "column.blank": "空白栏目",
    "link.broken": "错链断链",
    "link.unverified": "链接无法确认（疑似）",
    "page.broken": "页面无法访问",
    "content.future_date": "发布日期晚于当前日期",
    "security.hidden_link": "暗链",
    "security.hijacked_title": "标题被篡改",
    "security.hijacked_footer": "页脚被篡改",
    "security.spam_content": "违规内容（涉赌涉黄等）",
    "security.cloaking": "伪装页面（对搜索引擎显示不同内容）",
    "security.spam_outbound": "链接指向涉赌涉黄或被停放的网站",
    "identity.site_code_missing": "缺少网站标识码",
    "identity.site_code_mismatch": "网站标识码不一致",
    "identity.icp_missing": "缺少ICP备案编号",
    "identity.psb_missing": "缺少公安机关备案标识",
    "identity.organizer_missing": "缺少主办单位",
    "identity.organizer_mismatch": "主办单位与登记不符",
    "identity.jiucuo_missing": "缺少“我为政府网站找错”入口",
    "identity.conac_missing": "缺少党政机关网站标识",
    "identity.domain_pattern": "域名不规范",
}
# A code added by a new check still gets a sensible label from its family.
PREFIX_LABELS = {"security.": "安全隐患", "identity.": "标识不规范", "column.": "栏目问题",
                 "link.": "链接问题", "page.": "页面问题", "content.": "内容问题"}

REASON_LABELS: dict[str, str] = {
    Reason.HTTP_404: "404 页面不存在",
    Reason.HTTP_410: "410 页面已删除",
    Reason.HTTP_4XX: "4xx 请求错误",
    Reason.HTTP_5XX: "5xx 服务器错误",
    Reason.DNS: "域名无法解析",
    Reason.REFUSED: "连接被拒绝",
    Reason.TIMEOUT: "访问超时",
    Reason.TLS: "证书或加密连接错误",
    Reason.REDIRECT_LOOP: "重定向循环",
    Reason.TOO_MANY_REDIRECTS: "重定向次数过多",
    Reason.SOFT_404: "软404（页面显示不存在）",
    Reason.BODY_TOO_LARGE: "页面过大",
    Reason.ROBOTS_DISALLOWED: "robots 协议禁止访问",
    Reason.RATE_LIMITED: "访问频率受限（429）",
    Reason.BLOCKED: "访问被拦截（防火墙）",
    Reason.CONNECTION: "连接中断",
    Reason.PRIVATE_ADDRESS: "解析到内网地址",
    Reason.EMPTY_PAGE: "空白页面",
}
SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
CLASS_LABELS = {NEWS: "动态要闻类", NOTICE_POLICY: "通知公告/政策文件类", BASIC: "基本信息类", "other": "其他",
                "homepage": "首页"}
CHANGE_LABELS = {"new": "新增", "fixed": "已整改"}

_POLICY = FreshnessPolicy()
# Veto items, named as crawler.metrics.VETO_ITEMS names them.
VETO_LABELS = {
    "unreachable": "网站无法访问（7天内首页探测失败率达到阈值）",
    "homepage_stale": "首页长期未更新",
    "columns_stale": f"动态要闻、通知公告类栏目长期未更新达到 {_POLICY.stale_news_notice_veto} 个",
    "columns_basic_stale": f"基本信息类栏目长期未更新达到 {_POLICY.stale_basic_veto} 个",
    "columns_blank": f"空白栏目达到 {_POLICY.blank_veto} 个",
    "security": "严重错误或安全隐患（篡改、暗链、违规内容）",
}


def check_label(check: str) -> str:
    if check in CHECK_LABELS:
        return CHECK_LABELS[check]
    return next((label for prefix, label in PREFIX_LABELS.items() if check.startswith(prefix)), check)


def reason_label(reason: str | None) -> str:
    return REASON_LABELS.get(reason, reason) if reason else ""


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class Evidence:
    run_id: int  # the report's run, or the probe run an availability veto comes from
    check: str
    check_label: str
    severity: str
    url: str  # what is wrong: the broken target, the page, the column
    referrer: str  # the page it was found on (a broken link's source); "" when not applicable
    observed_at: datetime
    status: int | None
    reason: str | None
    reason_label: str
    element: str
    anchor_text: str
    note: str  # the finding's specifics in words (dates, ratios, column names)
    veto: bool  # counts towards a veto item hit by the site


@dataclass(frozen=True, slots=True)
class VetoHit:
    item: str  # see VETO_LABELS
    label: str
    count: int  # findings behind it
    threshold: int


@dataclass(frozen=True, slots=True)
class CheckCount:
    check: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Change:
    change: str  # new / fixed
    check: str
    check_label: str
    severity: str
    url: str
    target: str | None


@dataclass(frozen=True, slots=True)
class SiteReport:
    code: str
    name: str
    homepage: str
    organizer: str
    passed: bool  # no veto item hit
    vetoes: tuple[VetoHit, ...]
    counts: tuple[CheckCount, ...]
    evidence: tuple[Evidence, ...]  # info-severity findings (e.g. link.unverified) are counted only
    previous_run_id: int | None
    new: tuple[Change, ...] = ()
    fixed: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    run_id: int
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    generated_at: datetime
    sites: tuple[SiteReport, ...]
    totals: tuple[CheckCount, ...] = field(default=())

    @property
    def failed_sites(self) -> int:
        return sum(not s.passed for s in self.sites)


# --------------------------------------------------------------------------- reading the database


@dataclass(frozen=True, slots=True)
class _Finding:
    run_id: int
    site: str
    check: str
    severity: str
    url: str
    detail: dict[str, Any]
    observed_at: datetime
    referrer: str
    ref_anchor: str
    ref_element: str


_FINDINGS_SQL = """
SELECT f.run_id, f.site, f."check", f.severity, f.url, f.detail, f.observed_at,
       ref.source_url, ref.anchor_text, ref.element
FROM findings f
LEFT JOIN LATERAL (
    -- A broken page's finding does not say where it was linked from; the run's link edges do.
    SELECT l.source_url, l.anchor_text, l.element FROM links l
    WHERE f."check" = 'page.broken' AND l.run_id = f.run_id AND l.target_url = f.url AND l.verdict <> 'ok'
    ORDER BY l.on_homepage DESC, l.seq LIMIT 1
) ref ON true
WHERE f.run_id = $1 AND ($2::text[] IS NULL OR (f.site = ANY($2) AND f."check" = 'site.unreachable'))
ORDER BY f.site, f."check", f.url, f.seq
"""

# For each site, the newest finished probe run covering it that started before `as_of`.
_PROBE_RUNS_SQL = """
SELECT DISTINCT ON (rs.site) rs.site, r.id
FROM run_sites rs JOIN runs r ON r.id = rs.run_id
WHERE r.kind = 'probe' AND r.status IN ('succeeded', 'interrupted') AND rs.site = ANY($1)
  AND r.started_at <= $2
ORDER BY rs.site, r.started_at DESC, r.id DESC
"""


async def build_report(dsn: str, run: str = "latest", *, tz: str = DEFAULT_TZ) -> Report:
    """The report of run ``run``: an id, or "latest" (the newest finished crawl run, probes aside)."""
    zone = ZoneInfo(tz)
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise StoreError(f"cannot reach PostgreSQL: {exc}") from None
    try:
        head = await _run_row(conn, run)
        run_id = head["id"]
        sites = await conn.fetch(
            """SELECT rs.site, coalesce(s.name, '') AS name, coalesce(s.homepage, '') AS homepage,
                      coalesce(s.organizer, '') AS organizer
               FROM run_sites rs LEFT JOIN sites s ON s.code = rs.site WHERE rs.run_id = $1 ORDER BY rs.site""",
            run_id)
        codes = [row["site"] for row in sites]
        findings = await _findings(conn, run_id)
        if head["kind"] != "probe":
            findings += await _availability_findings(conn, codes, head["ended_at"] or datetime.now(UTC))
        changes = await conn.fetch(
            """SELECT site, prev_run_id, change, "check", severity, url, target FROM run_changes
               WHERE run_id = $1 AND prev_run_id IS NOT NULL ORDER BY site, change, "check", url""", run_id)
        previous = {row["site"]: row["prev_run_id"] for row in await conn.fetch(
            "SELECT site, prev_run_id FROM run_site_previous WHERE run_id = $1", run_id)}
    finally:
        await conn.close()
    by_site: dict[str, list[_Finding]] = {}
    for f in findings:
        by_site.setdefault(f.site, []).append(f)
    engine_judged = any(f.check == SITE_VETO for f in findings)
    changes_by_site: dict[str, list[asyncpg.Record]] = {}
    for c in changes:
        changes_by_site.setdefault(c["site"], []).append(c)
    site_reports = tuple(
        _site_report(row, by_site.get(row["site"], []), changes_by_site.get(row["site"], []),
                     previous.get(row["site"]), zone, engine_judged)
        for row in sites)
    totals = Counter(f.check for f in findings)
    return Report(run_id, head["kind"], head["status"], head["started_at"].astimezone(zone),
                  head["ended_at"].astimezone(zone) if head["ended_at"] else None, datetime.now(zone),
                  site_reports, _counts(totals))


async def _run_row(conn: asyncpg.Connection, run: str) -> asyncpg.Record:
    if run == "latest":
        row = await conn.fetchrow(
            """SELECT id, kind, status, started_at, ended_at FROM runs
               WHERE kind <> 'probe' AND status <> 'running' ORDER BY started_at DESC, id DESC LIMIT 1""")
        if row is None:
            raise UserError("no finished run to report on")
        return row
    if not run.isdigit():
        raise UserError(f"--run {run!r}: expected 'latest' or a run id")
    row = await conn.fetchrow("SELECT id, kind, status, started_at, ended_at FROM runs WHERE id = $1", int(run))
    if row is None:
        raise UserError(f"--run {run}: no such run")
    return row


async def _findings(conn: asyncpg.Connection, run_id: int, sites: Sequence[str] | None = None) -> list[_Finding]:
    rows = await conn.fetch(_FINDINGS_SQL, run_id, sites)
    return [_Finding(row["run_id"], row["site"], row["check"], row["severity"], row["url"],
                     _detail(row["detail"]), row["observed_at"], row["source_url"] or "",
                     row["anchor_text"] or "", row["element"] or "")
            for row in rows]


async def _availability_findings(conn: asyncpg.Connection, sites: list[str], as_of: datetime) -> list[_Finding]:
    probe_runs: dict[int, list[str]] = {}
    for row in await conn.fetch(_PROBE_RUNS_SQL, sites, as_of):
        probe_runs.setdefault(row["id"], []).append(row["site"])
    found: list[_Finding] = []
    for run_id, codes in probe_runs.items():
        found += await _findings(conn, run_id, codes)
    return found


def _detail(raw: Any) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- per site


def _site_report(row: asyncpg.Record, findings: list[_Finding], changes: list[asyncpg.Record],
                 previous_run_id: int | None, zone: ZoneInfo, engine_judged: bool) -> SiteReport:
    vetoes, veto_checks = _vetoes(findings, engine_judged)
    listed = (_evidence(f, zone, veto_checks) for f in findings if f.severity != "info")
    # Veto evidence first, then by severity: the order an inspection notice reads in.
    evidence = tuple(sorted(listed, key=lambda e: (not e.veto, SEVERITY_ORDER.get(e.severity, 9), e.check, e.url)))
    change_list = [Change(c["change"], c["check"], check_label(c["check"]), c["severity"], c["url"], c["target"])
                   for c in changes]
    return SiteReport(
        code=row["site"], name=row["name"], homepage=row["homepage"], organizer=row["organizer"],
        passed=not vetoes, vetoes=tuple(vetoes), counts=_counts(Counter(f.check for f in findings)),
        evidence=evidence, previous_run_id=previous_run_id,
        new=tuple(c for c in change_list if c.change == "new"),
        fixed=tuple(c for c in change_list if c.change == "fixed"),
    )


def _is_availability_veto(f: _Finding) -> bool:
    # The probe rule's finding carries the ratio; a crawl's one-night homepage failure does not.
    return f.check == UNREACHABLE and "ratio" in f.detail


# The counting items: judged by the engine (a `site.veto` finding per item hit, under the run's own
# freshness policy) or, for runs stored before the engine emitted them, counted here with the defaults.
COUNTED_ITEMS = ("homepage_stale", "columns_stale", "columns_basic_stale", "columns_blank")


def _vetoes(findings: Sequence[_Finding], engine_judged: bool) -> tuple[list[VetoHit], set[tuple[str, str]]]:
    """Veto items hit, and the (check, column class) pairs whose findings count towards them."""
    stale_classes = Counter(str(f.detail.get("class", "")) for f in findings if f.check == "column.stale")
    counted = {
        "unreachable": (sum(_is_availability_veto(f) for f in findings), 1),
        "homepage_stale": (sum(f.check == "homepage.stale" for f in findings), 1),
        "columns_stale": (stale_classes[NEWS] + stale_classes[NOTICE_POLICY], _POLICY.stale_news_notice_veto),
        "columns_basic_stale": (stale_classes[BASIC], _POLICY.stale_basic_veto),
        "columns_blank": (sum(f.check == "column.blank" for f in findings), _POLICY.blank_veto),
        "security": (sum(_is_security_veto(f) for f in findings), 1),
    }
    if engine_judged:
        for item in COUNTED_ITEMS:
            counted[item] = (0, 1)
        for f in findings:
            if f.check == SITE_VETO and f.detail.get("item") in COUNTED_ITEMS:
                counted[str(f.detail["item"])] = (_int(f.detail.get("count"), 1), _int(f.detail.get("threshold"), 1))
    hits: list[VetoHit] = []
    keys: set[tuple[str, str]] = set()
    for item, (count, threshold) in counted.items():
        if count >= threshold:
            hits.append(VetoHit(item, VETO_LABELS[item], count, threshold))
            keys |= VETO_EVIDENCE[item]
    return hits, keys


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) else default


# Which findings are the evidence of each veto item: (check, column class or "").
VETO_EVIDENCE: dict[str, set[tuple[str, str]]] = {
    "unreachable": {(UNREACHABLE, "")},
    "homepage_stale": {("homepage.stale", "")},
    "columns_stale": {("column.stale", NEWS), ("column.stale", NOTICE_POLICY)},
    "columns_basic_stale": {("column.stale", BASIC)},
    "columns_blank": {("column.blank", "")},
    "security": {("security.*", "")},
}


def _is_security_veto(f: _Finding) -> bool:
    return f.check.startswith("security.")


def _veto_key(f: _Finding) -> tuple[str, str]:
    if _is_security_veto(f):
        return ("security.*", "")
    if f.check == "column.stale":
        return (f.check, str(f.detail.get("class", "")))
    if f.check == UNREACHABLE and not _is_availability_veto(f):
        return ("", "")
    return (f.check, "")


def _evidence(f: _Finding, zone: ZoneInfo, veto_keys: set[tuple[str, str]]) -> Evidence:
    d = f.detail
    is_link = "target" in d
    reason = d.get("reason") if isinstance(d.get("reason"), str) else None
    status = d.get("status") if isinstance(d.get("status"), int) else None
    return Evidence(
        run_id=f.run_id, check=f.check, check_label=check_label(f.check), severity=f.severity,
        url=str(d["target"]) if is_link else f.url,
        referrer=f.url if is_link else f.referrer,
        observed_at=f.observed_at.astimezone(zone), status=status, reason=reason, reason_label=reason_label(reason),
        element=str(d.get("element") or f.ref_element or ""),
        anchor_text=str(d.get("anchor_text") or f.ref_anchor or ""),
        note=_note(f), veto=f.check == SITE_VETO or _veto_key(f) in veto_keys,
    )


def _note(f: _Finding) -> str:
    """The specifics an inspector reads, in words; unknown details fall back to key=value."""
    d = f.detail
    name = f"「{d['name']}」" if d.get("name") else ""
    cls = CLASS_LABELS.get(str(d.get("class", "")), "")
    if _is_availability_veto(f):
        return (f"{d.get('window_days')} 天内首页探测 {d.get('probes')} 次，失败 {d.get('failures')} 次"
                f"（{_pct(d.get('ratio'))}，阈值 {_pct(d.get('threshold'))}）")
    if f.check in ("column.stale", "homepage.stale"):
        where = "首页" if f.check == "homepage.stale" else f"{cls}栏目{name}"
        latest = d.get("latest_date") or "无带日期的信息"
        return (f"{where}最近更新：{latest}，已 {d.get('days_since', '?')} 天未更新"
                f"（要求 {d.get('window_days', '?')} 天内）")
    if f.check == SITE_VETO:
        item = str(d.get("item", ""))
        return f"{VETO_LABELS.get(item, item)}：{d.get('count')} 个（阈值 {d.get('threshold')}）"
    if f.check == "column.blank":
        return f"{cls}栏目{name}无任何信息"
    if f.check == "content.future_date":
        return f"发布日期 {d.get('date')}，晚于检查日期 {d.get('days_ahead')} 天"
    shown = {k: v for k, v in d.items() if k not in _SHOWN_ELSEWHERE and v not in (None, "")}
    return "; ".join(f"{k}={_compact(v)}" for k, v in shown.items())


_SHOWN_ELSEWHERE = frozenset({"target", "reason", "status", "element", "anchor_text", "on_homepage"})


def _pct(value: Any) -> str:
    return f"{float(value) * 100:.2f}%" if isinstance(value, int | float) else "?"


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= 200 else text[:199] + "…"


def _counts(counter: Counter[str]) -> tuple[CheckCount, ...]:
    return tuple(CheckCount(check, check_label(check), n) for check, n in sorted(counter.items()))


# --------------------------------------------------------------------------- rendering


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (html / md / csv / json), encoded: UTF-8, CSV with a BOM so that
    spreadsheet programs read the Chinese text correctly."""
    if fmt == "html":
        return render_html(report).encode("utf-8")
    if fmt == "md":
        return render_markdown(report).encode("utf-8")
    if fmt == "csv":
        return render_csv(report).encode("utf-8-sig")
    if fmt == "json":
        return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
    raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")


COUNT_HEADER = ("问题类型", "代码", "数量")
CHANGE_HEADER = ("变化", "问题", "地址", "链接目标")
EVIDENCE_HEADER = ("问题", "地址", "所在页面", "时间", "状态码", "原因", "元素/链接文字", "说明")


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _title(report: Report) -> str:
    return f"政府网站检查通报（第 {report.run_id} 次检查）"


def _summary_line(report: Report) -> str:
    return (f"检查类型：{report.kind}；状态：{report.status}；开始：{_time(report.started_at)}；"
            f"结束：{_time(report.ended_at)}；站点 {len(report.sites)} 个，单项否决 {report.failed_sites} 个")


# ---------------------------------------------------------------- CSV

CSV_COLUMNS = ("run_id", "site_code", "site_name", "check", "check_label", "severity", "veto", "url", "referrer",
               "observed_at", "status", "reason", "reason_label", "element", "anchor_text", "note")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # Anchor text and URLs come from crawled pages: a leading '=' would be a formula in Excel/WPS.
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for site in report.sites:
        for e in site.evidence:
            writer.writerow([_cell(v) for v in (
                e.run_id, site.code, site.name, e.check, e.check_label, e.severity, int(e.veto), e.url, e.referrer,
                e.observed_at, e.status, e.reason, e.reason_label, e.element, e.anchor_text, e.note)])
    return out.getvalue()


# ---------------------------------------------------------------- Markdown

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+!|~"}
                            | {"<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " "})


def md(value: object) -> str:
    """Text safe in a Markdown table cell: no markup, no raw HTML, no line breaks."""
    return "" if value is None else str(value).translate(_MD_SPECIAL)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(report: Report) -> str:
    lines = [f"# {_title(report)}", "", md(_summary_line(report)), ""]
    lines += _md_table(["网站标识码", "网站名称", "结论", "单项否决"],
                       [(s.code, s.name, "合格" if s.passed else "不合格", "；".join(v.label for v in s.vetoes) or "—")
                        for s in report.sites])
    for s in report.sites:
        lines += ["", f"## {md(s.name)}（{md(s.code)}）", "",
                  f"首页：{md(s.homepage)}；主办单位：{md(s.organizer)}", ""]
        if s.vetoes:
            lines += [f"- **单项否决**：{md(v.label)}（{v.count} 项）" for v in s.vetoes] + [""]
        if s.counts:
            lines += [*_md_table(COUNT_HEADER, [(c.label, c.check, c.count) for c in s.counts]), ""]
        lines += _changes_md(s)
        if s.evidence:
            lines += ["### 问题明细", ""]
            lines += _md_table(
                EVIDENCE_HEADER,
                [(e.check_label, e.url, e.referrer, _time(e.observed_at), e.status or "", e.reason_label,
                  _element_text(e), e.note) for e in s.evidence])
    return "\n".join(lines) + "\n"


def _changes_md(s: SiteReport) -> list[str]:
    if s.previous_run_id is None:
        return ["与上次检查相比：无上次检查记录", ""]
    lines = [f"与上次检查（第 {s.previous_run_id} 次）相比：新增 {len(s.new)} 项，已整改 {len(s.fixed)} 项", ""]
    if s.new or s.fixed:
        lines += _md_table(CHANGE_HEADER, [(CHANGE_LABELS[c.change], c.check_label, c.url, c.target or "")
                                           for c in (*s.new, *s.fixed)])
        lines.append("")
    return lines


def _element_text(e: Evidence) -> str:
    return f"<{e.element}> {e.anchor_text}".strip() if e.element else e.anchor_text


# ---------------------------------------------------------------- HTML

_CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.5;padding:0 1em}
h1{font-size:1.6em;border-bottom:3px solid #b00;padding-bottom:.3em}h2{margin-top:2em;font-size:1.25em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;word-break:break-all}
th{background:#f3f3f3}.fail{color:#b00;font-weight:bold}.pass{color:#070;font-weight:bold}
.veto{background:#fff0f0}.muted{color:#777}.summary{background:#fafafa;border:1px solid #ddd;padding:.5em 1em}
@media print{a{color:inherit;text-decoration:none}}
"""


def h(value: object) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _link(url: str) -> str:
    # Only http(s) targets become links: a hostile page's 'javascript:' URL stays inert text.
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{h(url)}" rel="noopener noreferrer nofollow">{h(url)}</a>'
    return h(url)


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] = ()) -> str:
    """A table of pre-escaped cells; ``row_classes`` (constants, never data) style rows by index."""
    head = "".join(f"<th>{h(c)}</th>" for c in header)
    body = []
    for i, row in enumerate(rows):
        css = row_classes[i] if i < len(row_classes) else ""
        attr = f' class="{css}"' if css else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Report) -> str:
    """One self-contained page. Table cells are pre-escaped strings: every value goes through `h`."""
    parts = [
        "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        # Defence in depth: even an escaping mistake could not run script or load anything.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{h(_title(report))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{h(_title(report))}</h1>", f'<p class="summary">{h(_summary_line(report))}<br>'
        f"生成时间：{h(_time(report.generated_at))}</p>",
        _html_table(["网站标识码", "网站名称", "结论", "单项否决"], [
            (h(s.code), f'<a href="#site-{h(s.code)}">{h(s.name)}</a>', _verdict_html(s),
             h("；".join(v.label for v in s.vetoes) or "—")) for s in report.sites]),
    ]
    if report.totals:
        parts += ["<h2>问题汇总</h2>",
                  _html_table(COUNT_HEADER, [(h(c.label), h(c.check), h(c.count)) for c in report.totals])]
    parts += [_site_html(s) for s in report.sites]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _verdict_html(s: SiteReport) -> str:
    return '<span class="pass">合格</span>' if s.passed else '<span class="fail">不合格（单项否决）</span>'


def _site_html(s: SiteReport) -> str:
    parts = [f'<h2 id="site-{h(s.code)}">{h(s.name)}（{h(s.code)}） {_verdict_html(s)}</h2>',
             f"<p>首页：{_link(s.homepage)}；主办单位：{h(s.organizer) or '—'}</p>"]
    if s.vetoes:
        parts.append("<ul>" + "".join(f'<li class="fail">单项否决：{h(v.label)}（{h(v.count)} 项）</li>'
                                      for v in s.vetoes) + "</ul>")
    if s.counts:
        parts.append(_html_table(COUNT_HEADER, [(h(c.label), h(c.check), h(c.count)) for c in s.counts]))
    else:
        parts.append('<p class="muted">未发现问题。</p>')
    parts.append(_changes_html(s))
    if s.evidence:
        parts.append("<h3>问题明细</h3>")
        parts.append(_html_table(
            EVIDENCE_HEADER,
            [(h(e.check_label), _link(e.url), _link(e.referrer), h(_time(e.observed_at)), h(e.status or ""),
              h(e.reason_label), h(_element_text(e)), h(e.note)) for e in s.evidence],
            ["veto" if e.veto else "" for e in s.evidence]))
    return "\n".join(parts)


def _changes_html(s: SiteReport) -> str:
    if s.previous_run_id is None:
        return '<p class="muted">与上次检查相比：无上次检查记录。</p>'
    text = (f"<p>与上次检查（第 {h(s.previous_run_id)} 次）相比：新增 {len(s.new)} 项，"
            f"已整改 {len(s.fixed)} 项。</p>")
    if not (s.new or s.fixed):
        return text
    return text + _html_table(CHANGE_HEADER, [
        (h(CHANGE_LABELS[c.change]), h(c.check_label), _link(c.url), _link(c.target or ""))
        for c in (*s.new, *s.fixed)])


__all__ = [
    "CHECK_LABELS",
    "FORMATS",
    "REASON_LABELS",
    "Change",
    "CheckCount",
    "Evidence",
    "Report",
    "SiteReport",
    "VetoHit",
    "build_report",
    "check_label",
    "reason_label",
    "render",
]
