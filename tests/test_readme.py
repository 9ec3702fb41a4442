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


HOSTS = [b for b in blocks("bash") if "jax.distributed.initialize" in b]


@pytest.mark.slow
def test_multi_host_block_runs_and_both_hosts_agree():
    """The two-"host" loopback example, run as written from the repository root (about a minute)."""
    import subprocess

    assert len(HOSTS) == 1
    out = subprocess.run(["bash", "-c", HOSTS[0]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    # Gloo prints its own connection lines to stdout, and the two processes' lines can interleave
    # ("[Gloo] Rank [Gloo] Rank 1 ...", then "0 is connected ..."): take only the block's own lines,
    # each one os.write (print's text and newline, two writes, once interleaved as "1 4 [...]0 4 [...]").
    lines = sorted(m.groups() for m in re.finditer(r"([01]) (4) (\[[^\]]*\])$", out.stdout, flags=re.M))
    assert [p for p, _, _ in lines] == ["0", "1"] and lines[0][1:] == lines[1][1:], out.stdout
