"""The performance stage: quick benchmarks against the figures recorded in docs/performance.md.

Runs ``bench/bench_gates.py --quick``, reads its table, and compares each figure with the row
of the same name in the "Performance gate" table of docs/performance.md. Fails when a figure
falls more than 30% below the recorded one (all are throughputs: higher is better).

Run: ``python scripts/perf_gate.py`` (``make perf-gate``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.30
ROW = re.compile(r"^\|\s*(?P<label>[^|]+?)\s*\|\s*(?P<value>[\d,.]+)\s*\|")


def table_rows(text: str) -> dict[str, float]:
    rows: dict[str, float] = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            rows[match["label"]] = float(match["value"].replace(",", ""))
    return rows


def recorded() -> dict[str, float]:
    page = (ROOT / "docs" / "performance.md").read_text()
    section = page.split("## Performance gate", 1)[1].split("\n## ", 1)[0]
    return table_rows(section)


def main() -> int:
    baseline = recorded()
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_gates.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = table_rows(result.stdout)
    failed = False
    print(f"| {'measurement':48} | {'recorded':>10} | {'now':>10} | {'change':>7} |")
    print(f"|{'-' * 50}|{'-' * 11}:|{'-' * 11}:|{'-' * 8}:|")
    for label, before in baseline.items():
        now = measured.get(label)
        if now is None:
            print(f"| {label:48} | {before:>10,.0f} | {'missing':>10} |         | FAILED")
            failed = True
            continue
        change = now / before - 1
        verdict = " FAILED" if change < -TOLERANCE else ""
        failed = failed or bool(verdict)
        print(f"| {label:48} | {before:>10,.0f} | {now:>10,.0f} | {change:>+7.0%} |{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
