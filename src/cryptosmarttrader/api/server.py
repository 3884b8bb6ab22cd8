"""Serving the API with uvicorn: in the foreground (``cst api``) or on a thread beside the
engine (``cst run``, ``cst demo``)."""

from __future__ import annotations

import errno
import signal
import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

STARTUP_TIMEOUT_S = 10.0


class ApiUnavailableError(RuntimeError):
    """The API could not listen (address taken, bad host)."""


def _config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    # uvicorn's own logging and access log stay off: requests are not audit events, and the
    # JSON log must not gain a second format.
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or ApiUnavailableError with a one-line reason."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = (
            "address already in use"
            if exc.errno == errno.EADDRINUSE
            else (exc.strerror or str(exc))
        )
        raise ApiUnavailableError(f"API cannot listen on {host}:{port}: {reason}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve_forever(app: FastAPI, sock: socket.socket) -> None:
    """Serve on the bound ``sock`` until SIGINT or SIGTERM, then return normally.

    uvicorn shuts down gracefully on those signals and then raises the signal again for the
    handler it found: that handler is a no-op here, so the caller can close what it opened.
    """
    host, port = sock.getsockname()[:2]
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda _signum, _frame: None) for sig in stop_signals}
    try:
        uvicorn.Server(_config(app, host, port)).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


class BackgroundApi:
    """The API on a daemon thread; ``url`` is known once started (port 0 picks a free one)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._sock = bind(host, port)
        self.url = url_of(self._sock)
        # Off the main thread uvicorn leaves SIGINT/SIGTERM to the engine's handlers.
        self._server = uvicorn.Server(_config(app, host, self._sock.getsockname()[1]))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="api", daemon=True
        )

    def start(self) -> BackgroundApi:
        """Start serving; returns once the server accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        pause = threading.Event()
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ApiUnavailableError(f"the API server at {self.url} did not start")
            pause.wait(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_S)
        self._sock.close()

    def __enter__(self) -> BackgroundApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
