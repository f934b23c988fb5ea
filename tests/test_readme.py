"""The README's two commands are exactly what CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index("```bash")
    install_and_run, install_and_test = readme[start + 1], readme[start + 2]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_run in ci and install_and_test in ci
    assert ci.index(install_and_run) < ci.index(install_and_test)
    assert "contractlab verify" in install_and_run and "pytest" in install_and_test
