"""Boot menus of live bases with a persistence entry added (tests/fixtures/bootcfg: menus as
Debian's live-build writes them)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from packbuilder.image.bootcfg import grub_add_persistence, syslinux_add_persistence
from tests.conftest import FIXTURES

CFG = FIXTURES / "bootcfg"


def test_syslinux_entry_first_default_and_base_entries_kept() -> None:
    text = (CFG / "live.cfg").read_text()
    edited = syslinux_add_persistence(text)
    assert edited is not None
    labels = re.findall(r"^\s*label (\S+)", edited, re.MULTILINE)
    assert labels == ["packbuilder-persistence", "live-amd64", "live-amd64-fail"]
    first = edited.split("label live-amd64\n")[0]
    assert "menu label Avec sauvegarde (persistance)" in first and "menu default" in first
    assert "append boot=live components quiet splash findiso=${iso_path} persistence" in first
    assert edited.count("menu default") == 1  # the base's entry gave it up
    assert edited.endswith(text.split("label live-amd64-fail", 1)[1])  # the rest is untouched
    assert syslinux_add_persistence("label x\n\tkernel memtest\n") is None


def test_grub_entry_first_and_base_entries_kept() -> None:
    text = (CFG / "grub.cfg").read_text()
    edited = grub_add_persistence(text, "en")
    assert edited is not None
    titles = re.findall(r'menuentry "([^"]+)"', edited)
    assert titles[:3] == ["With saving (persistence)", "Live system (amd64)", "Live system (amd64 fail-safe mode)"]
    new = edited[edited.index('menuentry "With saving') : edited.index('menuentry "Live system (amd64)"')]
    assert "--hotkey" not in new
    assert "boot=live components quiet splash findiso=${iso_path} persistence\n" in new
    assert edited.replace(new, "") == text
    assert grub_add_persistence('menuentry "Memtest" { linux16 /memtest }') is None


def test_persistence_is_not_added_twice() -> None:
    text = (CFG / "grub.cfg").read_text().replace("quiet splash findiso", "quiet persistence splash findiso", 1)
    edited = grub_add_persistence(text)
    assert edited is not None and "persistence persistence" not in edited
    assert edited.count(" persistence") == text.count(" persistence") * 2


def test_grub_accepts_the_edited_config(tmp_path: Path) -> None:
    edited = grub_add_persistence((CFG / "grub.cfg").read_text())
    assert edited is not None
    (tmp_path / "grub.cfg").write_text(edited)
    subprocess.run(["grub-script-check", str(tmp_path / "grub.cfg")], check=True, timeout=30)
