"""The documentation runs: its code examples execute, its file examples load, the site builds.

The rule for code blocks (stated for readers on ``docs/index.md``, "Code blocks in these pages"):

* a fenced block labelled ``python`` in any page under ``docs/`` is an example. The Python blocks
  of one page run in order, in one namespace, in a fresh temporary directory that holds a copy of
  the repository's ``examples/``;
* a block labelled ``bash`` is a list of commands. Each line (a trailing ``\\`` continues it) runs
  in bash in that same directory, interleaved with the page's Python blocks in page order, and
  must exit 0; ``contractlab`` and ``python`` are the interpreter running the tests
  (``python -m contractlab``), on this working tree;
* ``console``, ``text`` and unlabelled blocks are shown, not run: reproduction commands of the
  measured results, which take minutes (``results.md``, ``incentive_design.md``, ...), program
  output, layouts.

Besides: every ``json`` block of ``docs/formats.md`` is a minimal file of the kind it names and
loads with :func:`contractlab.theory.fileio.loads`, and every registered kind has one; and
``mkdocs build --strict`` succeeds (skipped only when mkdocs is not installed: the ``[docs]``
extra).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                   re.MULTILINE | re.DOTALL)
RUN = ("python", "bash")
COMMAND_TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    page: Path
    line: int        # 1-based line of the opening fence
    info: str
    body: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order (indented fences included, their
    indentation removed)."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        indent = len(m.group("indent"))
        body = "".join(line[indent:] if line[:indent].isspace() else line
                       for line in m.group("body").splitlines(keepends=True))
        out.append(Block(page, text.count("\n", 0, m.start()) + 1, m.group("info").strip().split(" ")[0], body))
    return out


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def runnable_pages() -> list[Path]:
    return [p for p in pages() if any(b.info in RUN for b in blocks(p))]


def commands(body: str) -> list[str]:
    """The commands of a bash block: one per line, a trailing backslash joins the next line;
    blank lines and comment lines are dropped."""
    out, current = [], ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip() and not current.lstrip().startswith("#"):
            out.append(current.strip())
        current = ""
    if current.strip():
        out.append(current.strip())
    return out


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["CONTRACTLAB_DOCS_PYTHON"] = sys.executable
    env["NO_MKDOCS_2_WARNING"] = "1"
    return env


# `contractlab` and `python` are the interpreter running the tests.
_PRELUDE = ('contractlab() { "$CONTRACTLAB_DOCS_PYTHON" -m contractlab "$@"; }\n'
            'python() { "$CONTRACTLAB_DOCS_PYTHON" "$@"; }\n'
            "set -e -o pipefail\n")


def run_command(command: str, cwd: Path, where: str) -> None:
    proc = subprocess.run(["bash", "-c", _PRELUDE + command], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT)
    assert proc.returncode == 0, (f"{where}: `{command}` exited with {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}")


def test_rule_finds_the_tutorials():
    """The pages the rule must reach have runnable blocks (a renamed fence would silently skip them)."""
    found = {p.relative_to(DOCS).as_posix() for p in runnable_pages()}
    for page in ("tutorials/verify_a_theorem.md", "tutorials/build_a_benchmark.md",
                 "tutorials/check_a_learned_policy.md", "formats.md"):
        assert page in found
        kinds = {b.info for b in blocks(DOCS / page)}
        assert {"python", "bash"} <= kinds, (page, kinds)


def test_fence_parser_and_commands():
    """The block and command splitting the other tests rely on."""
    page = DOCS / "tutorials" / "verify_a_theorem.md"
    bs = blocks(page)
    lines = page.read_text(encoding="utf-8").splitlines()
    for b in bs:
        assert lines[b.line - 1].lstrip().startswith("```" + b.info)
        assert b.body.count("\n") == _closing_line(lines, b.line) - b.line - 1
    assert commands("a \\\n  b\n# note\n\nc  # x\n") == ["a    b", "c  # x"]


def _closing_line(lines: list[str], start: int) -> int:
    for i in range(start, len(lines)):
        if lines[i].strip().startswith("```"):
            return i + 1
    raise AssertionError("unclosed fence")


@pytest.mark.parametrize("page", runnable_pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch):
    """Every python and bash block of the page, in order, in a directory with examples/."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    namespace: dict = {"__name__": f"docs_example_{page.stem}"}
    ran = 0
    for block in blocks(page):
        if block.info == "python":
            code = compile(block.body, block.where(), "exec")
            try:
                exec(code, namespace)
            except Exception as exc:
                raise AssertionError(f"{block.where()}: the example raised {type(exc).__name__}: {exc}") from exc
            ran += 1
        elif block.info == "bash":
            for command in commands(block.body):
                run_command(command, tmp_path, block.where())
                ran += 1
    assert ran > 0


# --------------------------------------------------------------------------- file formats

def _format_examples() -> list[Block]:
    return [b for b in blocks(DOCS / "formats.md") if b.info == "json"]


def test_every_registered_kind_has_a_loading_example():
    """formats.md has a minimal example of every kind the loader knows, and each one loads."""
    from contractlab.theory import fileio
    examples = _format_examples()
    assert examples
    documented = set()
    for block in examples:
        data = json.loads(block.body)
        kind = data["kind"]
        obj = fileio.loads(block.body)
        assert fileio.kind_of(obj) == kind, block.where()
        # what it loads to is written back as the same kind, and that loads again
        again = fileio.loads(fileio.dumps(obj))
        assert fileio.kind_of(again) == kind
        documented.add(kind)
    missing = set(fileio._KINDS) - documented
    assert not missing, f"docs/formats.md has no example of the kinds {sorted(missing)}"


def test_format_examples_are_minimal():
    """Dropping any top-level field of a minimal example makes it fail to load: the examples
    show exactly the required fields (the optional ones are in the tables beside them)."""
    from contractlab.theory import fileio
    from contractlab.theory.errors import InvalidInstanceError
    for block in _format_examples():
        data = json.loads(block.body)
        for field in data:
            reduced = {k: v for k, v in data.items() if k != field}
            try:
                fileio.loads(json.dumps(reduced))
            except InvalidInstanceError:
                continue
            raise AssertionError(f"{block.where()}: the example of {data['kind']!r} still loads without "
                                 f"{field!r}: it is not minimal")


# --------------------------------------------------------------------------- the site

def _mkdocs_missing() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:
            return module
    return None


@pytest.mark.skipif(_mkdocs_missing() is not None,
                    reason="mkdocs, mkdocs-material or mkdocstrings[python] is not installed (the [docs] extra)")
def test_site_builds_strict(tmp_path: Path):
    """``mkdocs build --strict``: no broken link or anchor, every page in the nav, no docstring
    warning; every figure a page shows is in the built site."""
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (site / "index.html").is_file()
    assert (site / "api" / "theory" / "index.html").is_file()
    # every image a page shows in Markdown is an <img> of its built page, and the file is there
    for page in pages():
        images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
        images = [src for src in images if not src.startswith(("http:", "https:"))]
        if not images:
            continue
        rel = page.relative_to(DOCS).with_suffix("")
        html = site / ("index.html" if rel.as_posix() == "index" else rel / "index.html")
        shown = re.findall(r'<img[^>]*\bsrc="([^"]+)"', html.read_text(encoding="utf-8"))
        assert len(shown) >= len(images), f"{page.name}: {len(images)} images in Markdown, {len(shown)} in HTML"
        for src in shown:
            assert (html.parent / src).resolve().is_file(), f"{html.relative_to(site)} shows the missing file {src}"
