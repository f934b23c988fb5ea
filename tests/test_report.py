"""``contractlab report``: the page, read the way a reader sees it.

The inputs are written by the real commands (``verify``, ``regret``, ``learn``, ``solve`` on a
discounted cyclic instance), plus a design run from the document builder ``design`` uses, a small
benchmark dataset built here with pyarrow, and a verify run of a deliberately false theorem whose
id and evidence are hostile HTML. Each page is rendered in headless Chromium (Debian's
``chromium`` and ``chromedriver``; nothing is installed or downloaded at run time): it loads
without console errors, every figure has a non-zero bounding box, nothing but the page itself is
requested, and the theorem ids of the verify input are in the rendered text. The other tests need
no browser: bad inputs exit 2 with one line; hostile text is escaped; missing matplotlib is one
line naming the extra.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.cli import main

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

HOSTILE_ID = 'evil.<script>document.title="pwned"</script>'
HOSTILE_DETAIL = '</pre></td><img src="http://203.0.113.9/x.png" onerror="document.title=\'pwned\'">&amp;'


def _browser_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the test extra)"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))


def test_the_browser_is_there_where_it_is_required():
    """``.ci/run`` installs Debian's chromium and sets ``CONTRACTLAB_REQUIRE_BROWSER=1``: there the
    browser tests must run, not skip (elsewhere they skip with the reason above)."""
    if os.environ.get("CONTRACTLAB_REQUIRE_BROWSER") != "1":
        pytest.skip("CONTRACTLAB_REQUIRE_BROWSER is not set: the browser is optional here")
    assert _browser_missing() is None, _browser_missing()


# --------------------------------------------------------------------------- inputs from the real commands

def _cli(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


def _false_theorem_run(path: Path) -> None:
    """A verify_results file of a theorem that fails from 7 on: the runner's own report, with the
    counterexample hypothesis shrank to, and a hostile id and evidence string."""
    from contractlab.proofs_checks.registry import Evidence, Theorem
    from contractlab.proofs_checks.runner import run_theorem
    from contractlab.theory.documents import verify_results_document
    from contractlab.theory.fileio import save

    def checker(x):
        return Evidence.at_most(float(x), 6.0, detail=HOSTILE_DETAIL)

    th = Theorem(HOSTILE_ID, "x <= 6 <b>bold?</b>", "nowhere & <i>no one</i>", checker,
                 lambda: st.integers(0, 100))
    report = run_theorem(th, count=50, seed=1)
    assert not report.passed
    save(verify_results_document("test", 1, 50, [report]), path)


def _design_run(path: Path) -> None:
    """A design_run file from the builder ``contractlab design`` uses (training the designers
    would import torch, seconds before any work): two designers whose welfare approaches W* = 6."""
    from dataclasses import dataclass
    from types import SimpleNamespace

    from contractlab.cli.design import RunRecord, summarise
    from contractlab.theory.documents import design_run_document
    from contractlab.theory.fileio import save

    @dataclass(frozen=True)
    class Config:
        lr: float = 0.1

    rng = np.random.default_rng(5)
    it = np.arange(1, 41)
    runs = {}
    for name, speed, paid in (("metagrad", 8.0, 1.5), ("$none$ <b>", 1e9, 0.0)):
        records = []
        for _ in range(3):
            w = 6.0 - 4.0 * np.exp(-it / speed) + rng.normal(0, 0.05, it.size)
            p = np.full(it.size, paid) + rng.normal(0, 0.01, it.size)
            records.append(RunRecord(w, p, w, p, float(w[-1]), float(p[-1]), 0.0))
        runs[name] = records
    game = SimpleNamespace(n_agents=2, n_actions=(2, 2), n_states=1, horizon=1)
    refs = {"optimum": SimpleNamespace(value=6.0), "nash": SimpleNamespace(expected_cost=2.0),
            "dominant": SimpleNamespace(expected_cost=2.0)}
    doc = design_run_document(game_name="prisoners-dilemma", game=game, config=Config(), seeds=[0, 1, 2],
                              iterations=int(it.size), references=refs, runs=runs, level=0.95, summarise=summarise)
    save(doc, path)


def _dataset(folder: Path) -> dict:
    """A tiny ``index.parquet`` with the agreed columns; returns the columns it wrote."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow (the dataset reader) is not installed")
    import pyarrow.parquet as pq
    rng = np.random.default_rng(3)
    n = 30
    fb = rng.uniform(1.0, 3.0, n)
    pv = fb * rng.uniform(0.3, 0.95, n)
    lin = np.where(rng.random(n) < 0.3, np.nan, pv * rng.uniform(0.5, 1.0, n))
    status = ["failed" if k % 7 == 6 else "ok" for k in range(n)]
    cols = {"id": [f"inst-{k}" for k in range(n)], "family": ["tree" if k % 2 else "dag" for k in range(n)],
            "params": [json.dumps({"k": k}) for k in range(n)], "seed": np.arange(n, dtype=np.int64),
            "status": status, "error": ["LP failed <x>" if s == "failed" else None for s in status],
            "principal_value": pv, "agent_value": rng.uniform(0.0, 1.0, n), "first_best_welfare": fb,
            "best_linear_utility": lin, "certificate": ["exact" if k % 3 else "float" for k in range(n)],
            "solve_seconds": rng.lognormal(-4.0, 1.0, n), "hash": [f"h{k:04d}" for k in range(n)]}
    folder.mkdir()
    pq.write_table(pa.table(cols), folder / "index.parquet")
    return cols


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("report_inputs")
    paths = {k: d / f"{k}.json" for k in ("verify", "regret", "design", "check", "curve", "hostile", "solution",
                                          "coin_check")}
    assert _cli("verify", "--count", 3, "--theorem", "minpay.strong_duality", "--theorem",
                "minpay.ic_and_limited_liability", "--no-progress", "--out", paths["verify"])[0] == 0
    assert _cli("regret", "--horizons", "100,215,464,1000,2154", "--seeds", 20, "--no-progress",
                "--out", paths["regret"])[0] == 0
    _design_run(paths["design"])
    code, out = _cli("learn", EXAMPLES / "binary_tree_depth3.json", "-o", d / "policy.json", "--iterations", 600,
                     "--eval-every", 150, "--curve", paths["curve"], "--json", "--no-progress")
    assert code in (0, 1)
    paths["check"].write_text(out)
    _false_theorem_run(paths["hostile"])
    assert _cli("generate", "random_discounted", "--states", 8, "--seed", 2, "-o", d / "discounted.json")[0] == 0
    assert _cli("solve", d / "discounted.json", "-o", paths["solution"])[0] == 0  # the meta-algorithm
    # a Coin Game principal (2x2 grid, 4 steps) and its exact check
    (d / "coin.json").write_text('{"kind": "coin_game", "version": 1, "grid": 2, "horizon": 4}')
    code, out = _cli("learn", d / "coin.json", "-o", d / "principal.npz", "--iterations", 20, "--json")
    assert code == 0
    paths["coin_check"].write_text(out)
    return paths


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("report_dataset") / "bench"
    return folder, _dataset(folder)


