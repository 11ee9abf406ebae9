"""The maintainers' catalog report: coverage by pack, profile and category; source ages; exact sizes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from packbuilder.catalog import Catalog, load_catalog
from packbuilder.report import build_report, report_markdown, source_date
from tests.conftest import FIXTURES, ROOT, run_cli

DAY = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def fixture_catalog() -> Catalog:
    return load_catalog(FIXTURES / "resolver" / "manifests")


def test_source_date_is_the_newest_date_written_in_the_source() -> None:
    text = "ScoopInstaller/Extras bucket/x.json @ abc (2024-09-03); same hash in y @ def (2026-08-22)"
    assert source_date(text) == dt.date(2026, 8, 22)
    assert source_date("upstream checksum file https://example.org/SHA256SUMS") is None
    assert source_date("news/200628-3.11.news, not a date (2026-13-45)") is None


def test_coverage_by_category_with_dependencies_base_apps_and_reasons(fixture_catalog: Catalog) -> None:
    report = build_report(fixture_catalog, DAY)
    rows = {(r["pack"], r["profile"]): r for r in report["coverage"]}
    printing = rows[("print", "w7-32")]["categories"]
    assert [a["app"] for a in printing["graphics"]["apps"]] == ["layout"]
    needed_by = {a["app"]: a.get("needed_by") for a in printing["utilities"]["apps"]}
    assert needed_by == {"postscript": "layout", "fonts": "postscript"}
    assert printing["web"]["missing"][0]["reason"].startswith("mailer excluded: 140.0 needs Windows 10 or later")
    live = rows[("live", "linux-228")]
    assert live["base"] == "live-old"
    assert live["categories"]["web"]["from_base"] == [{"app": "browser", "version": "115.0esr"}]
    assert live["categories"]["utilities"]["from_base"] == [{"app": "notes", "version": "1.0"}]
    # A pack that names no profiles is reported on all of them, and its empty keys are listed.
    assert "all/linux-227" in report["summary"]["empty_keys"] and rows[("all", "linux-227")]["empty"]


def test_artifact_rows_say_source_age_and_whether_the_size_is_exact(fixture_catalog: Catalog) -> None:
    report = build_report(fixture_catalog, DAY)
    rows = report["artifacts"]
    assert len(rows) == report["summary"]["artifacts"] == sum(
        len(r.artifacts) for a in fixture_catalog.apps.values() for r in a.releases
    )
    assert all(r["source_date"] is None and r["source_age_days"] is None for r in rows)  # "fixture" has no date
    assert report["summary"]["sources_without_date"] == len(rows)
    assert all(r["size_exact"] for r in rows)  # every fixture artifact gives its exact size


def test_markdown_has_a_table_per_pack_and_one_row_per_artifact(fixture_catalog: Catalog) -> None:
    text = report_markdown(build_report(fixture_catalog, DAY))
    assert text.startswith("# Catalog report (2026-11-30)\n")
    assert "### print\n\n| profile | graphics | utilities | web |" in text
    assert "| linux-227 **EMPTY** |" in text
    assert "| layout | 1.6.0 | windows/x86 exe | sha256 | no date | — | exact |" in text


def test_shipped_catalog_report_has_no_empty_key_and_dated_sources() -> None:
    report = build_report(load_catalog(ROOT / "manifests"), DAY)
    assert report["summary"]["empty_keys"] == []
    assert report["apps"] >= 60
    dated = [r for r in report["artifacts"] if r["source_date"]]
    assert dated and all(r["source_age_days"] == (DAY - dt.date.fromisoformat(r["source_date"])).days for r in dated)
    vieux = {(r["profile"]): r for r in report["coverage"] if r["pack"] == "vieux-pc"}
    assert vieux["linux-i686-bios-1g"]["base"] == "debian-live-12-i386"


def test_cli_writes_markdown_and_json(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    result = run_cli("catalog", "report", "--date", "2026-11-30", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("# Catalog report (2026-11-30)")
    result = run_cli("catalog", "report", "--json", "--date", "2026-11-30")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["date"] == "2026-11-30" and data["summary"]["empty_keys"] == []
    bad = run_cli("catalog", "report", "--date", "30/11/2026")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
