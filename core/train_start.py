"""The model a ``train`` run starts from: ``--pretrained`` backbone weights (a missing, damaged or
wrong file said in the option's words) and ``--init``'s trained weights, whose parent the card records."""
from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_detector, read_checkpoint
from .identity import PretrainedWeightsUnavailable
from .model import build_model
from .train_card import init_lineage


def pretrained_model(args: argparse.Namespace):
    """``build_model`` with ``--pretrained``'s backbone weights; a file that is missing, or that
    is a detector checkpoint (trained weights: --init), is said in the option's words."""
    pretrained = None if args.pretrained == "none" else args.pretrained
    given = pretrained not in (None, "auto")
    if given and not Path(pretrained).is_file():
        raise PretrainedWeightsUnavailable(f"--pretrained {pretrained}: no such file (give a file of ImageNet "
                                           f"{args.backbone} weights, auto for those found on this machine, or none)")
    try:
        return build_model(args.backbone, pretrained=pretrained, attention=not args.no_attention)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:  # torch.load (a damaged or empty file) or
        if not given or isinstance(exc, PretrainedWeightsUnavailable):  # load_state_dict (keys that do not fit)
            raise
        fits_not = isinstance(exc, RuntimeError) and "state_dict" in str(exc)
        if not fits_not:
            try:  # a failure that is not the file's (torch.load reads it): raise it as it is
                torch.load(pretrained, map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001 - the file's own failure, said below in read_checkpoint's words
                pass
            else:
                raise
        try:
            read_checkpoint(pretrained)
        except CheckpointError as unread:
            if not fits_not:  # torch.load failed: read_checkpoint's first words say how (empty, cut short, not torch.save)
                first = re.split(r"(?<=[.?]) ", str(unread))[0].rstrip(".")
                raise CheckpointError(f"--pretrained {first}{'' if first.endswith('?') else '.'} Give a torch.save file of "
                                      f"ImageNet {args.backbone} weights, auto for those found on this machine, or none.") from None
            raise CheckpointError(f"--pretrained {pretrained}: not ImageNet {args.backbone} weights "
                                  f"({' '.join(str(exc).split())[:200]}...)") from None
        if not fits_not:
            raise
        raise CheckpointError(f"--pretrained {pretrained} is a trained detector checkpoint (backbone, attention and "
                              f"head), not ImageNet backbone weights: start from it with --init {pretrained}") from None


def start_model(args: argparse.Namespace):
    """(model, lineage): the model to train, from ``--init``'s weights when given (then
    lineage records the parent), else from ``--pretrained``."""
    model = pretrained_model(args)
    if not args.init:
        return model, None
    parent = load_detector(args.init, "cpu")
    start = parent.model
    if hasattr(start, "members"):
        raise CheckpointError(
            f"--init {args.init} is an ensemble ({start.backbone}); training starts from one model: "
            "pass one of its member checkpoints (listed in its model card)"
        )
    if (start.backbone, start.use_attention) != (args.backbone, not args.no_attention):
        raise CheckpointError(
            f"--init {args.init} is a {start.backbone} with attention {start.use_attention}; this run trains a "
            f"{args.backbone} with attention {not args.no_attention}: pass the same --backbone / --no-attention"
        )
    model.load_state_dict(start.state_dict())
    return model, init_lineage(parent)
