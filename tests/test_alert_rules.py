"""The alert rules, Prometheus and Alertmanager configs checked by promtool and amtool, the
rules' unit tests run, and every metric a rule reads exported by the app."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import cryptosmarttrader.observability.metrics  # noqa: F401 - registers every cst_ metric
from tests.conftest import service_missing

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
SEVERITIES = {"critical", "high", "medium", "low", "info"}
RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks.md"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        service_missing(
            f"{name} not installed (Debian package prometheus / prometheus-alertmanager)"
        )
    assert path is not None
    return path


def check(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def rules() -> list[dict[str, object]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_promtool_checks_the_rules_and_the_prometheus_config() -> None:
    assert "SUCCESS: 22 rules found" in check(tool("promtool"), "check", "rules", str(RULES))
    check(tool("promtool"), "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))


def test_every_rule_fires_and_stays_quiet_in_its_promtool_unit_tests() -> None:
    output = check(tool("promtool"), "test", "rules", str(DEPLOY / "prometheus" / "rules_test.yml"))
    assert "SUCCESS" in output
    tests = yaml.safe_load((DEPLOY / "prometheus" / "rules_test.yml").read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for step in case["alert_rule_test"]:
            (firing if step["exp_alerts"] else quiet).add(step["alertname"])
    names = {str(rule["alert"]) for rule in rules()}
    assert firing == names
    assert quiet == names


def test_amtool_checks_the_alertmanager_config() -> None:
    check(tool("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))


def test_rules_have_severity_annotations_and_a_runbook_section() -> None:
    runbooks = RUNBOOKS.read_text()
    anchors = {
        re.sub(r"[^a-z0-9]", "", line[3:].lower())
        for line in runbooks.splitlines()
        if line.startswith("## ")
    }
    assert len(rules()) >= 16
    for rule in rules():
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert isinstance(labels, dict)
        assert isinstance(annotations, dict)
        assert labels["severity"] in SEVERITIES, rule["alert"]
        assert {"summary", "description", "runbook"} <= set(annotations), rule["alert"]
        anchor = str(annotations["runbook"]).split("#", 1)[1]
        assert anchor == str(rule["alert"]).lower()
        assert anchor in anchors, f"docs/runbooks.md has no section for {rule['alert']}"


def exported_names() -> set[str]:
    names = {"up"}
    for family in REGISTRY.collect():
        if family.type == "counter":
            names |= {family.name + "_total"}
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
        else:
            names.add(family.name)
    return names


def test_every_metric_a_rule_reads_is_exported_by_the_app() -> None:
    exported = exported_names()
    for rule in rules():
        used = set(re.findall(r"\b((?:cst|process)_[a-z_]+|up)\b", str(rule["expr"])))
        assert used, rule["alert"]
        missing = used - exported
        assert not missing, f"{rule['alert']} reads {missing}, which the app does not export"


@pytest.mark.parametrize("name", ["cst_kill_switch_active", "cst_order_decisions_total"])
def test_the_exported_name_check_can_fail(name: str) -> None:
    assert name in exported_names()
    assert name + "_typo" not in exported_names()
