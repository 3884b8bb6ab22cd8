"""Where the dashboard's numbers come from: the database (always) and a running engine's API
and Prometheus (when reachable). Nothing here invents a value: what cannot be read is None."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from cryptosmarttrader.config.settings import Settings
from cryptosmarttrader.store.database import Database

TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Metrics:
    """One scrape of ``/metrics``: every sample by metric name."""

    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Metrics:
        samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name].append((dict(sample.labels), float(sample.value)))
        return cls(dict(samples))

    def frame(self, name: str) -> pd.DataFrame:
        """The samples of ``name`` as a table: one column per label, then ``value``."""
        rows = [{**labels, "value": value} for labels, value in self.samples.get(name, [])]
        return pd.DataFrame(rows)

    def value(self, name: str, **labels: str) -> float | None:
        """The sum of the samples of ``name`` matching ``labels``; None when there is none."""
        found = [
            value
            for sample_labels, value in self.samples.get(name, [])
            if all(sample_labels.get(k) == v for k, v in labels.items())
        ]
        return math.fsum(found) if found else None

    def histogram_mean(self, name: str, **labels: str) -> float | None:
        total = self.value(f"{name}_sum", **labels)
        count = self.value(f"{name}_count", **labels)
        if total is None or not count:
            return None
        return total / count


@dataclass(frozen=True)
class ApiView:
    """What the engine's API said, or why it could not be read."""

    url: str
    health: dict[str, Any] | None
    metrics: Metrics | None
    error: str | None

    @property
    def reachable(self) -> bool:
        return self.error is None


class Sources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database = Database(settings.resolved_database_url)

    def api(self) -> ApiView:
        url = self.settings.dashboard.api_url.rstrip("/")
        try:
            with httpx.Client(base_url=url, timeout=TIMEOUT_S) as client:
                health_response = client.get("/health")
                metrics_response = client.get("/metrics")
                metrics_response.raise_for_status()
        except httpx.HTTPError as exc:
            return ApiView(url, None, None, f"{type(exc).__name__}: {exc}")
        return ApiView(url, health_response.json(), Metrics.parse(metrics_response.text), None)

    def prometheus_alerts(self) -> list[dict[str, Any]] | None:
        """Active alerts from Prometheus; None when it is not configured or not reachable."""
        url = self.settings.dashboard.prometheus_url
        if url is None:
            return None
        try:
            response = httpx.get(f"{url.rstrip('/')}/api/v1/alerts", timeout=TIMEOUT_S)
            response.raise_for_status()
        except httpx.HTTPError:
            return None
        alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
        return alerts

    def prometheus_series(self, query: str, seconds: float = 3600.0) -> pd.DataFrame | None:
        """``query`` over the last ``seconds`` from Prometheus (time, series, value); None when
        Prometheus is not configured or not reachable."""
        url = self.settings.dashboard.prometheus_url
        if url is None:
            return None
        end = time.time()
        params: dict[str, str | float] = {
            "query": query,
            "start": end - seconds,
            "end": end,
            "step": max(seconds / 240, 1.0),
        }
        try:
            response = httpx.get(
                f"{url.rstrip('/')}/api/v1/query_range", params=params, timeout=TIMEOUT_S
            )
            response.raise_for_status()
        except httpx.HTTPError:
            return None
        rows = [
            {
                "time": pd.to_datetime(float(at), unit="s", utc=True),
                "series": ",".join(f"{k}={v}" for k, v in sorted(result["metric"].items())),
                "value": float(value),
            }
            for result in response.json()["data"]["result"]
            for at, value in result["values"]
        ]
        return pd.DataFrame(rows, columns=["time", "series", "value"])

    def set_kill_switch(self, action: str, reason: str, token: str) -> tuple[int, dict[str, Any]]:
        """POST the kill switch change to the API; (status code, answer)."""
        url = self.settings.dashboard.api_url.rstrip("/")
        response = httpx.post(
            f"{url}/api/v1/kill-switch",
            json={"action": action, "reason": reason or None},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
        )
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {"detail": response.text[:200]}
        return response.status_code, body

    def close(self) -> None:
        self.database.dispose()
