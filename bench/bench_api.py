"""API latency under sustained concurrent load: p50/p99 of /metrics and /health.

Starts ``cst api`` in its own process (a fresh CST_HOME, the paper venue), then N client
threads with keep-alive connections request /metrics and /health in turn for D seconds.
Goal: p99 <= 20 ms for both. Run: ``python bench/bench_api.py [--clients N] [--seconds D]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np

ENDPOINTS = ("/metrics", "/health")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("cst api exited")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        pause.wait(0.1)
    sys.exit("cst api did not start")


def load(url: str, clients: int, seconds: float) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {path: [] for path in ENDPOINTS}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    errors: list[str] = []

    def client() -> None:
        mine: dict[str, list[float]] = {path: [] for path in ENDPOINTS}
        with httpx.Client(base_url=url, timeout=10) as session:
            turn = 0
            while time.monotonic() < stop_at:
                path = ENDPOINTS[turn % len(ENDPOINTS)]
                turn += 1
                started = time.perf_counter()
                response = session.get(path)
                mine[path].append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(f"{path}: {response.status_code}")
        with lock:
            for path, values in mine.items():
                latencies[path].extend(values)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        sys.exit(f"{len(errors)} failed requests, first: {errors[0]}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cst = Path(sys.executable).with_name("cst")
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "CST_HOME": home,
            "CST_API__PORT": str(port),
            "CST_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen([str(cst), "api"], env=env, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(url, process)
            load(url, 2, 2.0)  # warm-up
            latencies = load(url, args.clients, args.seconds)
        finally:
            process.terminate()
            process.wait(timeout=20)
    print(f"{args.clients} clients, {args.seconds:g} s, server: cst api (one uvicorn worker)")
    print(
        f"{'endpoint':<10} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'goal p99':>9}"
    )
    for path, values in latencies.items():
        ms = np.array(values) * 1000
        p50, p99 = np.percentile(ms, [50, 99])
        verdict = "met" if p99 <= 20 else "missed"
        print(
            f"{path:<10} {len(ms):>9,} {len(ms) / args.seconds:>8,.0f} {p50:>8.2f} {p99:>8.2f} "
            f"{'<= 20 ' + verdict:>9}"
        )


if __name__ == "__main__":
    main()
