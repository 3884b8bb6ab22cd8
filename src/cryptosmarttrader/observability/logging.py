"""Structured JSON logs: one line per event, with a UTC timestamp, level and component."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

import structlog

_lock = threading.Lock()
_configured = False
_open_file: TextIO | None = None


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
