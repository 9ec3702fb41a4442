"""The README's commands are the ones CI runs, its Python examples and those in docs/ run as
written, the multi-host example in docs/multi-device.md runs, and every relative link resolves."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = {p.name: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}


def blocks(lang, text=README):
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_cmd = [b.strip() for b in blocks("bash") if "pytest" in b][0]
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_readme_stays_short():
    assert len(README.splitlines()) <= 200, "depth belongs in docs/"


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


DOC_PYTHON = [name for name, text in DOCS.items() if blocks("python", text)]


@pytest.mark.parametrize("name", DOC_PYTHON)
def test_docs_python_runs(name, tmp_path, monkeypatch):
    """A page's Python blocks run in order in one namespace (a later block may use an earlier
    one's definitions, as a test file imports its module); the ``test_*`` functions they define
    are then called."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{name[:-3].replace('-', '_')}"}
    for i, code in enumerate(blocks("python", DOCS[name])):
        exec(compile(code, f"docs/{name} python block {i}", "exec"), namespace)
    for test in [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]:
        test()


def test_docs_with_python_are_collected():
    assert {"store-format.md", "theory-modules.md"} <= set(DOC_PYTHON)


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{n}" for n in DOCS])
def test_relative_links_resolve(page):
    path = ROOT / page
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{page}: link {link!r} points to nothing"
        if anchor:
            body = re.sub(r"```.*?```", "", file.read_text(), flags=re.S)
            anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", body, flags=re.M)}
            assert anchor in anchors, f"{page}: link {link!r}: no heading with that anchor in {target or page}"


HOSTS = [b for b in blocks("bash", DOCS["multi-device.md"]) if "jax.distributed.initialize" in b]


def test_multi_host_block_is_found():
    assert len(HOSTS) == 1


@pytest.mark.slow
def test_multi_host_block_runs_and_both_hosts_agree():
    """The two-"host" loopback example in docs/multi-device.md, run as written from the repository
    root (about a minute)."""
    import subprocess

    assert len(HOSTS) == 1
    out = subprocess.run(["bash", "-c", HOSTS[0]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    # Gloo prints its own connection lines to stdout, and the two processes' lines can interleave
    # ("[Gloo] Rank [Gloo] Rank 1 ...", then "0 is connected ..."): take only the block's own lines,
    # each one os.write (print's text and newline, two writes, once interleaved as "1 4 [...]0 4 [...]").
    lines = sorted(m.groups() for m in re.finditer(r"([01]) (4) (\[[^\]]*\])$", out.stdout, flags=re.M))
    assert [p for p, _, _ in lines] == ["0", "1"] and lines[0][1:] == lines[1][1:], out.stdout
