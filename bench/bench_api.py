"""Load check of the REST API (not a test): 200 sequential, then 50 concurrent POST /predict.

Starts ``uvicorn core.api:app`` on a free 127.0.0.1 port with the shipped weights
(``weights/default.pth``; a random-weight Lite0 when absent), sends one image over and
over, and prints p50/p95 latency, errors, the machine and the command. Every phase is
bounded by ``--budget-s``; whatever was not sent in time is reported as not sent.

    .venv/bin/python bench/bench_api.py [--sequential 200] [--concurrent 50] [--image FILE]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from common import REPO, command_line, machine_line, table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="checkpoint (default: weights/default.pth, else a random Lite0)")
    p.add_argument("--image", default=None, help="image to send (default: the first of data/test_images/real, else synthetic)")
    p.add_argument("--sequential", type=int, default=200)
    p.add_argument("--concurrent", type=int, default=50)
    p.add_argument("--budget-s", type=float, default=300.0, help="time limit of each phase")
    p.add_argument("--json", dest="json_out", default=None, help="also write the figures here")
    return p.parse_args(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_weights(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    shipped = REPO / "weights" / "default.pth"
    if shipped.exists():
        return shipped
    from core.checkpoint import save_checkpoint
    from core.model import build_model
    from core.preprocess import Preprocessing

    return save_checkpoint(tmp / "random_lite0.pth", build_model("efficientnet_lite0", pretrained=None).eval(),
                           Preprocessing(input_size=384), threshold_source="random weights (bench)")


def pick_image(arg: str | None) -> tuple[str, bytes]:
    if arg:
        return Path(arg).name, Path(arg).read_bytes()
    real = sorted((REPO / "data" / "test_images" / "real").glob("*.jpg"))
    if real:
        return real[0].name, real[0].read_bytes()
    from PIL import Image

    buf = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (600, 600, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return "synthetic_600.jpg", buf.getvalue()


def wait_ready(client: httpx.Client, server: subprocess.Popen, timeout_s: float = 180) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if server.poll() is not None:
            raise SystemExit(f"error: the API server exited with code {server.returncode} before it was ready")
        try:
            if client.get("/health").status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: the API was not ready within {timeout_s:.0f} s")


def one_request(client: httpx.Client, name: str, data: bytes) -> tuple[float, int | str]:
    start = time.perf_counter()
    try:
        status: int | str = client.post("/predict", files={"file": (name, data, "image/jpeg")}).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return time.perf_counter() - start, status


def summarise(phase: str, latencies: list[float], statuses: list, wall_s: float, asked: int) -> dict:
    ms = np.asarray(latencies) * 1000
    errors = [s for s in statuses if s != 200]
    out = {"phase": phase, "asked": asked, "sent": len(statuses), "errors": len(errors),
           "error_kinds": sorted({str(e) for e in errors}), "wall_s": round(wall_s, 2),
           "req_per_s": round(len(statuses) / wall_s, 2) if wall_s else None}
    if len(ms):
        out.update({"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
                    "mean_ms": round(float(ms.mean()), 1), "max_ms": round(float(ms.max()), 1)})
    return out


def run_sequential(client, name, data, n, budget_s) -> dict:
    latencies, statuses, start = [], [], time.perf_counter()
    for _ in range(n):
        if time.perf_counter() - start > budget_s:
            break
        latency, status = one_request(client, name, data)
        latencies.append(latency)
        statuses.append(status)
    return summarise("sequential", latencies, statuses, time.perf_counter() - start, n)


def run_concurrent(client, name, data, n, budget_s) -> dict:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(one_request, client, name, data) for _ in range(n)]
        results = [f.result(timeout=budget_s) for f in futures]
    return summarise("concurrent", [r[0] for r in results], [r[1] for r in results], time.perf_counter() - start, n)


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        weights = pick_weights(args.weights, Path(tmp))
        name, data = pick_image(args.image)
        port = free_port()
        env = {**os.environ, "WEIGHTS": str(weights), "API_MAX_BATCH_FILES": "8"}
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "core.api:app", "--host", "127.0.0.1",
                                   "--port", str(port), "--log-level", "warning"], cwd=REPO, env=env)
        timeout = httpx.Timeout(args.budget_s)
        limits = httpx.Limits(max_connections=args.concurrent, max_keepalive_connections=args.concurrent)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout, limits=limits) as client:
                ready_s = wait_ready(client, server)
                card = client.get("/model").json()
                one_request(client, name, data)  # warm-up, not counted
                phases = [run_sequential(client, name, data, args.sequential, args.budget_s),
                          run_concurrent(client, name, data, args.concurrent, args.budget_s)]
        finally:
            server.terminate()
            server.wait(30)
    report = {"command": command_line(), "machine": machine_line(card["device"]),
              "weights": f"{weights.name} ({card['backbone']}, {card['preprocessing']['input_size']} px, "
                         f"sha256 {card['weights_sha256'][:12]}) on {card['device']}",
              "image": f"{name} ({len(data) / 1024:.0f} KB)", "server_ready_s": round(ready_s, 1), "phases": phases}
    print(f"# REST API load check (POST /predict on 127.0.0.1)\n{report['machine']}\n{report['command']}\n"
          f"weights: {report['weights']}\nimage: {report['image']}; server ready after {report['server_ready_s']} s\n")
    cols = ["phase", "sent", "errors", "p50_ms", "p95_ms", "max_ms", "req_per_s", "wall_s"]
    print(table(["phase", "sent/asked", "errors", "p50 ms", "p95 ms", "max ms", "req/s", "wall s"],
                [[ph["phase"], f"{ph['sent']}/{ph['asked']}", ph["errors"]] + [ph.get(c) for c in cols[3:]] for ph in phases]))
    kinds = sorted({k for ph in phases for k in ph["error_kinds"]})
    if kinds:
        print(f"error kinds: {', '.join(kinds)}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(ph["errors"] or ph["sent"] < ph["asked"] for ph in phases) else 0


if __name__ == "__main__":
    raise SystemExit(main())
