"""tools/near_demo.py: a leaking test set that near-copies must catch, and nothing else."""
import importlib.util

from tests.conftest import REPO, photo_like

spec = importlib.util.spec_from_file_location("near_demo", REPO / "tools" / "near_demo.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_the_demo_holds_exactly_the_planted_copies(tmp_path, capsys):
    from core import near_copies
    from core.data import scan_test_set

    split, seed = tmp_path / "split", iter(range(100))
    for part, n_real, n_fake in (("train", 5, 5), ("val", 4, 3)):
        for name, n in (("real", n_real), ("fake", n_fake)):
            (split / part / name).mkdir(parents=True)
            for i in range(n):
                photo_like(160, seed=next(seed)).save(split / part / name / f"{part}_{name}_{i}.jpg", quality=95)
    (split / "train" / "real" / "train_real_9.jpg").write_bytes(b"\xff\xd8 truncated")  # may be drawn: skipped
    counts = tool.near_demo(str(split), str(tmp_path / "demo"), train_copies=9, png_copies=1, seed=0)
    # every training picture is drawn (9 asked, 6 and 5 there): the broken one is said and skipped
    assert counts == {"real": 4 + 1 + 5, "fake": 3 + 1 + 5} and "skipped" in capsys.readouterr().err
    resaved = sorted(p.name for p in (tmp_path / "demo").rglob("resaved_*"))
    demo = scan_test_set(tmp_path / "demo")
    found = near_copies.check(demo.images, scan_test_set(split / "train").images)
    assert sorted(found.across["test_relpath"].str.rsplit("/", n=1).str[-1]) == resaved
    assert all(found.across["other_relpath"].str.rsplit("/", n=1).str[-1].map(lambda n: f"resaved_{n.rsplit('.', 1)[0]}.jpg")
               == found.across["test_relpath"].str.rsplit("/", n=1).str[-1])
    assert len(found.within) == 2 and found.derived_fakes.empty  # each PNG with its validation original
    assert (tool.main(["--split", str(split), "--out", str(tmp_path / "again")]) == 0
            and "wrote" in capsys.readouterr().out)
