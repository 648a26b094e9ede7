"""core/provenance_words.py: the sentences for what a model has seen of a test set."""
import pandas as pd

from core.provenance import Seen, overlap
from core.provenance_words import overlap_json, overlap_short, overlap_words


def _frame(labels):
    return pd.DataFrame({"relpath": [f"f{i}" for i in range(len(labels))], "label": labels})


def test_overlap_in_words_by_level():
    seen = Seen(frozenset({"1-a", "2-b", "3-c"}), frozenset({"4-d"}), "the checkpoint")
    most = overlap(_frame([1, 0, 1, 0]), ["1-a", "2-b", "3-c", "9-z"], seen)
    assert list(most.train["relpath"]) == ["f0", "f1", "f2"] and most.unseen == 1
    [(level, text)] = overlap_words(most)
    assert level == "error" and text.startswith("3 of the 4 test images (75%; 2 real, 1 fake) are files this model was trained on")
    some = overlap(_frame([1, 0, 1, 0]), ["1-a", None, "4-d", "9-z"], seen)
    assert [lvl for lvl, _ in overlap_words(some)] == ["warning", "info"]
    assert "1 of the 4 test images (1 real, 0 fake) are this model's validation images" in overlap_words(some)[1][1]
    [(level, text)] = overlap_words(overlap(_frame([1, 0]), [None, "8-q"], seen))
    assert level == "ok" and "None of the 2 test images" in text and "near-copies" in text  # points at the copy check
    assert overlap_words(None)[0][0] == "unknown"
    assert [overlap_short(x) for x in (most, some, None)] == ["trained on 3", "trained on 1 · chosen on 1",
                                                                        "not recorded"]
    assert overlap_short(overlap(_frame([1]), ["8-q"], seen)) == "none"
    assert overlap_json(some) == {"checked": True, "from": "the checkpoint", "n_images": 4,
                                             "trained_on": ["f0"], "chosen_on": ["f2"]}


def test_the_tables_of_copies_are_named_for_people_and_the_data_keeps_its_names():
    """A page shows ``shown_table``; the CSV download is made from the table it was given."""
    from core.near_copies import RECORD_COLUMNS, _frame_pairs
    from core.provenance_words import SHOWN_COLUMNS, shown_table

    side = pd.DataFrame({"relpath": ["real/a.jpg", "fake/b.png"], "label": [1, 0], "path": ["/x/a", "/x/b"]})
    pairs = pd.DataFrame({"i": [0], "j": [1], "distance": [3]})
    tables = [_frame_pairs(pairs, side, side, names) for names in (("test", "other"), ("a", "b"))]
    tables += [pd.DataFrame(columns=RECORD_COLUMNS), side[["relpath", "label"]]]
    for table in tables:
        table = table.drop(columns=[c for c in table if c.endswith("_path")])
        before = list(table.columns)
        shown, helps = shown_table(table)
        assert list(table.columns) == before  # the data (and its CSV) keep their names
        assert not any("_" in c for c in shown.columns) and len(set(shown.columns)) == len(shown.columns)
        assert set(helps) <= set(shown.columns) and all(helps.values())
        assert shown.values.tolist() == table.values.tolist()  # renamed, nothing else
    assert all(k in SHOWN_COLUMNS for k in RECORD_COLUMNS if not k.endswith("_path"))
