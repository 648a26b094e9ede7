"""The one streamlit part of ``core``: the shared sidebar, the guards and the cache wrappers.

Every page starts with ``ctx = ui.sidebar("Page title")`` and reads everything else as
``ui.<name>``; this package is split by job only to keep each file short:

- ``state``: the sidebar and the session state behind it (kept in step with the URL);
- ``cached``: the cache wrappers (model, listing, predictions, the one threshold sweep, analyses);
- ``guards``: what pages share on screen (in-page threshold slider, themed charts, overlap boxes)
  and the guards that stop a page with guidance.

Adding a page: one file in ``pages/`` (starting with ``ctx = ui.sidebar(...)``) and one
``Page`` entry in ``core.dashboard.PAGES``. Streamlit's own file-named navigation is hidden
(``.streamlit/config.toml``); the sidebar lists ``PAGES`` with ``st.page_link``. What needs no
streamlit (the page list, ``Context``, cache keys, words) lives in ``core.dashboard``.
"""
import streamlit as st  # noqa: F401  (tests swap ui.st.session_state)

from ..dashboard import (  # noqa: F401  (re-exported: pages and tests use ui.<name>)
    DEFAULT_DATA, DEFAULT_WEIGHTS, DEVICES, PAGES, REPO, TESTER, Context, _display, file_stamp,
    weights_stamp, first_readable, image_details, initial_sources, known_test_sets, known_weights, other_test_sets,
    progress_text,
    ONE_CLASS_WORDS, one_class_summary, one_class_words, resolve_path, score_context_words, seen_fields, set_problems,
    skipped_markdown, skipped_table, files_signature, threshold_change_words, uploads_digest, set_role_words,
)
from ..inference import InferenceSettings  # noqa: F401
from ..metric_words import (  # noqa: F401
    RANKING_METRICS, few_images_help, few_images_words, few_of_its_class_words, metric_delta, metric_help, metric_label, metric_table, metric_value, missing_as_na, rows_as_text, score_text,
)
from ..metrics import SHARE_METRICS  # noqa: F401
from ..pace import feature_time_words, sweep_time_words  # noqa: F401
from .cached import (  # noqa: F401
    _with_seen, analysis, analysis_key, compare_runs, context_for, feature_layout, judge_uploads, near_copies,
    predictions, resaved_copies, scored_predictions, scored_sweep, seen_overlap, slice_frame, sweep,
)
from .guards import (  # noqa: F401
    chart, guard_detector, guard_evaluation, one_class_cards, one_class_pages, people_table, set_threshold,
    show_overlap, test_set_help, threshold_slider, weights_help,
)
from .state import _save_weights_upload, kept, sidebar  # noqa: F401
