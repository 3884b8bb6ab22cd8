"""The documentation stays true to the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from cryptosmarttrader.config.limits import ExecutionLimits, RiskLimits
from cryptosmarttrader.config.settings import (
    ApiSettings,
    DashboardSettings,
    DataSettings,
    EngineSettings,
    PaperSettings,
    Settings,
    VenueSettings,
)
from cryptosmarttrader.domain.reason_codes import REASON_DESCRIPTIONS, ReasonCode

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_readme_opens_with_make_demo_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()[1:]] == [
        "make demo",
        "make test",
    ]


def test_every_reason_code_is_documented_with_its_description() -> None:
    page = (DOCS / "reason-codes.md").read_text()
    for code in ReasonCode:
        assert f"| `{code.value}` |" in page, code
        assert REASON_DESCRIPTIONS[code] in page, code
    assert set(REASON_DESCRIPTIONS) == set(ReasonCode)


def test_every_setting_is_documented() -> None:
    page = (DOCS / "configuration.md").read_text()
    for prefix, model in (
        ("risk", RiskLimits),
        ("execution", ExecutionLimits),
        ("paper", PaperSettings),
        ("exchange", VenueSettings),
        ("data", DataSettings),
        ("engine", EngineSettings),
        ("api", ApiSettings),
        ("dashboard", DashboardSettings),
    ):
        for name, field in model.model_fields.items():
            row = next(
                (line for line in page.splitlines() if f"| `{prefix}.{name}` |" in line), None
            )
            assert row is not None, f"{prefix}.{name}"
            default = field.get_default(call_default_factory=True)
            assert f"`{default}`" in row, f"{prefix}.{name} default"
    sections = {"risk", "execution", "paper", "exchange", "data", "engine", "api", "dashboard"}
    for name in Settings.model_fields:
        if name not in sections:
            assert f"| `{name}` |" in page, name


def test_the_architecture_page_lists_every_package_and_layer_contract() -> None:
    page = (DOCS / "architecture.md").read_text()
    packages = sorted(
        p.name
        for p in (ROOT / "src" / "cryptosmarttrader").iterdir()
        if (p / "__init__.py").exists()
    )
    table = page.split("## Layers")[1].split("## ")[0]
    for package in packages:
        assert re.search(rf"`{package}`", table), package
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    named = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    assert named == set(packages)


def test_changelog_and_performance_record_exist() -> None:
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    performance = (DOCS / "performance.md").read_text()
    for needle in ("decisions/s", "submits/s", "Machine:", "Date:"):
        assert needle in performance
