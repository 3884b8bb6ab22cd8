"""The reports ``make test`` writes (pytest JUnit XML, coverage XML, ruff JSON, mypy JUnit XML),
read for the CI page. A report that is missing or unreadable is reported as such."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestRun:
    tests: int
    failures: int
    errors: int
    skipped: int
    seconds: float
    timestamp: str | None


@dataclass(frozen=True)
class QualityReports:
    directory: Path
    tests: TestRun | None
    coverage: float | None
    """Line coverage, 0..1."""
    coverage_at: float | None
    lint_findings: int | None
    type_errors: int | None
    problems: tuple[str, ...]
    """Reports that are missing or unreadable, and why."""


def _junit(path: Path) -> TestRun:
    root = ET.parse(path).getroot()  # noqa: S314 - our own report
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return TestRun(
        tests=sum(int(s.get("tests", 0)) for s in suites),
        failures=sum(int(s.get("failures", 0)) for s in suites),
        errors=sum(int(s.get("errors", 0)) for s in suites),
        skipped=sum(int(s.get("skipped", 0)) for s in suites),
        seconds=sum(float(s.get("time", 0.0)) for s in suites),
        timestamp=suites[0].get("timestamp") if suites else None,
    )


def read_reports(directory: Path) -> QualityReports:
    problems: list[str] = []
    tests = coverage = coverage_at = lint = types = None
    try:
        tests = _junit(directory / "junit.xml")
    except (OSError, ET.ParseError, ValueError) as exc:
        problems.append(f"junit.xml: {type(exc).__name__}")
    try:
        root = ET.parse(directory / "coverage.xml").getroot()  # noqa: S314 - our own report
        coverage = float(root.get("line-rate", "nan"))
        coverage_at = float(root.get("timestamp", "0")) / 1000 or None
    except (OSError, ET.ParseError, ValueError) as exc:
        problems.append(f"coverage.xml: {type(exc).__name__}")
    try:
        lint = len(json.loads((directory / "ruff.json").read_text()))
    except (OSError, ValueError) as exc:
        problems.append(f"ruff.json: {type(exc).__name__}")
    try:
        mypy = _junit(directory / "mypy.xml")
        types = mypy.failures + mypy.errors
    except (OSError, ET.ParseError, ValueError) as exc:
        problems.append(f"mypy.xml: {type(exc).__name__}")
    return QualityReports(directory, tests, coverage, coverage_at, lint, types, tuple(problems))
