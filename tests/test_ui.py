"""``core/ui/``: the one place in ``core`` that may import streamlit (the STYLE's shape)."""
import ast
from pathlib import Path

import core
from core import ui

CORE = Path(core.__file__).parent


def _imports_streamlit(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
            return True
    return False


def test_only_the_ui_package_imports_streamlit():
    importers = {p.relative_to(CORE).as_posix() for p in CORE.rglob("*.py") if _imports_streamlit(p)}
    assert importers, "the scan found no streamlit import at all: it is not reading the files"
    assert {p.split("/")[0] for p in importers} == {"ui"}, sorted(importers)


def test_the_package_offers_what_pages_call():
    """Pages read everything as ``ui.<name>``; the split into files must not lose one."""
    used = set()
    for page in [CORE.parent / "streamlit_app.py", *(CORE.parent / "pages").glob("*.py")]:
        for node in ast.walk(ast.parse(page.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ui":
                used.add(node.attr)
    assert {"sidebar", "guard_evaluation", "chart"} <= used
    assert not [name for name in sorted(used) if not hasattr(ui, name)]
