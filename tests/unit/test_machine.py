"""mlops_dl.machine: CPU name and flags, the git commit of a checkout (or none outside one)."""

from __future__ import annotations

import re
import subprocess

from mlops_dl import machine


def test_cpu_info_has_a_name_and_only_relevant_flags():
    info = machine.cpu_info()
    assert isinstance(info["name"], str) and info["name"]
    assert set(info["flags"]) <= set(machine.RELEVANT_FLAGS)
    assert info["flags"] == sorted(info["flags"])


def test_git_commit_of_a_checkout_and_outside_one(tmp_path):
    assert machine.git_commit(tmp_path) is None
    assert machine.git_state(tmp_path) == {"commit": "", "dirty": False}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    commit = machine.git_commit(tmp_path)
    assert commit and re.fullmatch(r"[0-9a-f]{40}", commit)
    assert machine.git_state(tmp_path) == {"commit": commit, "dirty": False}
    (tmp_path / "a.txt").write_text("b")
    assert machine.git_state(tmp_path)["dirty"] is True
