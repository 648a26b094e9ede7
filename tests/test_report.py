"""core.report / `python -m core report` and the keys `evaluate --json` gains."""
import json
import re
from html.parser import HTMLParser

import pandas as pd

from core.cli import main


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def test_report_is_self_contained(tiny_set, tiny_ckpt, cache_dir, tmp_path):
    out = tmp_path / "r" / "report.html"
    rc = main(["report", "--data", str(tiny_set), "--weights", str(tiny_ckpt), "--device", "cpu",
               "--bootstrap", "200", "--out", str(out)])
    assert rc == 0
    text = out.read_text()
    parser = _Links()
    parser.feed(text)
    assert parser.urls, "thumbnails should be embedded images"
    assert not [u for u in parser.urls if u.lower().startswith(("http:", "https:", "//"))]
    assert all(u.startswith("data:image/") for u in parser.urls)
    assert "<script src=" not in text and "plotly" in text.lower()
    assert "95% CI" in text and "sha256" in text
    # shares as percentages, ROC-AUC as a decimal: as every dashboard page writes them
    assert re.search(r"<td>Accuracy</td>\s*<td>\d+\.\d%", text) and re.search(r"<td>ROC-AUC</td>\s*<td>[01]\.\d{3}[ <]", text)
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert len(csv) == 12 and {"p_real", "verdict", "correct", "jpeg_quality", "detail_share"} <= set(csv.columns)
    assert "hold little fine detail" not in text  # 1 of these 12 is below 0.16: under the 10 % that warns


def test_report_warns_when_much_of_the_set_is_blurred(tiny_ckpt, cache_dir, tmp_path):
    from PIL import ImageFilter

    from .conftest import photo_like

    root = tmp_path / "set"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            face = photo_like(400, seed=i + 2 * (label == "fake"))
            face.save(root / label / f"sharp_{i}.png")
            face.filter(ImageFilter.GaussianBlur(2)).save(root / label / f"blurred_{i}.png")
    out = tmp_path / "report.html"
    assert main(["report", "--data", str(root), "--weights", str(tiny_ckpt), "--device", "cpu",
                 "--bootstrap", "50", "--out", str(out)]) == 0
    assert "4 of 8 images (50%; 2 real, 2 fake) hold little fine detail" in out.read_text()


def test_report_bad_out_is_a_clear_error(tiny_set, tiny_ckpt, tmp_path, capsys):
    assert main(["report", "--data", str(tiny_set), "--weights", str(tiny_ckpt), "--out", str(tmp_path / "x.pdf")]) == 2
    assert "must name an HTML file (.html, .htm)" in capsys.readouterr().err


def test_evaluate_json_gains_analysis_keys(tiny_set, tiny_ckpt, cache_dir, tmp_path):
    js = tmp_path / "e.json"
    assert main(["evaluate", "--data", str(tiny_set), "--weights", str(tiny_ckpt), "--device", "cpu",
                 "--bootstrap", "100", "--json", str(js)]) == 0
    out = json.loads(js.read_text())
    for key in ("ci", "tpr_at_fpr", "ece", "brier", "log_loss", "operating_points", "slices"):
        assert key in out, key
    assert set(out["tpr_at_fpr"]) == {"0.01", "0.05", "0.1"}
    lo, hi = out["ci"]["accuracy"]
    assert lo <= out["accuracy"] <= hi
    assert {"max_f1", "youden", "eer", "min_cost"} <= set(out["operating_points"])
    assert out["slices"][0]["dimension"] == "all" and out["bootstrap"]["resamples"] == 100


def test_report_names_the_files_it_left_out(tiny_ckpt, cache_dir, tmp_path, capsys):
    """The report is what people share: an unreadable file must show there, not vanish."""
    from .conftest import make_test_set

    data = make_test_set(tmp_path / "s", n_real=3, n_fake=3, corrupt=True)
    out = tmp_path / "report.html"
    assert main(["report", "--data", str(data), "--weights", str(tiny_ckpt), "--device", "cpu", "--bootstrap", "50",
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert "left out (unreadable)" in text and "not_an_image.png" in text and "truncated.jpg" in text
    assert "skipped 2 unreadable file(s)" in capsys.readouterr().err
