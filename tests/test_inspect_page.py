"""inspect-page: one page from a file or a loopback server, reported as text and JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from crawler.config import Settings
from crawler.errors import UserError
from crawler.inspect_page import PageReport, inspect, render_json, render_text, settings_fetch
from crawler.types import Element

TODAY = date(2023, 11, 28)
FOOTER = (
    '<div class="footer"><p>主办单位：某市人民政府办公室　承办单位：某市大数据中心</p>'
    "<p>网站标识码：1100000001　京ICP备05023109号　京公网安备11010502000372号</p></div>"
)
LIST_PAGE = (
    '<html><head><title>通知公告_某市人民政府</title><meta name="ColumnName" content="通知公告">'
    '<meta name="ColumnType" content="通知公告"></head><body>'
    '<div class="nav"><a href="/">首页</a><a href="/tzgg/">通知公告</a></div>'
    '<ul class="list">'
    '<li><a href="./202311/t20231120_3.html" title="关于某某工作的通知（全文）">关于某某工作的通知</a>'
    "<span>2023-11-20</span></li>"
    '<li><a href="./202311/t20231115_2.html">关于某某事项的公告</a><span>[11-15]</span></li>'
    '<li><a href="./202311/t20231101_1.html">关于某某名单的公示</a><span>2023/11/01</span></li></ul>'
    '<div class="page"><script>createPageHTML(3, 0, "index", "html");</script></div>'
    f"{FOOTER}</body></html>"
)
ARTICLE = (
    '<html><head><title>关于开展某项工作的通知_某市人民政府</title><meta name="SiteIDCode" content="1100000001">'
    '<meta name="ArticleTitle" content="关于开展某项工作的通知"><meta name="PubDate" content="2023-11-20 09:30">'
    '</head><body><h1>关于开展某项工作的通知</h1><div class="info">发布时间：2023-11-20</div>'
    f'<div id="zoom"><p>{"各有关单位：现将有关事项通知如下。" * 30}</p></div>'
    f'<a href="/tzgg/">返回列表</a>{FOOTER}</body></html>'
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "list.html").write_text(LIST_PAGE, encoding="utf-8")
    (tmp_path / "article.html").write_text(ARTICLE, encoding="utf-8")
    gbk = ARTICLE.replace("<head>", '<head><meta http-equiv="Content-Type" content="text/html; charset=gbk">')
    (tmp_path / "gbk.html").write_bytes(gbk.encode("gbk"))
    return tmp_path


async def test_list_page_file(files: Path) -> None:
    report = await inspect(str(files / "list.html"), today=TODAY, url="http://www.x.gov.cn/tzgg/index.html")
    assert report.page_kind == "list"
    assert (report.column_name, report.column_type) == ("通知公告", "通知公告")
    assert [(i.title, i.date) for i in report.list_items] == [
        ("关于某某工作的通知（全文）", date(2023, 11, 20)),
        ("关于某某事项的公告", date(2023, 11, 15)),
        ("关于某某名单的公示", date(2023, 11, 1)),
    ]
    assert report.list_items[0].url == "http://www.x.gov.cn/tzgg/202311/t20231120_3.html"
    assert (report.pub_date, report.pub_date_source) == (None, "")
    text = render_text(report)
    assert "列表页（list）" in text and "2023-11-15  关于某某事项的公告" in text


async def test_article_file_with_identity(files: Path) -> None:
    path = files / "article.html"
    report = await inspect(str(path), today=TODAY)
    assert report.url == path.resolve().as_uri()
    assert report.title == "关于开展某项工作的通知_某市人民政府"
    assert (report.page_kind, report.pub_date, report.pub_date_source) == (
        "article",
        date(2023, 11, 20),
        "meta:pubdate",
    )
    ident = report.identity
    assert (ident.site_id_code, ident.site_id_code_source) == ("1100000001", "meta+footer")
    assert (ident.icp, ident.psb, ident.organizer) == (
        "京ICP备05023109号",
        "京公网安备11010502000372号",
        "某市人民政府办公室",
    )
    assert report.list_items == ()
    text = render_text(report)
    for expected in (
        "文章页（article）",
        "2023-11-20（来源 meta:pubdate）",
        "1100000001（meta+footer）",
        "京ICP备05023109号",
    ):
        assert expected in text


async def test_json_keys_and_dates(files: Path) -> None:
    report = await inspect(str(files / "article.html"), today=TODAY, url="http://www.x.gov.cn/tzgg/t.html")
    data = orjson.loads(render_json(report))
    assert list(data) == [
        "url",
        "title",
        "page_kind",
        "pub_date",
        "pub_date_source",
        "list_items",
        "column_name",
        "column_type",
        "identity",
        "links",
    ]
    assert data["pub_date"] == "2023-11-20"
    assert data["identity"]["psb"] == "京公网安备11010502000372号"
    assert {"url": "http://www.x.gov.cn/tzgg/", "text": "返回列表", "element": "a"} in data["links"]
    listing = orjson.loads(render_json(await inspect(str(files / "list.html"), today=TODAY)))
    assert listing["list_items"][0]["date"] == "2023-11-20"


async def test_gbk_file(files: Path) -> None:
    report = await inspect(str(files / "gbk.html"), today=TODAY)
    assert report.title == "关于开展某项工作的通知_某市人民政府"
    assert report.identity.organizer == "某市人民政府办公室"
    assert report.pub_date == date(2023, 11, 20)


async def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nothing\.html"):
        await inspect(str(tmp_path / "nothing.html"), today=TODAY)


# --------------------------------------------------------------------------- over HTTP


async def _list(request: web.Request) -> web.Response:
    return web.Response(body=LIST_PAGE.encode("gbk", "replace"), content_type="text/html", charset="gbk")


async def _moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/tzgg/index.html")


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/tzgg/index.html", _list)
    app.router.add_get("/tzgg", _moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port
    await runner.cleanup()


async def _inspect_url(port: int, path: str) -> PageReport:
    settings = Settings(resolve=(f"*.example.gov.cn=127.0.0.1:{port}",))
    async with settings_fetch(settings) as fetch:
        return await inspect(f"http://www.example.gov.cn{path}", today=TODAY, fetch=fetch)


async def test_url_fetched_through_the_crawl_fetcher(server: int) -> None:
    report = await _inspect_url(server, "/tzgg")
    assert report.url == "http://www.example.gov.cn/tzgg/index.html"  # after the redirect
    assert report.page_kind == "list" and len(report.list_items) == 3
    assert report.list_items[1].url == "http://www.example.gov.cn/tzgg/202311/t20231115_2.html"
    assert report.identity.psb == "京公网安备11010502000372号"  # decoded from the GBK header charset
    assert any(link.element is Element.A and link.text == "通知公告" for link in report.links)


async def test_url_not_found_is_a_user_error(server: int) -> None:
    with pytest.raises(UserError, match="HTTP 404"):
        await _inspect_url(server, "/missing.html")


async def test_url_without_fetcher_is_a_user_error() -> None:
    with pytest.raises(UserError, match="needs a fetcher"):
        await inspect("http://www.example.gov.cn/", today=TODAY)
