"""The malformed-manifest corpus: each file in tests/malformed/ names where it goes
(``# target:``) and the problems lint must report (``# expect: LINE: field: message``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from packbuilder.catalog import check_tree
from tests.conftest import TESTS, run_cli

CASES = sorted((TESTS / "malformed").glob("*.yaml"))


def _headers(case: Path) -> tuple[str, list[str]]:
    lines = case.read_text(encoding="utf-8").splitlines()
    target = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("# target:"))
    expects = [line.split(":", 1)[1].strip() for line in lines if line.startswith("# expect:")]
    return target, expects


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_malformed_manifest_is_reported_with_line_and_field(case: Path, mini: Path) -> None:
    target, expects = _headers(case)
    assert expects, f"{case.name} has no '# expect:' line"
    dest = mini / target
    shutil.copy(case, dest)
    _, problems = check_tree(mini)
    errors = [p for p in problems if p.severity == "error"]
    rendered = [str(p) for p in errors]
    for expect in expects:
        wanted = f"{dest.name}:{expect}" if expect[0].isdigit() else expect
        assert any(wanted in line for line in rendered), f"{wanted!r} not in {rendered}"
    # Problems are all in the broken file: nothing is blamed on the good manifests around it.
    assert all(p.path.endswith(target) for p in errors), rendered


def test_cli_reports_every_problem_in_one_run_without_traceback(mini: Path) -> None:
    for name in ("04-short-hash.yaml", "21-pack-unknown-profile.yaml", "22-profile-bad-values.yaml"):
        target, _ = _headers(TESTS / "malformed" / name)
        shutil.copy(TESTS / "malformed" / name, mini / target)
    result = run_cli("manifest", "lint", str(mini))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 7, lines  # 1 hash + 3 pack references + 3 profile problems (glibc, cpu, ram)
    for line in lines:
        path, lineno, field, message = line.split(":", 3)
        assert path.endswith("broken.yaml") and lineno.isdigit() and field and message


def test_cli_lint_single_file_checks_references(mini: Path) -> None:
    shutil.copy(TESTS / "malformed" / "15-dangling-alternative.yaml", mini / "apps" / "broken.yaml")
    result = run_cli("manifest", "lint", str(mini / "apps" / "broken.yaml"))
    assert result.returncode == 1
    assert "alternatives[1]: unknown app 'nosuchapp'" in result.stdout
    assert "1 file(s) checked" in result.stderr


def test_cli_lint_unreadable_input_exits_2(tmp_path: Path) -> None:
    result = run_cli("manifest", "lint", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
