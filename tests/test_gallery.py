"""core.gallery: which images the error gallery shows, in which order, and their thumbnails."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import gallery
from core.metrics import ThresholdSweep


def frame(scores, labels, groups=None):
    n = len(scores)
    return pd.DataFrame({
        "path": [f"/x/{i}.jpg" for i in range(n)],
        "relpath": [f"{'real' if l else 'fake'}/{i}.jpg" for i, l in enumerate(labels)],
        "label": labels,
        "group": groups or [""] * n,
        "p_real": scores,
    })


def test_errors_are_exactly_the_misclassified_images_fakes_first_most_wrong_first():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.uniform(0, 1, 200)
    f = frame(scores, labels)
    t = 0.37
    rows = gallery.select_errors(f, t)
    c = ThresholdSweep(labels, scores).confusion(t)
    kinds = rows["kind"].tolist()
    assert kinds == [gallery.FAKE_MISSED] * c.fake_missed + [gallery.REAL_FLAGGED] * c.real_flagged
    wrong = f[(f["p_real"] >= t) != (f["label"] == 1)]
    assert set(rows["relpath"]) == set(wrong["relpath"])
    fakes = rows[rows["kind"] == gallery.FAKE_MISSED]["p_real"].to_numpy()
    reals = rows[rows["kind"] == gallery.REAL_FLAGGED]["p_real"].to_numpy()
    assert np.all(np.diff(fakes) <= 0) and np.all(np.diff(reals) >= 0)  # most confidently wrong first
    assert set(rows["predicted"]) <= {"real", "fake"}
    assert (rows.loc[rows["kind"] == gallery.FAKE_MISSED, "predicted"] == "real").all()


def test_borderline_are_correct_images_near_the_threshold_nearest_first():
    f = frame([0.52, 0.49, 0.7, 0.45, 0.56, 0.51], [1, 0, 1, 1, 0, 0])
    rows = gallery.select_errors(f, 0.5, kinds=gallery.KINDS, borderline=0.05)
    assert rows["kind"].tolist() == [gallery.FAKE_MISSED, gallery.FAKE_MISSED, gallery.REAL_FLAGGED,
                                     gallery.BORDERLINE, gallery.BORDERLINE]
    assert rows["p_real"].tolist() == [0.56, 0.51, 0.45, 0.49, 0.52]
    assert gallery.select_errors(f, 0.5, kinds=()).empty


def test_paginate_clamps_and_counts_pages():
    rows = pd.DataFrame({"a": range(25)})
    part, n = gallery.paginate(rows, 3, 12)
    assert n == 3 and part["a"].tolist() == [24]
    part, n = gallery.paginate(rows, 99, 12)
    assert part["a"].tolist() == [24]
    assert gallery.paginate(rows.iloc[:0], 1, 12)[1] == 1


def test_csv_has_the_rows_without_absolute_paths():
    f = frame([0.9, 0.1], [0, 1])
    csv = gallery.gallery_csv(gallery.select_errors(f, 0.5)).decode()
    assert csv.splitlines()[0].startswith("kind,relpath,group,true,predicted,p_real")
    assert len(csv.splitlines()) == 3 and "/x/" not in csv


def test_composition_counts_classes_and_groups():
    f = frame([0.1] * 4, [1, 0, 0, 0], groups=["", "gan", "gan", ""])
    comp = gallery.composition(f)
    assert comp.to_dict("records") == [
        {"class": "real", "group": "(top level)", "images": 1},
        {"class": "fake", "group": "(top level)", "images": 1},
        {"class": "fake", "group": "gan", "images": 2},
    ]


def test_thumbnail_is_made_once_and_unreadable_images_give_none(tmp_path):
    src = tmp_path / "big.png"
    Image.new("RGB", (640, 480), "red").save(src)
    first = gallery.thumbnail(src, size=100, cache_dir=tmp_path / "c")
    assert first.parent == tmp_path / "c" / "thumbs"
    assert Image.open(first).size == (100, 75)
    stamp = first.stat().st_mtime_ns
    assert gallery.thumbnail(src, size=100, cache_dir=tmp_path / "c") == first
    assert first.stat().st_mtime_ns == stamp  # not rewritten
    (tmp_path / "bad.jpg").write_text("not an image")
    assert gallery.thumbnail(tmp_path / "bad.jpg", cache_dir=tmp_path / "c") is None
    assert gallery.thumbnail(tmp_path / "missing.jpg", cache_dir=tmp_path / "c") is None


@pytest.mark.parametrize("t", [0.0, 1.0])
def test_extreme_thresholds(t):
    f = frame([0.0, 1.0, 0.5], [0, 1, 1])
    rows = gallery.select_errors(f, t)
    wrong = (f["p_real"] >= t) != (f["label"] == 1)
    assert len(rows) == int(wrong.sum())


def test_gallery_rows_carry_each_image_detail_share_and_the_details_say_low():
    from core.dashboard import image_details

    f = frame([0.9, 0.8, 0.2], [0, 0, 1]).assign(detail_share=[0.10, 0.30, 0.25], width=600, height=600,
                                                 format="JPEG", size_bytes=50_000)
    rows = gallery.select_errors(f, 0.5).set_index("relpath")
    assert rows.loc["fake/0.jpg", "detail_share"] == 0.10 and rows.loc["real/2.jpg", "detail_share"] == 0.25
    low = image_details(rows.reset_index().iloc[0], f, 0.5).set_index("")["value"]
    assert low["fine detail"] == "0.100 · low (< 0.16)"
    sharp = image_details(rows.reset_index().iloc[1], f, 0.5).set_index("")["value"]
    assert "low" not in sharp["fine detail"]
    # a frame without the measure (an older caller) still works, with no fine-detail row
    bare = gallery.select_errors(f.drop(columns="detail_share"), 0.5)
    assert bare["detail_share"].isna().all()
    assert "fine detail" not in set(image_details(bare.iloc[0], f.drop(columns="detail_share"), 0.5)[""])


def test_contact_sheet_is_one_png_with_a_framed_tile_per_image(tmp_path):
    import io

    paths = []
    for i, colour in enumerate([(0, 200, 0), (0, 0, 200), (200, 200, 0)]):
        paths.append(tmp_path / f"img{i}.png")
        Image.new("RGB", (300, 300), colour).save(paths[-1])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    rows = pd.DataFrame({"kind": [gallery.FAKE_MISSED, gallery.FAKE_MISSED, gallery.REAL_FLAGGED, gallery.BORDERLINE],
                         "relpath": ["fake/a.png", "fake/b.png", "real/c.png", "real/broken.jpg"],
                         "true": ["fake", "fake", "real", "real"], "p_real": [0.9, 0.7, 0.2, 0.51],
                         "path": [str(p) for p in paths] + [str(broken)]})
    sheet = Image.open(io.BytesIO(gallery.contact_sheet(rows, "title", columns=3, tile=100, cache_dir=tmp_path / "c")))
    assert sheet.format == "PNG"
    assert sheet.size == (3 * 108 + 8, 64 + 2 * (100 + 38 + 8) + 8)  # 3 columns, 2 rows of tiles
    px = sheet.convert("RGB")
    tile_centre = lambda i: (8 + (i % 3) * 108 + 50, 64 + (i // 3) * 146 + 50)
    assert px.getpixel(tile_centre(0))[1] > 150  # the first image's green
    assert px.getpixel(tile_centre(1))[2] > 150  # the second's blue
    assert px.getpixel((8 + 6, 64 + 146 + 6)) == (220, 220, 220)  # the unreadable one: a grey tile, the sheet goes on
    assert px.getpixel((8 + 1, 64 + 1)) == gallery.KIND_COLOURS[gallery.FAKE_MISSED]  # framed in its kind's colour
    assert px.getpixel((8 + 2 * 108 + 1, 64 + 1)) == gallery.KIND_COLOURS[gallery.REAL_FLAGGED]
    # a long selection is cut at the limit
    many = pd.concat([rows.head(1)] * 10, ignore_index=True)
    small = Image.open(io.BytesIO(gallery.contact_sheet(many, "t", columns=3, tile=100, limit=4, cache_dir=tmp_path / "c")))
    assert small.size[1] == 64 + 2 * 146 + 8


def test_thumbnail_uri_is_the_cached_thumbnail_as_a_data_uri(tmp_path, cache_dir):
    """One preview path for the Feature map's hover and the HTML report (they had two more,
    one opening files raw, past the megapixel limit)."""
    import base64

    from core.gallery import thumbnail, thumbnail_uri

    from .conftest import make_test_set

    root = make_test_set(tmp_path / "s", n_real=1, n_fake=0, corrupt=True)
    good = root / "real" / "real_00000.jpg"
    uri = thumbnail_uri(good, 64)
    assert uri.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == thumbnail(good, 64).read_bytes()
    assert thumbnail_uri(root / "real" / "not_an_image.png") is None


def test_the_page_table_names_columns_for_people_and_the_csv_keeps_the_data_names():
    frame = pd.DataFrame({"path": ["/x/real/a.jpg", "/x/fake/b.jpg"], "relpath": ["real/a.jpg", "fake/b.jpg"],
                          "label": [1, 0], "p_real": [0.41, 0.5], "group": ["", ""], "detail_share": [0.3, 0.3]})
    rows = gallery.select_errors(frame, 0.45)
    shown = gallery.rows_shown(rows)
    assert list(shown.columns) == ["kind", "file", "group", "true class", "verdict", "P(real)",
                                   "distance to threshold", "fine detail"]
    assert shown["P(real)"].tolist() == ["0.5000", "0.4100"] and shown["file"].tolist() == rows["relpath"].tolist()
    assert gallery.gallery_csv(rows).decode().splitlines()[0] == "kind,relpath,group,true,predicted,p_real,distance,detail_share"


def test_the_contact_sheet_legend_names_each_frame_colour_by_its_hue():
    """The legend called the vermillion frame of missed fakes red; it reads, and prints, orange."""
    import colorsys

    hues = {"orange": (15, 45), "yellow": (45, 70), "blue": (180, 250)}  # degrees
    for kind, rgb in gallery.KIND_COLOURS.items():
        lo, hi = hues[gallery.KIND_COLOUR_NAMES[kind]]
        assert lo <= 360 * colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[0] < hi, kind


def test_the_page_table_writes_the_distance_to_the_threshold_as_p_real_is_written():
    """The distance is a difference of P(real): the threshold's 4 decimals, as P(real) beside it and
    the opened image's details, not a float of 17 digits; fine detail to 3, as the details write it."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 40)
    frame = pd.DataFrame({"path": [f"/x/{i}.jpg" for i in range(40)], "relpath": [f"{i}.jpg" for i in range(40)],
                          "label": rng.integers(0, 2, 40), "p_real": p, "group": "", "detail_share": rng.uniform(0, 1, 40)})
    t = 0.4321
    rows = gallery.select_errors(frame, t, gallery.KINDS, 0.1)
    shown = gallery.rows_shown(rows)
    for column, digits, values in (("distance to threshold", 4, np.abs(rows["p_real"] - t)),
                                   ("fine detail", 3, rows["detail_share"])):
        text = shown[column]
        assert len(rows) > 5 and all(len(v.split(".")[1]) == digits for v in text)
        np.testing.assert_allclose(text.astype(float), values, atol=0.5 * 10**-digits + 1e-12)
    from core.dashboard import image_details

    details = image_details(rows.iloc[0], frame.assign(width=1, height=1, format="JPEG", size_bytes=1), t)
    said = dict(zip(details[""], details["value"]))
    assert said["distance to threshold"] == shown["distance to threshold"].iloc[0]  # the same words in both places
    assert said["P(real)"] == shown["P(real)"].iloc[0]
