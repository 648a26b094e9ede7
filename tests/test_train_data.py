"""core/train_data.py: part masks, the decoded training set, degradation, draw weights, splits."""
import argparse

import numpy as np
import pytest
import torch

from .conftest import make_test_set


def test_part_masks_from_ciplab_names():
    from core.train_data import part_masks

    parts, known = part_masks(["real/a.jpg", "fake/mid_3_1001.jpg", "fake/swap_7.jpg"], np.array([1, 0, 0]))
    assert parts == [(), ("left eye", "mouth"), ()]
    assert known.tolist() == [True, True, False]


def test_mask_is_cropped_and_flipped_with_the_image():
    from torchvision.transforms import v2

    from core.regions import region_mask
    from core.train_data import DecodedImages

    array = np.zeros((100, 100, 3), dtype=np.uint8)
    array[region_mask(("left eye",), 100, 100)] = 255  # the pasted part is what is white
    geometric = v2.Compose([v2.RandomResizedCrop(64, scale=(0.5, 1.0)), v2.RandomHorizontalFlip(p=1.0)])
    ds = DecodedImages(array[None], np.array([0]), v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]),
                  [("left eye",)], np.array([True]), geometric)
    torch.manual_seed(0)
    for _ in range(5):
        image, label, mask, known = ds[0]
        assert mask.shape == (1, 64, 64) and bool(known) and label.item() == 0.0
        white = image[0] > 0.5
        agree = (white == (mask[0] > 0.5)).float().mean()
        assert agree > 0.97, agree  # same crop, same flip (edges differ by interpolation only)
        assert mask[0, :, 32:].sum() > mask[0, :, :32].sum()  # flipped: the left eye is now on the right


def test_downscale_loses_detail_and_keeps_the_size():
    from PIL import Image

    from core.train_data import Downscale

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8))
    torch.manual_seed(0)
    out = Downscale((0.25, 0.25))(image)
    assert out.size == image.size
    # a quarter-size copy cannot hold pixel noise: the rescaled image is far smoother
    diff = lambda a: np.abs(np.diff(np.asarray(a, dtype=float), axis=1)).mean()  # noqa: E731
    assert diff(out) < 0.3 * diff(image)


@pytest.mark.parametrize("q", [0.0, 1 / 3])
def test_draw_weights_keep_labels_balanced_with_synthetic_fakes(q):
    from core.train_data import class_balanced_weights

    labels = np.array([1] * 30 + [0] * 10)  # 3:1 real
    w = class_balanced_weights(labels, q).numpy()
    real, fake = w[labels == 1].sum(), w[labels == 0].sum()
    # a share q of real draws turn into synthetic fakes: fake labels = data-set fakes + q * reals = half of all draws
    assert np.isclose((fake + q * real) / (real + fake), 0.5)
    assert np.allclose(w[labels == 1], w[labels == 1][0])  # within a class, uniform


def test_split_frames_uses_existing_split_folders_or_splits_stratified(tmp_path):
    from core.train_data import split_frames

    flat = make_test_set(tmp_path / "flat", n_real=10, n_fake=10)
    train, val, how = split_frames(flat, 0.2, 0)
    assert len(train) == 16 and sorted(val["label"].tolist()) == [0, 0, 1, 1] and "stratified" in how
    assert not set(train["path"]) & set(val["path"])
    split = tmp_path / "split"
    make_test_set(split / "train", n_real=3, n_fake=2)
    make_test_set(split / "val", n_real=2, n_fake=2)
    train, val, how = split_frames(split, 0.2, 0)
    assert (len(train), len(val)) == (5, 4) and "existing split folders" in how


def test_colour_transform_adds_the_asked_degradations():
    from core.preprocess import Preprocessing
    from core.train_data import colour_transform

    args = argparse.Namespace(augment="report", jpeg_augment=0.0, degrade_augment=0.0)
    plain = colour_transform(args, Preprocessing(input_size=32))
    both = colour_transform(argparse.Namespace(augment="none", jpeg_augment=0.5, degrade_augment=0.3), Preprocessing(input_size=32))
    names = lambda c: [type(t).__name__ for t in c.transforms]  # noqa: E731
    assert names(plain) == ["ColorJitter", "ToTensor", "Normalize"]
    assert names(both) == ["RandomApply", "RandomApply", "ToTensor", "Normalize"]  # degrade, then JPEG; no jitter


def test_val_copies_of_train_counts_byte_identical_files(tmp_path):
    import shutil

    from core.data import scan_test_set
    from core.train_data import val_copies_of_train

    make_test_set(tmp_path / "train", n_real=3, n_fake=3, size=16, seed=0)
    make_test_set(tmp_path / "val", n_real=2, n_fake=2, size=16, seed=1)
    frames = lambda: (scan_test_set(tmp_path / s).images for s in ("train", "val"))  # noqa: E731
    assert val_copies_of_train(*frames()) == 0
    shutil.copy(tmp_path / "train" / "real" / "real_00000.jpg", tmp_path / "val" / "real" / "copy.jpg")
    shutil.copy(tmp_path / "train" / "real" / "real_00001.jpg", tmp_path / "val" / "fake" / "copy.jpg")
    assert val_copies_of_train(*frames()) == 2
