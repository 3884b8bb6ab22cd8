"""Structured JSON logs: one line per event, with a UTC timestamp, level and component.

Secrets never reach a log line: values registered with :func:`register_secret` (the API keys
and the API token, when the system opens) are replaced wherever they appear, and fields whose
name says secret are masked whatever they hold.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

MASK = "**********"
_SECRET_FIELDS = frozenset(
    {"api_key", "api_secret", "api_token", "secret", "password", "token", "authorization"}
)

_lock = threading.Lock()
_configured = False
_open_file: TextIO | None = None
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every log line from now on (short values would mask noise: >= 8)."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {
            k: MASK if str(k).lower() in _SECRET_FIELDS else _scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the event with every registered secret and secret field masked."""
    scrubbed: MutableMapping[str, Any] = _scrub(dict(event))
    return scrubbed


def configure_logging(log_file: Path | None, level: str = "INFO") -> None:
    """Send JSON log lines to ``log_file`` (created if needed), or to stderr when None."""
    global _configured, _open_file
    with _lock:
        if _open_file is not None:
            _open_file.close()
            _open_file = None
        stream: TextIO
        if log_file is None:
            stream = sys.stderr
        else:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            stream = _open_file = log_file.open("a", encoding="utf-8")
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                redact_secrets,
                structlog.processors.JSONRenderer(separators=(",", ":")),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(
                logging.getLevelNamesMapping()[level]
            ),
            logger_factory=structlog.WriteLoggerFactory(file=stream),
            cache_logger_on_first_use=False,
        )
        _configured = True


def get_logger(component: str) -> Any:
    """A logger for ``component``. It resolves the configuration on every call, so modules can
    create theirs at import time; until configured, warnings and errors go to stderr."""
    if not _configured:
        configure_logging(None, "WARNING")
    return structlog.get_logger(component=component)
