"""core/malloc_tuning.py: the entry points restart once with glibc's malloc tuned, and only then."""
import sys

import pytest

from core import malloc_tuning
from core.malloc_tuning import MALLOC_ENV, OPT_OUT, wanted


def test_wanted_only_on_linux_and_only_when_nobody_has_set_it():
    assert wanted({}, "linux")
    assert not wanted({}, "darwin") and not wanted({}, "win32")
    assert not wanted({"MALLOC_MMAP_THRESHOLD_": "1"}, "linux")  # set by the Makefile or the user: kept
    assert not wanted({OPT_OUT: "1"}, "linux")


def test_the_restart_runs_the_same_command_with_the_settings_added(monkeypatch):
    calls = []
    monkeypatch.setattr(malloc_tuning.os, "environ", {"PATH": "/bin", "KEEP": "x"})
    monkeypatch.setattr(malloc_tuning.sys, "platform", "linux")
    monkeypatch.setattr(malloc_tuning, "wanted", lambda: True)
    monkeypatch.setattr(sys, "argv", ["/x/core/__main__.py", "evaluate", "--data", "d d"])
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-X", "importtime", "-m", "core", "evaluate", "--data", "d d"])
    monkeypatch.setattr(malloc_tuning.os, "execve", lambda exe, argv, env: calls.append((exe, argv, env)))
    malloc_tuning.restart_with_tuned_malloc("core")
    [(exe, argv, env)] = calls
    # the interpreter's options survive the restart, and the arguments are passed as they were (no shell)
    assert exe == sys.executable and argv == [sys.executable, "-X", "importtime", "-m", "core", "evaluate", "--data", "d d"]
    assert env == {"PATH": "/bin", "KEEP": "x", **MALLOC_ENV}
    monkeypatch.setattr(sys, "orig_argv", [])  # no record of the command line: the module and arguments
    malloc_tuning.restart_with_tuned_malloc("core")
    assert calls[-1][1] == [sys.executable, "-m", "core", "evaluate", "--data", "d d"]


def test_no_restart_when_not_wanted_or_when_exec_fails(monkeypatch):
    monkeypatch.setattr(malloc_tuning, "wanted", lambda: False)
    monkeypatch.setattr(malloc_tuning.os, "execve", lambda *a: pytest.fail("must not restart"))
    malloc_tuning.restart_with_tuned_malloc("core")
    monkeypatch.setattr(malloc_tuning, "wanted", lambda: True)

    def refused(*a):
        raise PermissionError("no exec here")

    monkeypatch.setattr(malloc_tuning.os, "execve", refused)
    malloc_tuning.restart_with_tuned_malloc("core")  # returns: the command runs untuned


def test_python_dash_m_core_really_runs_tuned(tmp_path):
    """End to end: every Python process started records the setting it sees (a sitecustomize on
    PYTHONPATH); `python -m core --help` must end in a second process that has it."""
    import os
    import subprocess
    from pathlib import Path

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc malloc settings apply on Linux only")  # the CI machine is Linux: never skipped there
    log = tmp_path / "seen.txt"
    (tmp_path / "sitecustomize.py").write_text(
        "import os\n"
        f"with open({str(log)!r}, 'a') as f: f.write(os.environ.get('MALLOC_MMAP_THRESHOLD_', 'unset') + '\\n')\n")
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV and k != OPT_OUT}
    env["PYTHONPATH"] = str(tmp_path)
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-m", "core", "--help"], env=env, capture_output=True, text=True, cwd=repo)
    assert out.returncode == 0 and "usage: python -m core" in out.stdout, out.stderr
    assert log.read_text().split() == ["unset", MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"]]  # started, then restarted once
    log.unlink()
    subprocess.run([sys.executable, "-m", "core", "--help"], env={**env, OPT_OUT: "1"}, capture_output=True, cwd=repo)
    assert log.read_text().split() == ["unset"]  # opted out: no restart
