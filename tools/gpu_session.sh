#!/usr/bin/env bash
# One GPU training session on a lent device machine (see weights/selection_log.md).
# The labelled images arrive in parts (PARTS: folders holding real/ and fake/, plus the
# ImageNet Lite0 weights and the efficientnet-lite-pytorch wheel in one of them, and
# val.json, the validation file list of data/ciplab_split). This script rebuilds that exact
# split as symlinks, then runs tools/gpu_ablation.py with GRID within BUDGET seconds.
#   bash tools/gpu_session.sh GRID BUDGET OUT PART...
#
# Getting the 182 MB of images there (a call carries at most 64 MiB with the tree, 15 min of
# device time a session), as done in session 6:
# - pack images + weights + wheel into three ~63.7 MB git-ignored folders (.gpu2/a, b, c);
# - move the two tracked checkpoints out of the tree that travels (a throwaway branch that
#   deletes weights/*.pth; `git checkout main` brings them back afterwards);
# - one call per part, each copying its part to /tmp/parts at once: a carried folder is gone
#   from the repo copy at the next call, /tmp stays while the machine is warm (30 s idle);
# - the last call carries the last part and runs this script on /tmp/parts/a /tmp/parts/b .gpu2/c.
set -euo pipefail
grid=$1 budget=$2 out=$3; shift 3
export PYTHONUNBUFFERED=1
find_one() { find "${@:2}" -maxdepth 1 -name "$1" | head -1; }
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$(find_one 'efficientnet_lite_pytorch*.whl' "$@")"
export PYTHONPATH=/tmp/site
python3 - "$@" <<'PY'
import json, sys
from pathlib import Path
parts = [Path(p).resolve() for p in sys.argv[1:]]
val = set(json.loads(next(p / "val.json" for p in parts if (p / "val.json").exists()).read_text()))
n = {"train": 0, "val": 0}
for part in parts:
    for f in part.glob("*/*.jpg"):
        rel = f"{f.parent.name}/{f.name}"
        split = "val" if rel in val else "train"
        for root in (Path("/tmp/all"), Path("/tmp/split") / split):
            (root / f.parent.name).mkdir(parents=True, exist_ok=True)
            (root / rel).symlink_to(f)
        n[split] += 1
assert n["val"] == len(val), (n, len(val))
print("split rebuilt:", n, flush=True)
PY
weights=$(find_one lite0_imagenet_fp16.pth "$@")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 tools/gpu_ablation.py --data /tmp/split --runs /tmp/runs --out "$out" --budget-s "$budget" --keep 5 \
  --workers 15 --grid "$grid" -- --pretrained "$weights"
