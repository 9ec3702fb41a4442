"""The README's commands are the ones CI runs, and its Python examples run as written."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_cmd = [b.strip() for b in blocks("bash") if "pytest" in b][0]
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


PYTHON = blocks("python")
# The population example trains 1,200 members for 2,000 steps (minutes on 2 cores): slow.
SLOW = [i for i, code in enumerate(PYTHON) if "dt.train(" in code]


@pytest.mark.parametrize("i", [pytest.param(i, marks=pytest.mark.slow) if i in SLOW else i
                               for i in range(len(PYTHON))])
def test_python_example_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(PYTHON[i], f"README.md python block {i}", "exec"), {})


def test_every_python_block_is_collected():
    assert len(PYTHON) >= 2 and SLOW == [0]
