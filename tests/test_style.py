"""The code style the project keeps, checked like behaviour: ruff (pyflakes and pycodestyle errors,
pyproject.toml [tool.ruff]) on the package, tests and benchmarks; snakefmt on the workflow."""

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True)


def test_ruff_is_clean(repo):
    result = run("ruff", "check", "--no-cache", ".", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_is_clean(repo):
    result = run("snakefmt", "--check", "Snakefile", "workflow/rules", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_catches_an_unused_import(tmp_path):
    (tmp_path / "bad.py").write_text("import os\n")
    result = run("ruff", "check", "--no-cache", "--isolated", "bad.py", cwd=tmp_path)
    assert result.returncode == 1 and "F401" in result.stdout