@pytest.fixture(scope="module")
def page_of(inputs, dataset, tmp_path_factory):
    """``page_of(kind)``: the report of one input (made once per module) as ``(path, text)``."""
    folder = tmp_path_factory.mktemp("report_pages")
    made = {}

    def make(kind: str) -> tuple[Path, str]:
        if kind not in made:
            made[kind] = _report(folder, dataset[0] if kind == "dataset" else inputs[kind], name=f"{kind}.html")
        return made[kind]
    return make


@pytest.fixture(scope="module")
def combined(inputs, dataset, tmp_path_factory) -> tuple[list[Path], Path, str]:
    """One page of every input but the hostile one, in order (the verify run twice: two sections
    of one kind must not share anchors)."""
    sources = [inputs[k] for k in KINDS if k not in ("dataset", "hostile")] + [dataset[0], inputs["verify"]]
    page, text = _report(tmp_path_factory.mktemp("report_combined"), *sources)
    return sources, page, text


def _report(tmp_path: Path, *sources, name: str = "report.html") -> tuple[Path, str]:
    out = tmp_path / name
    assert _cli("report", *sources, "--out", out)[0] == 0
    return out, out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the browser

@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


FIGURE_BOXES = """return Array.from(document.querySelectorAll('svg, img')).map(e => {
    const r = e.getBoundingClientRect(); return [e.tagName, r.width, r.height]; });"""
URL_ATTRIBUTES = """return Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes)
    .filter(a => ['src', 'href', 'xlink:href', 'action', 'poster', 'data'].includes(a.name)
                 && !a.value.startsWith('#')).map(a => e.tagName + ' ' + a.name + '=' + a.value));"""


