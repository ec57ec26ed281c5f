"""The simulated web as data: sites, columns, items and which faults each site carries.

Only small specs are built eagerly (a few objects per site, so 2,000+ sites cost milliseconds);
list items are regenerated on demand from a per-column seed, and pages are rendered per request.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from crawler.simweb import names

# --------------------------------------------------------------------------- fault slots
# Faults are planted in "slots": one slot = the set of faults one site carries. Faults within a
# slot are chosen so they cannot mask each other (e.g. nothing shares a site with a homepage
# that is down). With >= len(SLOTS) + 1 sites every slot — hence every fault kind — appears.
SLOTS: tuple[tuple[str, ...], ...] = (
    # links and pages
    ("http_404", "broken_image"),
    ("http_410", "broken_attachment"),
    ("http_500",),
    ("soft404_page",),
    ("soft404_host",),
    ("redirect_chain", "meta_refresh", "js_redirect"),
    ("redirect_loop", "too_many_redirects"),
    ("ext_dns", "ext_refused", "ext_timeout"),
    ("homepage_down",),
    ("robots_disallow",),
    ("crawl_delay",),
    ("ext_robots500",),
    ("rate_limited_429", "transient_503"),
    ("waf_403", "waf_412"),
    ("huge_body", "binary_html"),
    ("session_ids", "calendar_trap", "long_urls"),
    # freshness
    ("stale_news",),
    ("stale_notice", "blank_column"),
    ("stale_policy", "future_date"),
    ("stale_personnel", "blank_explained"),
    ("homepage_stale",),
    # integrity
    ("hidden_display_none", "hidden_offscreen", "hidden_font_zero"),
    ("hidden_text_indent", "hidden_color_bg", "hidden_marquee"),
    ("hidden_style_class", "hidden_document_write"),
    ("hijacked",),
    ("spam_meta",),
    ("cloaking",),
    ("spam_outbound",),
    ("site_code_missing", "icp_missing"),
    ("site_code_mismatch", "psb_missing"),
    ("organizer_missing",),
    ("organizer_mismatch",),
    # character encodings (otherwise healthy sites: their pages must simply decode right)
    ("enc_gb2312_header_gbk_meta",),
    ("enc_gbk_meta_utf8",),
    ("enc_bom_utf8_meta_gbk",),
    ("enc_gbk_two_metas",),
)
ALL_FAULTS: tuple[str, ...] = tuple(f for slot in SLOTS for f in slot)
HIDDEN_TECHNIQUES: tuple[str, ...] = tuple(f for f in ALL_FAULTS if f.startswith("hidden_"))
ENCODING_CASES: tuple[str, ...] = tuple(f for f in ALL_FAULTS if f.startswith("enc_"))

# --------------------------------------------------------------------------- external hosts
# Served by the same server on the "external" address. Value = behaviour name in server.py.
EXTERNAL_HOSTS: dict[str, str] = {
    "www.gov.cn": "ok",
    "www.news-example.cn": "ok",
    "cdn.example-cdn.cn": "static",
    "bszs.conac.cn": "ok",
    "dcs.conac.cn": "static",
    "pucha.kaipuyun.cn": "ok",
    "beian.miit.gov.cn": "ok",
    "www.beian.gov.cn": "ok",
    "www.lucky-example.com": "ok",  # target of hidden links: neutral on purpose (see truth)
    "waf403.example-waf.cn": "waf403",
    "waf412.example-waf.cn": "waf412",
    "robots500.example-ext.cn": "robots500",
    "www.old-partner-example.cn": "parked",
}
NX_HOST = "www.expired-example.cn"  # in no resolve rule and not in DNS → NXDOMAIN
REFUSED_HOST = "refused.example-down.cn"  # maps to a bound-but-not-listening socket
SILENT_HOST = "silent.example-slow.cn"  # maps to a TCP server that never answers
EXTERNAL_ADDR = "127.0.0.1"

TODAY_DEFAULT = date(2024, 6, 15)


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    cid: int  # CMS column id (Hanweb col id; TRS article ids are derived from it)
    name: str
    cls: str  # news | notice | policy | personnel | plan
    cms: str  # trs | hanweb
    dir: str  # TRS directory ("/xxgk/tzgg") — also used for Hanweb only as a label
    date_format: str  # iso | bracket | cn | none
    n_items: int  # real (non-future) items
    newest: date | None  # date of the newest real item; None for blank columns
    gap: tuple[int, int]  # days between consecutive items
    future_days: int = 0  # > 0: an extra item dated today + future_days is listed first
    note: str = ""  # explanatory note shown on a blank column
    per_page: int = 10

    @property
    def list_path(self) -> str:
        if self.cms == "hanweb":
            return f"/col/col{self.cid}/index.html"
        return f"{self.dir}/index.html"

    def page_path(self, page: int) -> str:
        if page == 0 or self.cms == "hanweb":
            return self.list_path
        return f"{self.dir}/index_{page}.html"

    @property
    def n_pages(self) -> int:
        if self.cms == "hanweb":  # Hanweb ships every record in one <datastore>; paging is JS
            return 1
        total = self.n_items + (1 if self.future_days else 0)
        return max(1, -(-total // self.per_page))


@dataclass(frozen=True, slots=True)
class Item:
    idx: int
    artid: int
    date: date
    title: str
    path: str


@dataclass(frozen=True, slots=True)
class Special:
    """A path with planted behaviour (checked before the CMS routes)."""

    kind: str  # status | soft404 | redirect | page | meta_refresh | js_redirect | once | huge | binary
    status: int = 200
    location: str = ""
    title: str = ""
    retry_after: int = 0


@dataclass(frozen=True, slots=True)
class PlantedLink:
    href: str  # as written in the page (may be relative)
    text: str
    element: str = "a"  # a | img


@dataclass(slots=True)
class SiteSpec:
    index: int
    code: str  # registry (true) site code
    name: str
    organizer: str  # registry (true) organizer
    kind: str
    region: str
    place: str
    host: str
    hosts: tuple[str, ...]
    addr: str
    cms: str
    icp: str
    psb: str
    columns: tuple[ColumnSpec, ...]
    faults: frozenset[str]
    specials: dict[str, Special] = field(default_factory=dict)
    # Planted links per page: "home", "list" (first page of the first column), "article"
    # (newest article of the first column).
    planted: dict[str, list[PlantedLink]] = field(default_factory=dict)
    hidden: dict[str, str] = field(default_factory=dict)  # page slot → hidden-link technique
    robots: str | None = None  # robots.txt body; None → 404

    @property
    def url(self) -> str:
        return f"http://{self.host}/"

    def abs(self, path: str) -> str:
        return f"http://{self.host}{path}"

    @property
    def charset_case(self) -> str:
        return next((f for f in ENCODING_CASES if f in self.faults), "utf8")


def column_items(seed: int, site: SiteSpec, col: ColumnSpec, today: date) -> list[Item]:
    """Items of a column, newest first. Pure function of its arguments (cheap: <= ~40 items)."""
    return list(_column_items(seed, site.index, site.place, col, today))


@functools.lru_cache(maxsize=4096)  # homepages and lists ask for the same few columns over and over
def _column_items(seed: int, site_index: int, place: str, col: ColumnSpec, today: date) -> tuple[Item, ...]:
    rng = random.Random(f"{seed}/items/{site_index}/{col.cid}")
    dates: list[date] = []
    if col.future_days:
        dates.append(today + timedelta(days=col.future_days))
    if col.newest is not None:
        d = col.newest
        for _ in range(col.n_items):
            dates.append(d)
            d -= timedelta(days=rng.randint(*col.gap))
    items = []
    for idx, d in enumerate(dates):
        artid = col.cid * 10000 + idx
        if col.cms == "hanweb":
            path = f"/art/{d.year}/{d.month}/{d.day}/art_{col.cid}_{artid}.html"
        else:
            path = f"{col.dir}/{d:%Y%m}/t{d:%Y%m%d}_{artid}.html"
        items.append(Item(idx, artid, d, names.item_title(rng, col.cls, place), path))
    return tuple(items)


# --------------------------------------------------------------------------- generation


def assign_slots(n_sites: int, seed: int) -> list[tuple[str, ...]]:
    """Faults per site index. Site 0 is always healthy (a stable control for tests)."""
    out: list[tuple[str, ...]] = [() for _ in range(n_sites)]
    order = list(range(1, n_sites))
    random.Random(f"{seed}/slots").shuffle(order)
    for rank, index in enumerate(order):
        if rank < len(SLOTS):
            out[index] = SLOTS[rank]
        elif rank % 4 == 0:  # large webs: repeat faults on a quarter of the remaining sites
            out[index] = SLOTS[(rank // 4) % len(SLOTS)]
    return out


def _make_columns(
    rng: random.Random, site_index: int, cms: str, faults: frozenset[str], today: date, max_items: int
) -> tuple[ColumnSpec, ...]:
    if "homepage_stale" in faults:
        classes = ["notice", "policy", "personnel", "plan"]
    else:
        classes = ["news", "news", "notice", "policy", "personnel"]
        if rng.random() < 0.5 or faults & {"blank_column", "blank_explained"}:
            classes.append("plan")
    used: dict[str, int] = {}
    cols: list[ColumnSpec] = []
    for i, cls in enumerate(classes):
        name, slug = names.COLUMN_NAMES[cls][used.get(cls, 0) % len(names.COLUMN_NAMES[cls])]
        used[cls] = used.get(cls, 0) + 1
        cid = 1000 + (site_index * 7 + i * 113) % 8999
        top = "/zwdt" if cls == "news" else "/xxgk"
        fresh_max, gap = {"news": (3, (0, 3)), "notice": (40, (2, 15)), "policy": (40, (2, 15))}.get(
            cls, (90, (10, 45))
        )
        lo = 3 if "crawl_delay" in faults else min(6, max_items)
        n_items = 3 if "crawl_delay" in faults else rng.randint(lo, max_items)
        newest: date | None = today - timedelta(days=rng.randint(0, fresh_max))
        fmt = rng.choice(("iso", "iso", "bracket", "cn", "none"))
        future_days = 0
        note = ""
        if "homepage_stale" in faults:
            newest = today - timedelta(days=rng.randint(20, 60))
        stale = (
            ("stale_news" in faults and cls == "news" and used[cls] == 2)
            or ("stale_notice" in faults and cls == "notice")
            or ("stale_policy" in faults and cls == "policy")
            or ("stale_personnel" in faults and cls == "personnel")
        )
        if stale:
            extra = {"news": (25, 60), "notice": (220, 300), "policy": (220, 300)}.get(cls, (420, 600))
            newest = today - timedelta(days=rng.randint(*extra))
            fmt = rng.choice(("iso", "cn"))  # full dates: the staleness must be unambiguous
        if cls == "plan" and faults & {"blank_column", "blank_explained"}:
            newest, n_items = None, 0
            if "blank_explained" in faults:
                note = "本栏目暂无信息。因本单位本年度未制定新的规划计划，暂无相关内容发布。"
        if "future_date" in faults and i == 0:
            future_days = rng.randint(20, 60)
            fmt = "iso"
        cols.append(
            ColumnSpec(
                cid,
                name,
                cls,
                cms,
                f"{top}/{slug}",
                fmt,
                n_items,
                newest,
                gap,
                future_days,
                note,
                per_page=rng.choice((5, 10, 15)),
            )
        )
    return tuple(cols)


def make_site(
    index: int, seed: int, today: date, faults: tuple[str, ...], n_site_addrs: int, max_items: int
) -> SiteSpec:
    rng = random.Random(f"{seed}/site/{index}")
    province, pcode, abbr = names.PROVINCES[rng.randrange(len(names.PROVINCES))]
    place = names.place_name(rng)
    num = f"site{index + 1:04d}"
    if index % 3 == 0:
        kind, host = "portal", f"www.{num}.gov.cn"
        hosts: tuple[str, ...] = (host, f"{num}.gov.cn")
        name, organizer = f"{place}人民政府", f"{place}人民政府办公室"
    else:
        prefix, dept = names.DEPARTMENTS[rng.randrange(len(names.DEPARTMENTS))]
        kind, host = "department", f"{prefix}.{num}.gov.cn"
        hosts = (host,)
        name = organizer = f"{place}{dept}"
    code = f"{pcode}{rng.randint(1, 15):02d}{index + 1:06d}"
    icp = f"{abbr}ICP备{rng.randint(0, 99999999):08d}号"
    psb = f"{abbr}公网安备{pcode}{rng.randint(0, 999999999999):012d}号"
    cms = "trs" if rng.random() < 0.6 else "hanweb"
    fs = frozenset(faults)
    cols = _make_columns(rng, index, cms, fs, today, max_items)
    addr = f"127.0.0.{2 + index % n_site_addrs}"
    site = SiteSpec(
        index,
        code,
        name,
        organizer,
        kind,
        f"{province}{place}",
        place,
        host,
        hosts,
        addr,
        cms,
        icp,
        psb,
        cols,
        fs,
    )
    site.robots = None if index % 3 == 1 else "User-agent: *\nDisallow: /admin/\n"
    return site
