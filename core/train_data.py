"""Training data for ``python -m core train``: decoding once, augmentation, masks, splits.

Every training image is decoded once and squashed to the report's pre-crop size, then
augmented per draw from memory (``DecodedImages``); the validation images are decoded at
the input size. With ``--region-loss`` an item also carries its replaced-part mask,
cropped and flipped with the image; with ``--synthetic-fakes`` a real face may become a
part-swap fake (``core.blend``) on the fly.
"""
from __future__ import annotations

import argparse
import math
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler
from torchvision import transforms, tv_tensors
from torchvision.transforms import v2

from . import provenance
from .blend import synthetic_fake
from .data import DatasetError, scan_test_set
from .preprocess import ImageError, Preprocessing, open_image
from .regions import region_mask, replaced_regions
from .split import stratified_split

JPEG_QUALITY = (60, 95)  # --jpeg-augment's range (torchvision.transforms.v2.JPEG draws uniformly)
BLUR_SIGMA = (0.5, 2.0)  # --degrade-augment: Gaussian blur sigma (pixels of the crop), drawn uniformly
DOWNSCALE = (0.25, 0.75)  # --degrade-augment: downscale factor before scaling back, drawn uniformly
AUGMENTATIONS = {
    # name: (RandomResizedCrop scale, ColorJitter args)
    "report": ((0.8, 1.0), (0.2, 0.2, 0.1, 0.1)),
    "light": ((0.9, 1.0), (0.1, 0.1, 0.05, 0.02)),
    "strong": ((0.5, 1.0), (0.3, 0.3, 0.2, 0.1)),
    "none": ((1.0, 1.0), None),
}


class Downscale:
    """Resize a PIL image down by a factor drawn from ``factors`` (torch's RNG, so runs repeat)
    and back up: the detail a low-resolution copy of the image has lost."""

    def __init__(self, factors: tuple[float, float]):
        self.factors = factors

    def __call__(self, image):
        lo, hi = self.factors
        f = lo + (hi - lo) * float(torch.rand(()))
        w, h = image.size
        small = image.resize((max(1, round(w * f)), max(1, round(h * f))), Image.BILINEAR, reducing_gap=None)
        return small.resize((w, h), Image.BILINEAR)

    def __repr__(self):
        return f"Downscale(factors={self.factors})"



def part_masks(paths: list[str], labels: np.ndarray) -> tuple[list, np.ndarray]:
    """For each image: the replaced parts (an empty tuple for a real face, the parts named
    in a CIPLab fake's file name) and whether they are known at all."""
    parts = [() if label == 1 else replaced_regions(path) for path, label in zip(paths, labels)]
    return [p or () for p in parts], np.array([p is not None for p in parts])


class DecodedImages(Dataset):
    """Images decoded once and squashed to a fixed size (the deterministic first step of
    both transforms), then augmented per item. Equivalent to decoding every epoch.
    With ``parts`` each item also carries its replaced-part mask, cropped and flipped
    with the image (``geometric``) before ``transform`` (colour, tensor, normalise).
    With ``synthetic`` > 0 a real face is turned, with that probability, into a synthetic
    part-swap fake (``core.blend``): label fake, mask where it was pasted."""

    def __init__(self, arrays: np.ndarray, labels: np.ndarray, transform, parts=None, known=None, geometric=None,
                 synthetic: float = 0.0):
        self.arrays, self.labels, self.transform = arrays, labels, transform
        self.parts, self.known, self.geometric = parts, known, geometric
        self.synthetic, self.real_rows = synthetic, np.flatnonzero(np.asarray(labels) == 1)

    def __len__(self):
        return len(self.labels)

    def _maybe_synthetic(self, i):
        """(array, label, pasted mask or None) of item ``i``."""
        array, label = self.arrays[i], int(self.labels[i])
        if not (self.synthetic and label == 1 and float(torch.rand(())) < self.synthetic):
            return array, label, None
        donor = None  # half part swaps from another real face, half self-blends
        if float(torch.rand(())) < 0.5:
            donor = self.arrays[self.real_rows[int(torch.randint(0, len(self.real_rows), ()))]]
        composite, soft = synthetic_fake(array, donor)
        return composite, 0, soft >= 0.5

    def __getitem__(self, key):
        """Item ``key``; a key ``(i, seed)`` (``SeededDraws``) draws item ``i``'s randomness
        from ``seed`` alone, leaving the process's random state as it was."""
        if not isinstance(key, tuple):
            return self._item(key)
        i, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._item(i)

    def _item(self, i):
        array, label, pasted = self._maybe_synthetic(i)
        image, y = Image.fromarray(array), torch.tensor([float(label)])
        if self.parts is None:
            return self.transform(image), y
        if pasted is None:
            pasted, known = region_mask(self.parts[i], *array.shape[:2]), bool(self.known[i])
        else:
            known = True
        mask = tv_tensors.Mask(torch.from_numpy(pasted.astype(np.uint8))[None])
        image, mask = self.geometric(image, mask)
        return self.transform(image), y, mask.float(), torch.tensor(known)


