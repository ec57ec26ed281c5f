"""The process runtime every command goes through (crawler/runtime.py)."""

from __future__ import annotations

import subprocess
import sys

from crawler import runtime

SCRIPT = """
import asyncio, gc
from crawler import runtime

async def main():
    return type(asyncio.get_running_loop()).__module__, gc.get_threshold()[0], gc.get_freeze_count() > 0

print(runtime.run(main()))
"""


def test_run_returns_the_result_on_uvloop_with_the_collector_tuned() -> None:
    # A child process: the collector's settings are process-wide, and the test run's own must stay as they are.
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.strip() == repr(("uvloop", runtime.YOUNG_GENERATION_THRESHOLD, True))
