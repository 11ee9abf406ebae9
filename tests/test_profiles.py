"""Profiles from files: ``--profile FILE.yaml`` checked like the catalog's, ``profiles new``, and
the profile's notes said by plan and build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packbuilder.catalog import load_catalog, load_profile_arg
from packbuilder.errors import InputError
from packbuilder.model import Arch, CpuFlag, Firmware
from packbuilder.profiles import PcFacts, new_profile, parse_memory_mb, profile_yaml
from tests.conftest import ROOT, run_cli

SHIPPED = ROOT / "manifests"


@pytest.mark.parametrize(
    ("windows", "bits", "arch", "cpu", "firmware"),
    [
        ("xp", 32, Arch.X86, (CpuFlag.SSE2,), (Firmware.BIOS,)),
        ("7", 32, Arch.X86, (CpuFlag.SSE2, CpuFlag.PAE), (Firmware.BIOS,)),
        ("7", 64, Arch.X86_64, (CpuFlag.SSE2, CpuFlag.PAE, CpuFlag.NX), (Firmware.BIOS, Firmware.UEFI64)),
        ("11", 64, Arch.X86_64, (CpuFlag.SSE2, CpuFlag.PAE, CpuFlag.NX, CpuFlag.X86_64_V2), (Firmware.UEFI64,)),
    ],
)
def test_new_profile_from_what_the_pc_says(
    tmp_path: Path, windows: str, bits: int, arch: Arch, cpu: tuple[CpuFlag, ...], firmware: tuple[Firmware, ...]
) -> None:
    profile = new_profile("mon-pc", PcFacts(windows=windows, bits=bits, ram_mb=2048, key_mb=8000))
    assert (profile.arch, profile.cpu, profile.firmware) == (arch, cpu, firmware)
    path = tmp_path / "mon-pc.yaml"
    path.write_text(profile_yaml(profile), encoding="utf-8")
    assert load_profile_arg(load_catalog(SHIPPED), str(path)) == profile  # the written file reads back the same


def test_new_profile_refuses_what_cannot_be() -> None:
    with pytest.raises(InputError, match="64 bits only"):
        new_profile("p", PcFacts(windows="11", bits=32, ram_mb=4096, key_mb=8000))
    with pytest.raises(InputError, match="unknown Windows version '12'"):
        new_profile("p", PcFacts(windows="12", bits=64, ram_mb=4096, key_mb=8000))
    with pytest.raises(InputError, match="do not make a valid profile") as err:
        new_profile("Mon PC", PcFacts(windows="7", bits=32, ram_mb=2048, key_mb=8000))
    assert any(d.startswith("id: ") for d in err.value.details)


@pytest.mark.parametrize(
    ("name", "flags", "french"),
    [
        ("Mon PC.yaml", ("--bits", "32", "--ram", "2G"), "ces réponses ne donnent pas un profil valide"),
        ("pc.yaml", ("--bits", "abc", "--ram", "2G"), "--bits 'abc' : écrivez 32 ou 64"),
        ("pc.yaml", ("--bits", "32", "--ram", "beaucoup"), "--ram : 'beaucoup' n’est pas une taille"),
    ],
)
def test_profiles_new_says_in_french_what_is_wrong(tmp_path: Path, name: str, flags: tuple[str, ...], french: str) -> None:
    """A wrong answer is named in the volunteer's language, never with Python's or pydantic's English."""
    result = run_cli("profiles", "new", name, "--windows", "7", *flags, "--key-size", "8G", cwd=tmp_path,
                     env={"LANG": "fr_FR.UTF-8"})
    assert result.returncode == 2, result.stderr
    assert french in result.stderr, result.stderr
    assert "validation error" not in result.stderr and "invalid literal" not in result.stderr
    assert "conseil :" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_memory_is_counted_in_powers_of_two() -> None:
    assert [parse_memory_mb(t) for t in ("2G", "2 Go", "512M", "512", "1,5Go")] == [2048, 2048, 512, 512, 1536]


def test_profile_file_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nname: {fr: x, en: y}\nos: windows-12\narch: x86\nram_mb: -1\nfirmware: [bios]\nkey_mb: 4000\n")
    with pytest.raises(InputError) as err:
        load_profile_arg(load_catalog(SHIPPED), str(bad))
    assert any(d.endswith("bad.yaml:3: os: Input should be 'windows-xp', 'windows-vista', 'windows-7', 'windows-8.1', "
                          "'windows-10', 'windows-11' or 'linux'") for d in err.value.details)
    assert any("bad.yaml:5: ram_mb:" in d for d in err.value.details)
    result = run_cli("plan", "vieux-pc", "--profile", str(bad), cwd=tmp_path)
    assert result.returncode == 2 and "bad.yaml:3: os:" in result.stderr
    missing = run_cli("plan", "vieux-pc", "--profile", "./nope.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "profile file nope.yaml does not exist" in missing.stderr


def test_profiles_new_then_plan_with_the_file(tmp_path: Path) -> None:
    made = run_cli("profiles", "new", "mon-pc.yaml", "--windows", "xp", "--bits", "32", "--ram", "512M", "--key-size", "4Go",
                   cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "--profile mon-pc.yaml" in made.stdout
    again = run_cli("profiles", "new", "mon-pc.yaml", "--windows", "7", "--bits", "32", "--ram", "1G", "--key-size", "4G",
                    cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    plan = run_cli("plan", "vieux-pc", "--profile", "./mon-pc.yaml", "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert doc["profile"] == "mon-pc" and doc["capacity_bytes"] == 4_000_000_000
    assert all(item["arch"] == "x86" for item in doc["items"])
    assert "keep this PC offline" in doc["profile_notes"]["en"]


def test_profiles_new_without_a_terminal_names_the_missing_flag(tmp_path: Path) -> None:
    result = run_cli("profiles", "new", "pc.yaml", "--windows", "10", "--bits", "64", cwd=tmp_path)
    assert result.returncode == 2
    assert "--ram is needed" in result.stderr
    assert not (tmp_path / "pc.yaml").exists()


def test_plan_says_the_profile_notes_in_the_locale_language(tmp_path: Path) -> None:
    english = run_cli("plan", "vieux-pc", "--profile", "windows-xp-x86", cwd=tmp_path)
    assert english.returncode == 0
    assert "profile windows-xp-x86: Pentium 4 class. No browser receives security updates" in english.stderr
    french = run_cli("plan", "vieux-pc", "--profile", "windows-xp-x86", cwd=tmp_path, env={"LANG": "fr_FR.UTF-8"})
    assert "gardez ces PC hors ligne" in french.stderr
    quiet = run_cli("--quiet", "plan", "vieux-pc", "--profile", "windows-xp-x86", cwd=tmp_path)
    assert "Pentium" not in quiet.stderr
