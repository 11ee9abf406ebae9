"""The command line as a user meets it."""

from __future__ import annotations

import json
from pathlib import Path

from packbuilder import __version__
from tests.conftest import run_cli


def test_version_and_help() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"packbuilder {__version__}"
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("catalog", "manifest", "profiles", "plan"):
        assert command in result.stdout


def test_catalog_list_json_lists_apps_by_category() -> None:
    result = run_cli("catalog", "list", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["count"] == len(doc["apps"]) >= 25
    firefox = next(a for a in doc["apps"] if a["id"] == "firefox-esr")
    assert firefox["latest"] == "140.14.0esr" and "115.15.0esr" in firefox["versions"]
    assert firefox["summary"]["fr"]


def test_catalog_list_for_a_profile_says_what_runs() -> None:
    result = run_cli("--json", "catalog", "list", "--profile", "windows-xp-x86", "--category", "web")
    doc = json.loads(result.stdout)
    runs = {a["id"]: a["profile"] for a in doc["apps"]}
    assert runs["firefox-esr"]["runs"] is False and "needs Windows 7 or later" in runs["firefox-esr"]["reason"]


def test_catalog_show_and_unknown_app() -> None:
    result = run_cli("catalog", "show", "gimp", "--json")
    assert json.loads(result.stdout)["id"] == "gimp"
    result = run_cli("catalog", "show", "gimpp")
    assert result.returncode == 2
    assert "unknown app 'gimpp'" in result.stderr and "did you mean gimp" in result.stderr


def test_profiles_list_json() -> None:
    doc = json.loads(run_cli("profiles", "list", "--json").stdout)
    ids = {p["id"] for p in doc["profiles"]}
    assert {"windows-xp-x86", "windows-7-x86", "windows-10-x64", "linux-i686-bios-1g"} <= ids


def test_usage_errors_exit_2_without_traceback() -> None:
    for args in (
        ["plan"],
        ["catalog", "list", "--category", "games"],
        ["manifest", "schema", "--kind", "nope"],
        ["plan", "asso-essentiel"],
        ["nosuchcommand"],
    ):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_broken_catalog_stops_commands_with_a_lint_hint(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "x.yaml").write_text("id: x\n")
    result = run_cli("--catalog", str(tmp_path), "catalog", "list")
    assert result.returncode == 2
    assert "x.yaml:1: name: required key is missing" in result.stderr
    assert "packbuilder manifest lint" in result.stderr


def test_lint_json_output() -> None:
    result = run_cli("manifest", "lint", "manifests", "--json")
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert doc["errors"] == 0 and doc["files"] >= 30


def test_quiet_prints_nothing_but_errors(tmp_path: Path) -> None:
    for args in (
        ["catalog", "list"],
        ["catalog", "list", "--profile", "windows-xp-x86"],
        ["catalog", "show", "gimp"],
        ["profiles", "list"],
        ["plan", "asso-essentiel", "--profile", "windows-7-x86", "--lock", str(tmp_path / "a.lock")],
    ):
        loud = run_cli(*args)
        assert loud.returncode == 0 and loud.stdout.strip(), (args, loud.stderr)
        quiet = run_cli("--quiet", *args)
        assert quiet.returncode == 0, (args, quiet.stderr)
        assert (quiet.stdout, quiet.stderr) == ("", ""), args
    assert (tmp_path / "a.lock").is_file()  # quiet, not idle
    result = run_cli("--quiet", "catalog", "show", "gimpp")
    assert result.returncode == 2 and "unknown app 'gimpp'" in result.stderr


def test_plan_size_must_be_a_size() -> None:
    result = run_cli("plan", "asso-essentiel", "--profile", "windows-7-x86", "--size", "huge")
    assert result.returncode == 2 and "'huge' is not a size: write e.g. 8G" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_is_one_json_document() -> None:
    result = run_cli("manifest", "schema", "--kind", "profile")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "packbuilder profile manifest"
