"""``python -m core train``: the command line of ``core.train`` (its options and their checks).

The defaults are the report's recipe on an EfficientNet-Lite0 backbone
(``core.model_card.TRAIN_DEFAULTS`` mirrors them, and a test keeps the two equal; ImageNet
ResNet50 weights cannot be had offline); every option beyond the report is off by default.
"""
from __future__ import annotations

import argparse

from .cli_types import DefaultsHelp, bounded, device_name, finite_number, image_size, non_negative_float, non_negative_int, open_fraction, positive_int, probability
from .train_data import AUGMENTATIONS, BLUR_SIGMA, DOWNSCALE, JPEG_QUALITY


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a detector with the report's recipe (on EfficientNet-Lite0 unless "
                       "--backbone resnet50, the report's model)", formatter_class=DefaultsHelp)
    p.add_argument("--data", required=True, help="folder with real/ and fake/, or with train/ and val/ from `split`")
    p.add_argument("--out", required=True, help="checkpoint to write (a model card .md/.json goes beside it)")
    p.add_argument("--backbone", default="efficientnet_lite0", choices=["efficientnet_lite0", "efficientnet_lite2", "resnet50"],
                   help="resnet50 is the report's model (needs local ImageNet weights or --pretrained none)")
    p.add_argument("--pretrained", default="auto", help="auto (ImageNet weights found locally) | none | PATH")
    p.add_argument("--epochs", type=positive_int, default=20, help="epochs at most (early stopping may end sooner)")
    p.add_argument("--batch-size", type=_batch_size, default=24, help="images per step (at least 2)")
    p.add_argument("--lr", type=non_negative_float, default=2e-4, help="AdamW learning rate (cosine schedule)")
    p.add_argument("--weight-decay", type=non_negative_float, default=1e-5, help="AdamW weight decay")
    p.add_argument("--image-size", type=image_size, default=224,
                   help="input size in px (RandomResizedCrop from a resize to size x 256/224)")
    p.add_argument("--val-fraction", type=open_fraction, default=0.1,
                   help="stratified validation share (ignored for a folder with train/ and val/)")
    p.add_argument("--seed", type=int, default=0, help="split, sampling and augmentation seed")
    p.add_argument("--device", type=device_name, default="auto", help="auto | cpu | cuda")
    p.add_argument("--resume", action="store_true", help="continue from FILE.last.pt")
    p.add_argument("--force", action="store_true", help="replace a checkpoint already at --out (and its card)")
    p.add_argument("--stop-after", type=positive_int, default=None, metavar="N",
                   help="stop after N epochs in this invocation (time-boxed sessions); continue later with --resume")
    p.add_argument("--freeze", choices=["none", "partial", "backbone"], default="none",
                   help="none: fine-tune everything; partial: freeze the first half of the backbone; backbone: train the head only")
    p.add_argument("--no-attention", action="store_true", help="drop the spatial-attention block (ablation)")
    p.add_argument("--augment", choices=list(AUGMENTATIONS), default="report", help="augmentation strength")
    p.add_argument("--loss", choices=["focal", "bce"], default="focal", help="the report's focal loss, or plain BCE")
    p.add_argument("--focal-alpha", type=probability, default=0.25, help="focal loss alpha, in [0, 1]")
    p.add_argument("--focal-gamma", type=non_negative_float, default=2.0, help="focal loss gamma (0: weighted BCE)")
    p.add_argument("--schedule", choices=["cosine", "none"], default="cosine", help="learning-rate schedule")
    p.add_argument("--patience", type=positive_int, default=6, help="stop after this many epochs without a better validation ROC-AUC")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto", help="auto: bfloat16 on CUDA, float32 on CPU")
    p.add_argument("--workers", type=non_negative_int, default=None,
                   help="data-loading processes (default: one per CPU thread, at most 8)")
    p.add_argument("--tta", action="store_true", help="also report validation with horizontal-flip test-time augmentation")
    p.add_argument("--half", action="store_true", help="store the checkpoint in float16 (half the size)")
    p.add_argument("--note", default="", help="free text recorded in the model card (e.g. the ablation row)")
    p.add_argument("--region-loss", type=non_negative_float, default=0.0, metavar="W",
                   help="weight of the auxiliary loss that points the backbone at the replaced parts named in "
                        "CIPLab fake file names (0: off, the report's recipe)")
    p.add_argument("--init", default=None, metavar="FILE",
                   help="start from this checkpoint's weights (same backbone and attention setting)")
    p.add_argument("--synthetic-fakes", type=_share_below_half, default=0.0, metavar="Q",
                   help="turn this share of real-face draws into synthetic part-swap fakes (core.blend); the sampler "
                        "keeps real and fake labels 50/50, so Q=1/3 gives 1/2 real, 1/4 synthetic, 1/4 data-set fakes "
                        "(0: off, the report's recipe; below 0.5)")
    p.add_argument("--jpeg-augment", type=probability, default=0.0, metavar="P",
                   help="re-encode this share of training images as JPEG at a random quality in "
                        f"{JPEG_QUALITY[0]}-{JPEG_QUALITY[1]} (0: off, the report's recipe), so that no class is "
                        "recognised by its compression (CIPLab's reals are all quality 95, a quarter of its fakes are not)")
    p.add_argument("--degrade-augment", type=probability, default=0.0, metavar="P",
                   help=f"blur (sigma {BLUR_SIGMA[0]}-{BLUR_SIGMA[1]}) or downscale and rescale (x{DOWNSCALE[0]}-{DOWNSCALE[1]}) "
                        "this share of training images, one of the two at random (0: off, the report's recipe), so that "
                        "a fake does not pass as real once its fine detail is gone")
    p.add_argument("--ema", type=_ema_decay, default=0.0, metavar="DECAY",
                   help="keep an exponential moving average of the weights (decay per step, e.g. 0.995) and "
                        "validate and ship the average instead of the last step's weights (0: off, the report's recipe)")
    p.set_defaults(func=_run)


# argparse types of three options with bounds of their own.
_batch_size = bounded(positive_int, lambda n: n >= 2, "must be at least 2 (BatchNorm needs two images per step to train)",
                      "``--batch-size``: BatchNorm in the head cannot train on one image per step.")
_share_below_half = bounded(finite_number, lambda q: 0.0 <= q < 0.5,
                            "must be at least 0 and below 0.5 (at 0.5 no data-set fake is drawn)",
                            "``--synthetic-fakes``: at 0.5 every fake would be synthetic.")
_ema_decay = bounded(finite_number, lambda q: 0.0 <= q < 1.0, "must be 0 (off) or a decay below 1 (e.g. 0.995)",
                     "``--ema``: 0 (off) or a decay in (0, 1).")


def _run(args: argparse.Namespace) -> int:
    from .train import run_train  # torch and the training stack load only when a run starts

    return run_train(args)
