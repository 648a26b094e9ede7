"""Memory of one /predict/batch of pictures that are small on the wire and large once decoded (not a test).

Starts ``uvicorn core.api:app`` on a free 127.0.0.1 port with a random-weight Lite0 (the
model's size does not matter here, only how many decoded pictures the server holds), sends
``--files`` 1-bit PNGs of 7000 x 7000 px (49 MP each, under the 50 MP limit; about 14 KB each
on the wire) in one batch, and prints the server's peak resident memory (VmHWM from
``/proc``, Linux only) before and after, the time and the machine.

    .venv/bin/python bench/bench_api_pixels.py [--files 32]
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from bench_api import free_port, wait_ready
from common import REPO, command_line, machine_line


def peak_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024
    raise SystemExit("error: no VmHWM in /proc (this benchmark needs Linux)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=32, help="pictures in the batch (API_MAX_BATCH_FILES is set to match)")
    args = p.parse_args(argv)
    buf = io.BytesIO()
    Image.new("1", (7000, 7000), 1).save(buf, "PNG", optimize=True)
    data = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        from core.checkpoint import save_checkpoint
        from core.model import build_model
        from core.preprocess import Preprocessing

        weights = save_checkpoint(Path(tmp) / "random_lite0.pth", build_model("efficientnet_lite0", pretrained=None).eval(),
                                  Preprocessing(input_size=224), threshold_source="random weights (bench)")
        port = free_port()
        env = {**os.environ, "WEIGHTS": str(weights), "API_MAX_BATCH_FILES": str(args.files), "DEEPFAKE_CACHE_DIR": tmp}
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "core.api:app", "--host", "127.0.0.1", "--port", str(port),
                                   "--log-level", "warning"], cwd=REPO, env=env)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
                wait_ready(client, server)
                before = peak_mb(server.pid)
                start = time.perf_counter()
                r = client.post("/predict/batch", files=[("files", (f"{i}.png", data)) for i in range(args.files)])
                took = time.perf_counter() - start
                after = peak_mb(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    print(machine_line())
    print(command_line())
    print(f"{args.files} PNGs of 7000x7000 px, {len(data) * args.files / 1e6:.1f} MB on the wire: status {r.status_code}, "
          f"{r.json().get('n_ok')} scored in {took:.1f} s; server peak RSS {before} MB before, {after} MB after "
          f"(+{after - before} MB)")


if __name__ == "__main__":
    main()