def _decode(path: str, size: int) -> np.ndarray | str:
    """One image squashed to (size, size, 3) uint8, or why it cannot be read."""
    try:
        image, _ = open_image(path)
    except ImageError as exc:
        return str(exc)
    # PIL bilinear, exactly what transforms.Resize((size, size)) does to a PIL image
    return np.asarray(image.resize((size, size), resample=Image.BILINEAR))


def _decode_many(paths, size: int, workers: int) -> list[np.ndarray | str]:
    """``_decode`` of every path, on ``workers`` threads, in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: _decode(p, size), paths))


def decode_all(paths: list[str], size: int, workers: int) -> np.ndarray:
    """Every image decoded once and squashed to (size, size): (N, size, size, 3) uint8,
    on ``workers`` threads. Raises ``DatasetError`` naming the first unreadable file."""
    out = _decode_many(paths, size, workers)
    bad = next((r for r in out if isinstance(r, str)), None)
    if bad:
        raise DatasetError(bad)
    return np.stack(out)


def decode_frame(frame: pd.DataFrame, size: int, workers: int) -> tuple[pd.DataFrame, np.ndarray, list[tuple[str, str]]]:
    """``decode_all`` for a (path, relpath, label) frame that leaves unreadable files out
    instead of stopping: (the rows kept, their arrays, (relpath, reason) of each left out).
    Training keeps the arrays in memory and augments from them."""
    out = _decode_many(frame["path"], size, workers)
    ok = np.array([not isinstance(r, str) for r in out], dtype=bool)
    skipped = [(rel, r.split(": ", 1)[-1]) for rel, r in zip(frame["relpath"], out) if isinstance(r, str)]
    arrays = np.stack([r for r in out if not isinstance(r, str)]) if ok.any() else np.zeros((0, size, size, 3), np.uint8)
    return frame[ok], arrays, skipped


def split_frames(data: str | Path, val_fraction: float, seed: int) -> tuple:
    """(train, val, how): a folder's ``train/`` and ``val/`` when it has both, else a stratified split of it."""
    root = Path(data)
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = scan_test_set(root / "train", require_both=True).images, scan_test_set(root / "val", require_both=True).images
        how = f"existing split folders {root / 'train'} and {root / 'val'}"
    else:
        images = scan_test_set(root, require_both=True, prefer="train").images
        train, val = stratified_split(images, val_fraction, seed)
        how = f"stratified split of {root}, val_fraction {val_fraction}, seed {seed}"
    return train, val, how




def val_copies_of_train(train: pd.DataFrame, val: pd.DataFrame) -> int:
    """How many validation files (``path`` column) are byte for byte a training file, by
    content digest (``core.provenance``): a split made by hand, or a set holding one picture
    twice, validates on images the model trained on, and its validation overstates. Only files
    of a size found on both sides are read (``size_bytes``, as the scan lists it): the card's
    ``provenance.record`` reads every file later, and this check should not read them all first."""
    both = set(train["size_bytes"]) & set(val["size_bytes"])
    seen = {d for d in provenance.digests(train.loc[train["size_bytes"].isin(both), "path"]) if d}
    return sum(d in seen for d in provenance.digests(val.loc[val["size_bytes"].isin(both), "path"]) if d)


def pre_crop_size(image_size: int) -> int:
    """The side images are squashed to before RandomResizedCrop: the report's 256 for 224."""
    return round(image_size * 256 / 224)


def colour_transform(args: argparse.Namespace, pre: Preprocessing) -> transforms.Compose:
    """Per-draw photometric steps after the geometric crop: degradation, JPEG re-encoding,
    colour jitter, then tensor and normalisation."""
    _, jitter = AUGMENTATIONS[args.augment]
    colour = ([transforms.ColorJitter(*jitter)] if jitter else []) + [transforms.ToTensor(), transforms.Normalize(pre.mean, pre.std)]
    if args.jpeg_augment > 0:  # on the cropped image, before colour: both the region-loss and the plain path get it
        colour.insert(0, v2.RandomApply([v2.JPEG(JPEG_QUALITY)], p=args.jpeg_augment))
    if args.degrade_augment > 0:  # before the JPEG re-encoding: a degraded copy is then saved again, as in the wild
        blur = v2.GaussianBlur(kernel_size=2 * math.ceil(3 * BLUR_SIGMA[1]) + 1, sigma=BLUR_SIGMA)
        colour.insert(0, v2.RandomApply([v2.RandomChoice([blur, Downscale(DOWNSCALE)])], p=args.degrade_augment))
    return transforms.Compose(colour)


