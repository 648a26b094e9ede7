"""Time of one /predict/batch of pictures that are tiny on the wire and large to decode (not a test).

Sends 32 lossless WebPs of 7070 x 7070 px (50 MP each, just under the per-image limit; about
2 KB each) in one batch to the app (FastAPI's TestClient, the shipped weights on the CPU), once
with no pixel budget to speak of and once with the default API_MAX_BATCH_MEGAPIXELS, and prints
the wall time and how many were scored: the time one request can hold the model from others.

    .venv/bin/python bench/bench_api_pixel_budget.py [--files 32] [--repeats 1]
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

from fastapi.testclient import TestClient
from PIL import Image

from common import REPO, command_line, machine_line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()

    from core.api import create_app
    from core.api_schemas import ApiConfig

    buf = io.BytesIO()
    Image.new("RGB", (7070, 7070), (120, 90, 80)).save(buf, "WEBP", lossless=True)
    data = buf.getvalue()
    print(command_line())
    print(machine_line())
    print(f"{args.files} lossless WebPs of 7070 x 7070 px, {len(data):,} bytes each")
    default = ApiConfig(weights=REPO / "weights" / "default.pth").max_batch_megapixels
    for budget in (1e9, default):
        app = create_app(ApiConfig(weights=REPO / "weights" / "default.pth", device="cpu",
                                   max_batch_megapixels=budget), background_load=False)
        times = []
        with TestClient(app) as client:
            for _ in range(args.repeats):
                start = time.perf_counter()
                r = client.post("/predict/batch", files=[("files", (f"{i}.webp", data)) for i in range(args.files)])
                times.append(time.perf_counter() - start)
        body = r.json()
        print(f"budget {budget:g} MP: median {statistics.median(times):.1f} s over {args.repeats}, "
              f"{body['n_ok']} scored, {body['n_failed']} refused")


if __name__ == "__main__":
    main()
