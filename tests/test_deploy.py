"""Packaging and deployment files checked where Docker cannot run: the Dockerfile, the compose
file (its services, published ports, mounted files, the settings it passes), the CI pipeline's
stages, the lock file, and the performance gate's reading of docs/performance.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts.perf_gate import recorded, table_rows

from cryptosmarttrader.config.settings import Settings
from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_the_image_is_slim_runs_as_a_user_and_checks_health() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    (user,) = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user not in {"root", "0"}
    (health,) = re.findall(r"^HEALTHCHECK .*(?:\n    .*)*", text, re.MULTILINE)
    assert "/health" in health
    assert "requirements.lock" in text
    assert 'ENTRYPOINT ["cst"]' in text


def test_compose_runs_every_piece_on_loopback_ports_with_files_that_exist() -> None:
    services = compose()["services"]
    assert set(services) == {
        "engine",
        "dashboard",
        "postgres",
        "redis",
        "prometheus",
        "alertmanager",
    }
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
    engine = services["engine"]
    assert engine["command"] == ["run"]
    assert engine["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["dashboard"]["command"] == ["dashboard"]
    # Secrets are required from the environment, never written in the file.
    environment = engine["environment"]
    assert environment["CST_API_TOKEN"] == "${CST_API_TOKEN:?set CST_API_TOKEN}"
    assert "${CST_DB_PASSWORD:?" in environment["CST_DATABASE_URL"]


def test_the_settings_compose_passes_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    for name in ("engine", "dashboard"):
        for key, value in services[name]["environment"].items():
            resolved = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
            resolved = re.sub(r"\$\{\w+:\?[^}]*\}", "ci-placeholder-0123456789", resolved)
            monkeypatch.setenv(key, resolved)
        settings = Settings()
        assert settings.resolved_database_url.startswith("postgresql+psycopg://cst:")
        assert settings.redis_url == "redis://redis:6379/0"
    assert settings.dashboard.api_url == "http://engine:8000"


def test_promtool_accepts_the_compose_prometheus_config() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        service_missing("promtool not installed (Debian package prometheus)")
    assert promtool is not None
    config = ROOT / "deploy" / "prometheus" / "prometheus-compose.yml"
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_has_its_stages_in_order() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    needs = {name: job.get("needs") for name, job in jobs.items()}
    assert needs == {
        "security": None,
        "quality": "security",
        "tests": "quality",
        "build": "tests",
        "performance": "build",
        "deployment-readiness": "build",
    }
    assert jobs["tests"]["strategy"]["matrix"]["python"] == ["3.11", "3.12"]
    assert set(jobs["tests"]["services"]) == {"postgres", "redis"}
    assert jobs["performance"]["if"] == "github.ref == 'refs/heads/main'"
    runs = "\n".join(
        step.get("run", "") for job in jobs.values() for step in job["steps"] if "run" in step
    )
    for target in ("make security", "make lint typecheck", "make pytest", "make build"):
        assert target in runs
    assert "make perf-gate" in runs


def test_the_lock_pins_every_dependency_of_pyproject() -> None:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    for requirement in wanted:
        name = re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name.lower()) in pins, requirement


def test_the_performance_gate_reads_the_recorded_figures() -> None:
    baseline = recorded()
    assert baseline
    assert all(value > 0 for value in baseline.values())
    assert table_rows("| decisions/s, approve | 1,234 | >= 100,000 |") == {
        "decisions/s, approve": 1234.0
    }