def view(driver, page: Path) -> dict:
    """Load ``page`` from file:// and gather what the checks look at."""
    driver.get_log("browser")
    driver.get_log("performance")  # drop what earlier pages left
    driver.get(page.as_uri())
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return {"severe": [e for e in driver.get_log("browser") if e["level"] == "SEVERE"],
            "requests": requests, "boxes": driver.execute_script(FIGURE_BOXES),
            "urls": driver.execute_script(URL_ATTRIBUTES),
            "text": driver.execute_script("return document.body.innerText"),
            "title": driver.title, "scripts": driver.execute_script("return document.scripts.length")}


def assert_clean(seen: dict, page: Path, n_figures: int) -> None:
    assert seen["severe"] == [], seen["severe"]
    assert seen["requests"] == [page.as_uri()], "the page requested something besides itself"
    assert seen["urls"] == []
    assert len(seen["boxes"]) == n_figures
    assert all(w > 0 and h > 0 for _, w, h in seen["boxes"]), seen["boxes"]
    assert seen["scripts"] == 0


KINDS = ("verify", "regret", "design", "check", "curve", "solution", "coin_check", "hostile", "dataset")


@needs_browser
@pytest.mark.parametrize("kind", KINDS)
def test_each_input_renders_cleanly(kind, inputs, page_of, browser):
    page, text = page_of(kind)
    n_svg = text.count("<svg ")
    assert n_svg >= 1
    seen = view(browser, page)
    assert_clean(seen, page, n_svg)
    if kind in ("verify", "hostile"):
        doc = json.loads(inputs[kind].read_text())
        for th in doc["theorems"]:
            assert th["id"] in seen["text"]
    if kind == "coin_check":
        assert "Coin Game principal check" in seen["text"] and "dominance violations, follow path" in seen["text"]


@needs_browser
def test_all_inputs_on_one_page(combined, browser):
    sources, page, text = combined
    seen = view(browser, page)
    assert_clean(seen, page, text.count("<svg "))
    for k, source in enumerate(sources, 1):  # one section per input, in order
        assert str(source) in seen["text"]
    headings = browser.execute_script("return Array.from(document.querySelectorAll('section > h2'))"
                                      ".map(e => e.innerText)")
    assert [h.split(".")[0] for h in headings] == [str(k) for k in range(1, len(sources) + 1)]


@needs_browser
def test_hostile_text_is_shown_not_run(page_of, browser):
    page, _ = page_of("hostile")
    seen = view(browser, page)
    assert seen["title"] == "contractlab report"  # no script ran, no onerror fired
    assert HOSTILE_ID in seen["text"] and HOSTILE_DETAIL in seen["text"]
    assert "instance=7" in seen["text"]  # the counterexample hypothesis shrank to
    assert seen["urls"] == [] and seen["scripts"] == 0