def train_dataset(args: argparse.Namespace, frame, arrays: np.ndarray, pre: Preprocessing) -> tuple[DecodedImages, str | None]:
    """The augmented training set of ``frame`` (path, label) and, with ``--region-loss``, a
    line saying for how many fakes the replaced parts are known."""
    labels = frame["label"].to_numpy()  # arrays: decode_frame(frame, pre_crop_size(args.image_size), ...)
    scale, _ = AUGMENTATIONS[args.augment]
    colour = colour_transform(args, pre)
    if args.region_loss <= 0:
        geometric = [transforms.RandomResizedCrop(args.image_size, scale=scale), transforms.RandomHorizontalFlip()]
        return DecodedImages(arrays, labels, transforms.Compose(geometric + list(colour.transforms)), synthetic=args.synthetic_fakes), None
    parts, known = part_masks(frame["path"].tolist(), labels)
    geometric = v2.Compose([v2.RandomResizedCrop(args.image_size, scale=scale), v2.RandomHorizontalFlip()])
    n_fake = int((labels == 0).sum())
    note = (f"region loss {args.region_loss}: replaced parts known for {int(known.sum()) - (len(known) - n_fake)} of {n_fake} "
            "train fakes (from their file names)")
    return DecodedImages(arrays, labels, colour, parts, known, geometric, synthetic=args.synthetic_fakes), note


def val_dataset(frame, arrays: np.ndarray, pre: Preprocessing) -> DecodedImages:
    """The validation set of ``frame``: squashed to the input size, normalised, no augmentation."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(pre.mean, pre.std)])
    return DecodedImages(arrays, frame["label"].to_numpy(), tf)  # arrays: decode_frame(frame, pre.input_size, ...)


def seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def class_balanced_weights(labels: np.ndarray, synthetic_fakes: float) -> torch.Tensor:
    """Per-image draw weights that keep real and fake labels 50/50: a share q of real draws
    becomes synthetic fakes, so reals weigh 1 and data-set fakes 1 - 2q per class (with
    q = 0 this is the report's class-balanced sampler)."""
    class_weight = {0: (1.0 - 2 * synthetic_fakes) / max(1, (labels == 0).sum()), 1: 1.0 / max(1, (labels == 1).sum())}
    return torch.tensor([class_weight[c] for c in labels], dtype=torch.double)


def augmentation_seed(seed: int, epoch: int, draw: int) -> int:
    """The seed of one draw's augmentation: from the run's seed, the epoch and the draw's place
    in the epoch, so the images a run sees do not depend on which data-loading process
    (``--workers``) made them, nor on how many there are."""
    return int(np.random.SeedSequence([seed % 2**64, epoch, draw]).generate_state(1, np.uint64)[0])


class SeededDraws(Sampler):
    """The class-balanced draws of one epoch (``WeightedRandomSampler`` seeded from
    ``seed + epoch``), each as ``(index, augmentation_seed)`` for ``DecodedImages``."""

    def __init__(self, weights: torch.Tensor, seed: int, epoch: int):
        self.weights, self.seed, self.epoch = weights, seed, epoch

    def __len__(self):
        return len(self.weights)

    def __iter__(self):
        draws = WeightedRandomSampler(self.weights, num_samples=len(self.weights), replacement=True,
                                      generator=torch.Generator().manual_seed(self.seed + self.epoch))
        for place, i in enumerate(draws):
            yield i, augmentation_seed(self.seed, self.epoch, place)


def epoch_loader(args: argparse.Namespace, train_ds, sample_weights, workers: int, device, epoch: int) -> DataLoader:
    """The class-balanced loader of one epoch, seeded from ``seed + epoch`` (and each draw's
    augmentation from its place in the epoch) so a resumed run repeats it, whatever ``workers``."""
    n = len(sample_weights)
    sampler = SeededDraws(sample_weights, args.seed, epoch)
    return DataLoader(train_ds, batch_size=args.batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=device.type == "cuda", drop_last=n > args.batch_size,
                      worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(args.seed + epoch),
                      persistent_workers=False)
