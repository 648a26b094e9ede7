"""core.blend: synthetic part-swap fakes paste only inside the named parts' boxes, the
mask says where, and the randomness is torch's (so training stays reproducible)."""
import numpy as np
import pytest
import torch

from core.blend import paste_parts, synthetic_fake
from core.regions import REGION_NAMES, region_mask


def _faces(h=120, w=100):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_paste_touches_only_the_named_parts(seed):
    target, source = _faces()
    torch.manual_seed(seed)
    out, mask = paste_parts(target, source, ("nose", "mouth"))
    assert out.shape == target.shape and out.dtype == np.uint8 and mask.shape == target.shape[:2]
    assert 0.0 <= mask.min() and mask.max() == 1.0
    boxes = region_mask(("nose", "mouth"), *target.shape[:2])
    assert not mask[~boxes].any()  # nothing outside the parts' boxes
    assert np.array_equal(out[mask == 0], target[mask == 0])  # the rest of the face is untouched
    assert np.array_equal(out[mask == 1], source[mask == 1])  # fully pasted where the mask is 1
    assert mask[region_mask(("left eye",), *target.shape[:2]) & ~boxes].sum() == 0


def test_paste_refuses_images_of_different_sizes():
    target, _ = _faces()
    with pytest.raises(ValueError, match="differ in size"):
        paste_parts(target, target[:50], ("nose",))


def test_synthetic_fake_is_reproducible_and_marks_what_changed():
    target, donor = _faces()
    torch.manual_seed(3)
    a = [synthetic_fake(target, donor if i % 2 else None) for i in range(8)]
    torch.manual_seed(3)
    b = [synthetic_fake(target, donor if i % 2 else None) for i in range(8)]
    for (img_a, m_a), (img_b, m_b) in zip(a, b):
        assert np.array_equal(img_a, img_b) and np.array_equal(m_a, m_b)
        assert (m_a > 0).any() and not m_a[~region_mask(REGION_NAMES, *target.shape[:2])].any()
        changed = (img_a != target).any(axis=2)
        assert changed.any() and not changed[m_a == 0].any()


def test_dataset_turns_real_faces_into_labelled_fakes_with_their_mask():
    from torchvision.transforms import v2

    from core.train_data import DecodedImages as _Decoded

    target, donor = _faces(100, 100)
    arrays, labels = np.stack([target, donor]), np.array([1, 1])
    to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    plain = _Decoded(arrays, labels, to_tensor)
    assert plain[0][1].item() == 1.0  # off by default: a real face stays real
    always = _Decoded(arrays, labels, to_tensor, [(), ()], np.array([True, True]), v2.Identity(), synthetic=1.0)
    torch.manual_seed(0)
    for _ in range(6):
        image, label, mask, known = always[0]
        assert label.item() == 0.0 and bool(known)
        changed = (image.mul(255).round().byte().permute(1, 2, 0).numpy() != target).any(axis=2)
        assert mask[0].sum() > 0 and changed[mask[0].numpy() > 0.5].mean() > 0.5


def test_preview_tool_writes_a_contact_sheet_and_refuses_a_set_without_reals(tmp_path):
    import importlib.util

    from PIL import Image

    from tests.conftest import REPO, make_test_set

    spec = importlib.util.spec_from_file_location("preview_synthetic", REPO / "tools" / "preview_synthetic.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    data = make_test_set(tmp_path / "s", n_real=3, n_fake=1, size=40)
    assert tool.main(["--data", str(data), "--out", str(tmp_path / "sheet.png"), "--size", "32"]) == 0
    assert Image.open(tmp_path / "sheet.png").size == (3 * 32, 3 * 32)
    lonely = make_test_set(tmp_path / "t", n_real=1, n_fake=2, size=40)
    assert tool.main(["--data", str(lonely), "--out", str(tmp_path / "x.png")]) == 2
