"""Run the simulated web until SIGINT/SIGTERM: ``python -m crawler.simweb --sites 60 --seed 1``.

Prints the ``--resolve``/``--nameserver`` flags a crawler needs; with many hosts the rules go to a
file (``--resolve-out``), one per line, instead of the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import date
from pathlib import Path

from crawler.simweb.server import SimWeb

PRINT_RULES_MAX = 60


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m crawler.simweb", description=__doc__)
    p.add_argument("--sites", type=int, default=60, help="number of simulated sites")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default 2024-06-15)")
    p.add_argument("--addresses", type=int, default=4, help="loopback addresses to listen on (>= 2)")
    p.add_argument("--max-items", type=int, default=20, help="max items per column")
    p.add_argument("--truth", help="write the truth JSON here")
    p.add_argument("--sites-csv", help="write the registry CSV here")
    p.add_argument("--resolve-out", help="write one HOST=ADDR:PORT rule per line here")
    return p.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    web = SimWeb(args.sites, args.seed, args.today, n_addresses=args.addresses, max_items=args.max_items)
    if args.truth:
        web.write_truth(args.truth)
    if args.sites_csv:
        web.write_sites_csv(args.sites_csv)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with web:
        rules = web.resolve_rules
        if args.resolve_out:
            await asyncio.to_thread(Path(args.resolve_out).write_text, "\n".join(rules) + "\n", "utf-8")
        print(f"simweb: {len(web.sites)} sites on {', '.join(web.addresses)} port {web.port}", flush=True)
        print(f"--nameserver {web.nameserver}")
        if len(rules) <= PRINT_RULES_MAX:
            print(" ".join(f"--resolve {r}" for r in rules))
        else:
            print(f"({len(rules)} --resolve rules; use --resolve-out to write them to a file)")
        if args.sites_csv:
            print(f"registry: {args.sites_csv}")
        sys.stdout.flush()
        await stop.wait()
    print(f"simweb: stopped after {len(web.log)} requests", flush=True)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_run(_parse(argv)))


if __name__ == "__main__":
    main()
