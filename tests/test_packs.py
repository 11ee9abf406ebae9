"""``packs list`` and ``packs show``: the library answer and the command."""

from __future__ import annotations

import json
from pathlib import Path

from packbuilder.catalog import load_catalog
from packbuilder.packs import list_packs, pack_details
from tests.conftest import ROOT, run_cli

SHIPPED = ROOT / "manifests"


def test_list_packs_expands_categories_and_keeps_order() -> None:
    catalog = load_catalog(SHIPPED)
    packs = {p["id"]: p for p in list_packs(catalog)}
    assert set(packs) == set(catalog.packs)
    assert packs["asso-essentiel"]["apps"][:2] == ["libreoffice", "sumatrapdf"]
    assert "windows-7-x86" in packs["asso-essentiel"]["profiles"]


def test_pack_details_name_apps_profiles_and_file() -> None:
    catalog = load_catalog(SHIPPED)
    details = pack_details(catalog, catalog.pack("vieux-pc"))
    assert {"id": "abiword", "name": "AbiWord", "category": "office"} in details["apps"]
    assert details["profiles"][0]["id"] == "windows-xp-x86"
    assert details["label"] == "VIEUXPC"
    assert details["file"].endswith("packs/vieux-pc.yaml")


def test_packs_list_json_and_table(tmp_path: Path) -> None:
    result = run_cli("packs", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p["id"] for p in json.loads(result.stdout)["packs"]] == sorted(load_catalog(SHIPPED).packs)
    narrow = run_cli("packs", "list", cwd=tmp_path, env={"COLUMNS": "80"})
    assert narrow.returncode == 0
    assert "linux-i686-bios-1g" in narrow.stdout and "atelier-graphisme" in narrow.stdout  # ids never cut


def test_packs_show_by_id_and_by_file(tmp_path: Path) -> None:
    by_id = run_cli("packs", "show", "asso-essentiel", "--json", cwd=tmp_path)
    assert by_id.returncode == 0, by_id.stderr
    by_file = run_cli("packs", "show", str(SHIPPED / "packs" / "asso-essentiel.yaml"), "--json", cwd=tmp_path)
    assert json.loads(by_file.stdout)["apps"] == json.loads(by_id.stdout)["apps"]
    french = run_cli("packs", "show", "asso-essentiel", cwd=tmp_path, env={"LANG": "fr_FR.UTF-8"})
    assert "L'essentiel pour une association" in french.stdout and "Logiciels (11)" in french.stdout


def test_unknown_pack_points_at_packs_list(tmp_path: Path) -> None:
    result = run_cli("packs", "show", "asso-linux", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown pack 'asso-linux'" in result.stderr and "packbuilder packs list" in result.stderr


def test_profile_ids_are_not_cut_in_narrow_tables(tmp_path: Path) -> None:
    for argv in (["profiles", "list"], ["catalog", "list", "--profile", "windows-xp-x86"]):
        result = run_cli(*argv, cwd=tmp_path, env={"COLUMNS": "80"})
        assert result.returncode == 0
        assert "windows-10-x64-2g" in result.stdout or "gcompris" in result.stdout
    assert "windows-10-x64-2g" in run_cli("profiles", "list", cwd=tmp_path, env={"COLUMNS": "80"}).stdout
