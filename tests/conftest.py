"""Shared fixtures: a database on SQLite and on PostgreSQL, logging into a temp file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from cryptosmarttrader.observability.logging import configure_logging
from cryptosmarttrader.store.database import Database
from cryptosmarttrader.store.schema import metadata

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "CST_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session", autouse=True)
def json_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    log_file = tmp_path_factory.mktemp("logs") / "test.jsonl"
    configure_logging(log_file, "DEBUG")
    yield log_file
    configure_logging(None, "WARNING")  # closes the file


def service_missing(reason: str) -> None:
    """Under CI=true a missing service fails the test; on a laptop it skips."""
    if IN_CI:
        pytest.fail(f"required service unavailable under CI=true: {reason}")
    pytest.skip(reason)


@contextmanager
def new_postgres_database(prefix: str) -> Iterator[tuple[str, str]]:
    """A fresh, empty PostgreSQL database: its SQLAlchemy URL and name; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}", name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped afterwards."""
    with new_postgres_database("cst_test") as (url, _name):
        yield url


def _reset_postgres(url: str) -> None:
    database = Database(url)
    try:
        metadata.drop_all(database.engine)
    finally:
        database.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that uses this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cst.sqlite'}"
    url: str = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url
