"""govcrawl: inspect government websites every night — broken links and pages, column freshness, integrity.

Exit codes: 0 the run completed (findings are results, not failures); 1 internal error or failed
run; 2 bad input (settings, registry, flags); 3 the database could not be used; 128+N stopped by
signal N (130 for Ctrl-C, 143 for SIGTERM) after keeping every result already collected.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from crawler import runtime
from crawler.config import Settings, load_settings
from crawler.engine import Crawl
from crawler.errors import StoreError, UserError
from crawler.metrics import Metrics
from crawler.registry import load_registry
from crawler.runner import resolve_dsn, run_once
from crawler.types import Site

log = logging.getLogger("govcrawl")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3

# Flags that map one-to-one onto Settings fields: (flag, field, type, help).
SETTING_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--rate", "rate", float, "requests per second per host (default 2)"),
    ("--host-concurrency", "host_concurrency", int, "requests in flight per host (default 2)"),
    ("--ip-rate", "ip_rate", float, "requests per second per server IP address (default 8)"),
    ("--ip-concurrency", "ip_concurrency", int, "requests in flight per server IP address (default 8)"),
    ("--concurrency", "global_concurrency", int, "requests in flight in total (default 64)"),
    ("--max-pages", "max_pages", int, "pages fetched and parsed per site (default 2000)"),
    ("--max-depth", "max_depth", int, "link depth from the homepage (default 5)"),
    ("--retries", "retries", int, "extra attempts for transient failures (default 2)"),
    ("--timeout", "total_timeout", float, "seconds before a request has failed (default 15)"),
    ("--connect-timeout", "connect_timeout", float, "seconds to connect (default 10)"),
    ("--max-body", "max_body_bytes", int, "bytes read of one response (default 5 MiB)"),
    ("--user-agent", "user_agent", str, "User-Agent header (name govcrawl and a contact URL)"),
    ("--robots", "robots", str, "obey or ignore robots.txt (default obey)"),
    ("--ca-file", "ca_file", Path, "extra CA certificates (PEM)"),
    ("--dsn", "dsn", str, "PostgreSQL DSN (default: the embedded server)"),
    ("--data-dir", "data_dir", Path, "where the embedded PostgreSQL lives"),
    ("--out", "out", Path, "write JSON lines to this file instead of PostgreSQL"),
    ("--metrics-port", "metrics_port", int, "serve /metrics on this port while running (0: off)"),
    ("--pushgateway", "pushgateway", str, "push metrics to this Prometheus Pushgateway when done"),
]


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (also GOVCRAWL_CONFIG)")
    for flag, dest, kind, text in SETTING_FLAGS:
        parser.add_argument(flag, dest=dest, type=kind, help=text)
    parser.add_argument("--resolve", action="append", metavar="PATTERN=ADDR[:PORT]",
                        help="connect to ADDR[:PORT] for hosts matching PATTERN (repeatable, tried in order)")
    parser.add_argument("--nameserver", dest="nameservers", action="append", metavar="IP[:PORT]",
                        help="DNS server to use (repeatable)")
    parser.add_argument("--allow-private", action="append", metavar="HOST_PATTERN",
                        help="allow these hosts to resolve to private/loopback addresses")
    parser.add_argument("--keep-all-links", action="store_const", const=True,
                        help="store every link edge, not only those whose target is not ok")
    parser.add_argument("--no-conditional", dest="conditional", action="store_const", const=False,
                        help="fetch every column list page in full (default: a 304 for unchanged lists)")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {dest: getattr(args, dest, None) for _, dest, _, _ in SETTING_FLAGS}
    for name in ("resolve", "nameservers", "allow_private", "keep_all_links", "conditional"):
        overrides[name] = getattr(args, name, None)
    return load_settings(args.config, overrides=overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govcrawl", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="crawl every site of a registry once")
    run.add_argument("--sites", type=Path, required=True, help="registry: CSV or TOML")
    run.add_argument("--kind", default="adhoc", choices=["nightly", "adhoc"], help="run kind recorded")
    run.add_argument("--workers", type=int, default=0,
                     help="crawl with N local worker processes sharing the run through PostgreSQL")
    _add_setting_flags(run)

    plan = sub.add_parser("plan", help="open a shared run for `govcrawl worker` processes; print its id")
    plan.add_argument("--sites", type=Path, required=True, help="registry: CSV or TOML")
    plan.add_argument("--kind", default="nightly", choices=["nightly", "adhoc"], help="run kind recorded")
    _add_setting_flags(plan)

    worker = sub.add_parser("worker", help="work on a shared run (see `plan`) until it is closed")
    worker.add_argument("--run", type=int, required=True, help="run id printed by `govcrawl plan`")
    worker.add_argument("--sites", type=Path, required=True, help="the registry the run was planned with")
    worker.add_argument("--dsn", help="PostgreSQL DSN of the shared run (default: the embedded server)")
    worker.add_argument("--data-dir", type=Path, help="where the embedded PostgreSQL lives")
    worker.add_argument("--config", type=Path, help="TOML settings file")
    worker.add_argument("--worker-id", help="name in run_leases.owner (default host:pid)")
    worker.add_argument("--lease-ttl", type=float, default=30.0, help="seconds a lease lives unrenewed (30)")
    worker.add_argument("--heartbeat", type=float, default=5.0, help="seconds between lease renewals (5)")
    worker.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)  # tests pin the date

    demo = sub.add_parser("demo", help="start the simulated government web and crawl it")
    demo.add_argument("--n-sites", type=int, default=60, help="simulated sites (default 60)")
    demo.add_argument("--seed", type=int, default=1)
    _add_setting_flags(demo)

    serve = sub.add_parser("serve", help="run as a service: nightly crawl on a schedule, probes, /metrics")
    serve.add_argument("--sites", type=Path, required=True, help="registry: CSV or TOML")
    serve.add_argument("--schedule", default="0 1 * * *", help="cron expression of the nightly crawl")
    serve.add_argument("--tz", default="Asia/Shanghai", help="time zone of the schedule")
    serve.add_argument("--probe-interval", type=_duration, default=timedelta(minutes=30),
                       help="homepage availability probes, e.g. 30m (default)")
    serve.add_argument("--listen", default=None, metavar="HOST:PORT",
                       help="where /metrics, /healthz and /readyz are served (default 0.0.0.0:9108)")
    _add_setting_flags(serve)

    report = sub.add_parser("report", help="the inspection report of a run")
    report.add_argument("--run", default="latest", help="run id or 'latest' (default)")
    report.add_argument("--format", default="html", choices=["html", "md", "csv", "json"])
    report.add_argument("--out", type=Path, help="file to write (default: standard output)")
    report.add_argument("--dsn", help="PostgreSQL DSN (default: the embedded server)")
    report.add_argument("--data-dir", type=Path, help="where the embedded PostgreSQL lives")
    report.add_argument("--config", type=Path, help="TOML settings file")

    inspect = sub.add_parser("inspect-page", help="show what govcrawl reads from one page")
    inspect.add_argument("source", help="a local HTML file or an http(s) URL")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--url", help="the URL a local file was fetched from (base for its links)")
    _add_setting_flags(inspect)

    db = sub.add_parser("db", help="database administration")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    for name, text in (("migrate", "create or upgrade the schema"), ("dsn", "print the DSN (for psql)"),
                       ("stop", "stop the embedded server"), ("prune", "drop old time-series partitions")):
        p = dbsub.add_parser(name, help=text)
        p.add_argument("--dsn", help="PostgreSQL DSN (default: the embedded server)")
        p.add_argument("--data-dir", type=Path, help="where the embedded PostgreSQL lives")
        p.add_argument("--config", type=Path, help="TOML settings file")
        if name == "prune":
            p.add_argument("--keep", required=True, type=_duration, help="e.g. 180d, 12w, 48h")
    return parser


def _duration(text: str) -> timedelta:
    units = {"d": "days", "w": "weeks", "h": "hours", "m": "minutes", "s": "seconds"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number and d, w, h, m or s (e.g. 180d, 30m)")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


# ---------------------------------------------------------------------- run


async def crawl(settings: Settings, sites: list[Site], kind: str) -> int:
    metrics = Metrics()
    loop = asyncio.get_running_loop()
    stopped_by: list[int] = []
    engines: list[Crawl] = []

    def on_signal(signum: int) -> None:
        stopped_by.append(signum)
        log.warning("signal %s: stopping; results collected so far are kept", signal.Signals(signum).name)
        for engine in engines:
            engine.stop()

    def on_start(engine: Crawl) -> None:
        engines.append(engine)
        progress_task.append(asyncio.create_task(_show_progress(engine)))

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    progress_task: list[asyncio.Task[None]] = []
    metrics_runner = await _serve_metrics(metrics, settings.metrics_port) if settings.metrics_port else None
    try:
        outcome = await run_once(settings, sites, kind, metrics, on_start)
    finally:
        for task in progress_task:
            task.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        if settings.pushgateway:
            await asyncio.to_thread(metrics.push, settings.pushgateway, "govcrawl_run")
    _print_summary({"event": "run_finished", "status": outcome.status, "run_id": outcome.run_id,
                    "results": outcome.where, **outcome.summary})
    if stopped_by:
        return 128 + stopped_by[0]
    return EXIT_OK if outcome.status == "succeeded" else EXIT_FAILED


async def _serve_metrics(metrics: Metrics, port: int) -> Any:
    from aiohttp import web

    from crawler.metrics import metrics_handler

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(metrics))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


async def _show_progress(engine: Crawl) -> None:
    tty = sys.stderr.isatty()
    last_requests, last_time = 0, time.monotonic()
    while True:
        await asyncio.sleep(1.0 if tty else 30.0)
        p = engine.progress
        now = time.monotonic()
        rate = (p.requests - last_requests) / max(now - last_time, 1e-6)
        last_requests, last_time = p.requests, now
        if tty:
            sys.stderr.write(f"\rsites {p.sites_done}/{p.sites_total}  pages {p.pages}  requests {p.requests}"
                             f"  broken links {p.broken_links}  {rate:.1f} req/s   ")
            sys.stderr.flush()
        else:
            log.info("progress", extra={"fields": {"sites_done": p.sites_done, "sites_total": p.sites_total,
                                                   "pages": p.pages, "requests": p.requests,
                                                   "broken_links": p.broken_links,
                                                   "requests_per_s": round(rate, 1)}})


def _print_summary(summary: dict[str, Any]) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")


async def demo(settings: Settings, n_sites: int, seed: int) -> int:
    from datetime import date

    from crawler.simweb.process import simweb_process

    folder = Path(tempfile.mkdtemp(prefix="govcrawl-demo-"))
    registry = folder / "sites.csv"
    # The simulated web runs in its own process so its clock (request log) is not skewed by the crawl.
    with simweb_process(registry, folder / "truth.json", n_sites=n_sites, seed=seed, today=date.today()) as web:
        log.info("simulated web: %d sites; registry %s; truth %s", n_sites, registry, folder / "truth.json")
        code = await crawl(_demo_settings(settings, web), load_registry(registry), "adhoc")
    if settings.out is None:
        sys.stdout.write(
            "\nResults are in PostgreSQL. Try:\n"
            '  psql "$(govcrawl db dsn)" -c \'select "check", count(*) from findings group by 1 order by 2 desc\'\n'
            "  govcrawl report --format md | less\n"
            "  govcrawl report --format html --out report.html\n")
    return code


def _demo_settings(settings: Settings, web: Any) -> Settings:
    from crawler.config import replace

    # The simulated web is local: raise politeness so the demo takes a minute, not an hour.
    return replace(settings, resolve=tuple(web.resolve_rules) + settings.resolve,
                   nameservers=(web.nameserver,), rate=max(settings.rate, 10.0),
                   host_concurrency=max(settings.host_concurrency, 2), ip_rate=max(settings.ip_rate, 200.0),
                   ip_concurrency=max(settings.ip_concurrency, 16),
                   total_timeout=min(settings.total_timeout, 5.0), retry_base_delay=0.5)


async def fleet_command(args: argparse.Namespace, settings: Settings, sites: list[Site]) -> int:
    from crawler.scale.fleet import run_fleet

    if settings.out is not None:
        raise UserError("--workers: workers share a run through PostgreSQL; --out is not possible")
    outcome = await run_fleet(resolve_dsn(settings), settings, sites, args.sites, kind=args.kind,
                              workers=args.workers)
    _print_summary({"event": "run_finished", "status": outcome.status, "run_id": outcome.run_id,
                    "workers": len(outcome.exit_codes), "exit_codes": list(outcome.exit_codes)})
    return EXIT_OK if outcome.status == "succeeded" else EXIT_FAILED


async def plan_command(args: argparse.Namespace, settings: Settings, sites: list[Site]) -> int:
    from crawler.scale.plan import plan_run
    from crawler.store.admin import migrate

    dsn = resolve_dsn(settings)
    try:
        await migrate(dsn)
    except OSError as exc:
        raise StoreError(f"cannot reach PostgreSQL: {exc}") from None
    sys.stdout.write(f"{await plan_run(dsn, settings, sites, args.kind)}\n")
    return EXIT_OK


async def worker_command(args: argparse.Namespace) -> int:
    from crawler.scale.worker import worker_command as work

    settings = load_settings(args.config, overrides={"dsn": args.dsn, "data_dir": args.data_dir})
    return await work(resolve_dsn(settings), args.run, args.sites, worker_id=args.worker_id,
                      lease_ttl=args.lease_ttl, heartbeat=args.heartbeat, today=args.today)


async def serve_command(args: argparse.Namespace, settings: Settings, sites: list[Site]) -> int:
    from crawler.service import serve

    host, port = "0.0.0.0", settings.metrics_port or 9108
    if args.listen:
        host, _, port_text = args.listen.rpartition(":")
        if not port_text.isdigit():
            raise UserError(f"--listen {args.listen!r}: expected HOST:PORT")
        host, port = host or "0.0.0.0", int(port_text)
    return await serve(settings, sites, schedule=args.schedule, tz=args.tz,
                       probe_interval_s=args.probe_interval.total_seconds(), host=host, port=port)


async def report_command(args: argparse.Namespace) -> int:
    from crawler.report import build_report, render

    settings = load_settings(args.config, overrides={"dsn": args.dsn, "data_dir": args.data_dir})
    output = render(await build_report(resolve_dsn(settings), args.run), args.format)
    if args.out is None:
        sys.stdout.buffer.write(output)
    else:
        args.out.write_bytes(output)
    return EXIT_OK


async def inspect_command(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from crawler.inspect_page import inspect, render_json, render_text, settings_fetch

    async with settings_fetch(settings) as fetch:
        report = await inspect(args.source, today=date.today(), fetch=fetch, url=args.url)
    if args.json:
        sys.stdout.buffer.write(render_json(report) + b"\n")
    else:
        sys.stdout.write(render_text(report) + "\n")
    return EXIT_OK


async def db_command(args: argparse.Namespace) -> int:
    from crawler.store import admin, embedded

    settings = load_settings(args.config, overrides={"dsn": args.dsn, "data_dir": args.data_dir})
    if args.db_command == "stop":
        embedded.stop_embedded(settings.data_dir)
        return EXIT_OK
    if args.db_command == "dsn":
        sys.stdout.write((settings.dsn or embedded.embedded_dsn(settings.data_dir)) + "\n")
        return EXIT_OK
    dsn = resolve_dsn(settings)
    try:
        if args.db_command == "migrate":
            version = await admin.migrate(dsn)
            sys.stdout.write(f"schema version {version}\n")
        elif args.db_command == "prune":
            for name in await admin.prune(dsn, args.keep):
                sys.stdout.write(f"dropped {name}\n")
    except OSError as exc:
        raise StoreError(f"cannot reach PostgreSQL: {exc}") from None
    return EXIT_OK


# ---------------------------------------------------------------------- entry point


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        return orjson.dumps({"ts": round(record.created, 3), "level": record.levelname.lower(),
                             "logger": record.name, "msg": record.getMessage(), **fields}).decode()


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if not sys.stderr.isatty():
        handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


async def _dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command; settings and the registry are read (and checked) first where it has them."""
    if args.command in ("db", "report", "worker"):  # settings only for where the database is
        handler = {"db": db_command, "report": report_command, "worker": worker_command}[args.command]
        return await handler(args)
    settings = _settings(args)
    if args.command == "inspect-page":
        return await inspect_command(args, settings)
    if args.command == "demo":
        return await demo(settings, args.n_sites, args.seed)
    sites = load_registry(args.sites)
    if args.command == "run":
        if args.workers:
            return await fleet_command(args, settings, sites)
        return await crawl(settings, sites, args.kind)
    if args.command == "plan":
        return await plan_command(args, settings, sites)
    return await serve_command(args, settings, sites)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return runtime.run(_dispatch(args))
    except UserError as exc:
        sys.stderr.write(f"govcrawl: {exc}\n")
        return EXIT_USAGE
    except StoreError as exc:
        sys.stderr.write(f"govcrawl: {exc}\n")
        return EXIT_STORE


if __name__ == "__main__":
    raise SystemExit(main())