@needs_browser
def test_the_checks_catch_an_external_resource(browser, tmp_path):
    """The same checks on a page that does load something from outside: they must fail."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><title>x</title></head><body>'
                    '<img src="http://203.0.113.9/x.png" width="10" height="10"></body></html>')
    seen = view(browser, page)
    assert seen["urls"] and any(u.startswith("http://203.0.113.9") for u in seen["requests"])
    with pytest.raises(AssertionError):
        assert_clean(seen, page, 1)


# --------------------------------------------------------------------------- no browser needed

class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_strings_are_escaped(page_of):
    _, text = page_of("hostile")
    parsed = _Tags()
    parsed.feed(text)
    tags = {t for t, _ in parsed.tags}
    assert "script" not in tags and "img" not in tags and "b" not in tags and "i" not in tags
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    shown = "".join(parsed.text)
    assert HOSTILE_ID in shown and HOSTILE_DETAIL in shown and "nowhere & <i>no one</i>" in shown


def test_page_is_self_contained(combined):
    """A Content-Security-Policy that forbids every fetch, and no URL anywhere in the page
    (matplotlib's namespace and metadata URLs are stripped from the inline SVGs)."""
    text = combined[2]
    assert "http://" not in text and "https://" not in text
    parsed = _Tags()
    parsed.feed(text)
    csp = [a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]
    assert not any(t in ("link", "script", "iframe", "object", "embed") for t, _ in parsed.tags)


def test_svg_ids_are_unique_across_figures(combined):
    """Several SVGs inline in one page must not share ids (a shared clip-path id would clip one
    figure with another's rectangle), and every reference to an id resolves within the page."""
    text = combined[2]
    parsed = _Tags()
    parsed.feed(text)
    ids = [a["id"] for _, a in parsed.tags if "id" in a]
    assert len(ids) > 10 and len(ids) == len(set(ids))
    refs = [html.unescape(r) for r in re.findall(r'(?:href="#|url\(#)([^")]+)', text)]
    assert refs and set(refs) <= set(ids)


def test_dataset_counts_and_ratios(dataset, page_of):
    cols = dataset[1]
    _, text = page_of("dataset")
    status = np.array(cols["status"])
    ok = status == "ok"
    assert f"{ok.size} instances: {ok.sum()} solved" in text
    assert f"{(~ok).sum()} failed" in text
    pv, fb, lin = cols["principal_value"][ok], cols["first_best_welfare"][ok], cols["best_linear_utility"][ok]
    n_lin = int(np.sum(np.isfinite(lin) & (pv > 0)))  # NaN where no linear contract applies
    assert f"best linear utility / principal value (n = {n_lin})" in text.replace("&#x27;", "'")
    assert f"principal value / first-best welfare (n = {int(np.sum(fb > 0))})" in text
    for k in np.nonzero(~ok)[0]:  # each failed instance is listed, its error escaped
        assert f"<code>{cols['id'][k]}</code>" in text
    assert "LP failed &lt;x&gt;" in text and "LP failed <x>" not in text


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("contractlab: error: ")
    return lines[0]


def _write(path: Path, doc) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.mark.parametrize("case, expect", [
    ("not_json", "document"), ("unknown_kind", "kind"), ("bad_version", "version"),
    ("theorem_field", "theorems[0].passed"), ("theorem_missing", "theorems[0].id"),
    ("curve_lengths", "principal_value"), ("design_shape", "designers.metagrad.welfare_curve"),
    ("regret_field", "horizons"), ("solution_field", "expected_payment"), ("folder", "dataset"),
    ("fifo", "input"), ("too_big", "input"),
    ("parquet_column", "hash"), ("parquet_memory", "memory budget"), ("parquet_status", "status[1]"), ("parquet_garbage", "index.parquet"),
])
def test_bad_input_exits_2_with_one_line(case, expect, inputs, tmp_path, capsys):
    verify = json.loads(inputs["verify"].read_text())
    extra = []
    path = tmp_path / f"{case}.json"
    if case == "not_json":
        _write(path, "{not json")
    elif case == "unknown_kind":
        _write(path, {"kind": "pamdp", "version": 1})
    elif case == "bad_version":
        _write(path, dict(verify, version=7))
    elif case == "theorem_field":
        verify["theorems"][0]["passed"] = "yes"
        _write(path, verify)
    elif case == "theorem_missing":
        del verify["theorems"][0]["id"]
        _write(path, verify)
    elif case == "curve_lengths":
        curve = json.loads(inputs["curve"].read_text())
        curve["principal_value"] = curve["principal_value"][:-1]
        _write(path, curve)
    elif case == "design_shape":
        design = json.loads(inputs["design"].read_text())
        design["designers"]["metagrad"]["welfare_curve"][0].append(1.0)
        _write(path, design)
    elif case == "regret_field":
        regret = json.loads(inputs["regret"].read_text())
        regret["horizons"] = regret["horizons"][::-1]
        _write(path, regret)
    elif case == "solution_field":
        solution = json.loads(inputs["solution"].read_text())
        solution["expected_payment"] = solution["expected_payment"][:-1]
        _write(path, solution)
    elif case == "folder":
        path = tmp_path / "empty_folder"
        path.mkdir()
    elif case == "fifo":
        path = tmp_path / "pipe.json"
        os.mkfifo(path)
    elif case == "too_big":
        path = inputs["verify"]
        extra = ["--max-file-size", "100"]
    else:
        pa = pytest.importorskip("pyarrow", reason="pyarrow (the dataset reader) is not installed")
        import pyarrow.parquet as pq
        path = tmp_path / "bench"
        path.mkdir()
        cols = {"id": ["a", "b"], "family": ["f", "f"], "params": ["{}", "{}"], "seed": [0, 1],
                "status": ["ok", "maybe"], "error": [None, None], "principal_value": [1.0, 2.0],
                "agent_value": [0.0, 0.0], "first_best_welfare": [2.0, 2.0], "best_linear_utility": [None, 1.0],
                "certificate": ["exact", "exact"], "solve_seconds": [0.1, 0.2], "hash": ["x", "y"]}
        if case == "parquet_column":
            del cols["hash"]
        if case == "parquet_memory":
            cols["status"] = ["ok", "ok"]
            extra = ["--max-memory", "1000"]
        if case == "parquet_garbage":
            (path / "index.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
        else:
            pq.write_table(pa.table(cols), path / "index.parquet")
    out = tmp_path / "out.html"
    assert main(["report", str(path), str(inputs["regret"]), "--out", str(out), *extra]) == 2
    line = _one_error_line(capsys)
    assert expect in line and str(path.name) in line
    assert len(line) <= 300
    assert not out.exists()


def test_out_is_checked_before_any_input_is_read(tmp_path, capsys):
    bad_input = _write(tmp_path / "bad.json", "{")
    out = tmp_path / "no such folder" / "r.html"
    assert main(["report", str(bad_input), "--out", str(out)]) == 2
    assert "--out" in _one_error_line(capsys)
    assert main(["report", str(bad_input), "--out", str(bad_input)]) == 2  # would overwrite its input
    assert "--out" in _one_error_line(capsys)
    assert bad_input.read_text() == "{"


def test_missing_matplotlib_is_one_line_naming_the_extra(inputs, tmp_path, capsys, monkeypatch):
    import sys
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "r.html"
    assert main(["report", str(inputs["regret"]), "--out", str(out)]) == 2
    assert "contractlab[plots]" in _one_error_line(capsys)
    assert not out.exists()


def test_writes_wrote_line_to_stderr_only(inputs, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(inputs["check"]), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"wrote {out}"
    doc = json.loads(inputs["check"].read_text())
    text = out.read_text()
    # the learned-vs-exact table shows the check's own numbers
    for key in ("spe_value", "policy_value"):
        if doc[key] is not None and math.isfinite(doc[key]):
            assert f"{doc[key]:.6g}" in text


def _leaves(doc, prefix=()):
    """Paths to the values of a JSON document (dict keys; the first two items of a list)."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc[:2]) if isinstance(doc, list) else ()
    for key, value in items:
        if prefix == () and key in ("kind", "version"):
            continue
        yield prefix + (key,)
        yield from _leaves(value, prefix + (key,))


ODD_VALUES = (None, "x", -1, 0, 1e300, True, [], {}, [[1.0, None]], {"mean": "m"})


@given(st.data())
def test_any_field_replaced_gives_a_page_or_one_line(inputs, data):
    """Replace one field anywhere in a real input by an odd value: the command writes the page or
    exits 2 with one line, never a traceback (the figures are drawn but not serialised, for speed)."""
    from contractlab.report import figures

    kind = data.draw(st.sampled_from(("verify", "regret", "design", "check", "curve", "solution")))
    doc = json.loads(inputs[kind].read_text())
    path = data.draw(st.sampled_from(list(_leaves(doc))))
    value = data.draw(st.sampled_from(ODD_VALUES))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    err = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(err), \
            mock.patch.object(figures, "to_svg", lambda fig: "<svg></svg>"):
        src = _write(Path(tmp) / "input.json", doc)
        code = main(["report", str(src), "--out", str(Path(tmp) / "r.html")])
        assert code in (0, 2)
        assert (Path(tmp) / "r.html").exists() == (code == 0)
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1 and "input.json" in err.getvalue()


def test_meta_algorithm_trace_is_written_checked_and_drawn(tmp_path, capsys):
    """``solve -o`` on a discounted cyclic instance records one trace entry per outer iteration
    (the last one changes nothing when it converged); the report draws it; a corrupted trace is
    refused with one line naming the field and index."""
    inst, sol = tmp_path / "d.json", tmp_path / "sol.json"
    assert _cli("generate", "random_discounted", "--states", 50, "--actions", 3, "--outcomes", 3, "--discount",
                0.95, "--seed", 1, "-o", inst)[0] == 0
    assert _cli("solve", inst, "-o", sol)[0] == 0
    doc = json.loads(sol.read_text())
    tr = doc["trace"]
    assert len(tr["changed"]) == len(tr["principal_value"]) == len(tr["agent_value"]) == doc["iterations"] > 1
    assert doc["converged"] and tr["changed"][-1] == 0 and min(tr["changed"][:-1]) > 0
    assert tr["principal_value"][-1] == pytest.approx(doc["principal_value"], abs=1e-6)
    page, text = _report(tmp_path, sol)
    assert "meta-algorithm: convergence" in text or "Convergence of the meta-algorithm" in text
    doc["trace"]["changed"][1] = -3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    capsys.readouterr()
    code = main(["report", str(bad), "--out", str(tmp_path / "bad.html")])
    err = capsys.readouterr().err
    assert code == 2 and "trace.changed" in err and len(err.strip().splitlines()) == 1
