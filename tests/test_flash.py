"""packbuilder flash: safety checks against recorded machines, parallel writes, read-back verification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from packbuilder import flash as fl
from packbuilder.errors import AssemblyError, InputError, VerificationError
from tests.conftest import FIXTURES, ROOT, run_cli

LSBLK = FIXTURES / "lsblk"
MiB = 2**20


def machine(name: str, doc: dict[str, Any] | None = None) -> fl.SystemView:
    """A recorded machine: lsblk JSON, /proc/mounts, /proc/swaps and, where recorded, /sys/block."""
    sys_block = FIXTURES / "sysblock" / name
    return fl.inspect_system(
        doc or json.loads((LSBLK / f"{name}.json").read_text()),
        (LSBLK / f"{name}.mounts").read_text(),
        (LSBLK / f"{name}.swaps").read_text(),
        fl.dm_names(sys_block) if sys_block.is_dir() else {},
    )


def refusal(view: fl.SystemView, path: str, size: int = 8 * 10**9) -> fl.Refusal:
    checked = fl.check_device(view, path, size)
    assert isinstance(checked, fl.Refusal), f"{path} should be refused"
    return checked


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A few MiB of pseudo-random bytes; the odd length exercises the last, unaligned block."""
    path = tmp_path / "asso.img"
    path.write_bytes(os.urandom(9 * MiB + 4097))
    return path


# --- safety checks over recorded machines --------------------------------------------------------


def test_laptop_system_nvme_refused_usb_key_accepted() -> None:
    view = machine("laptop-nvme-usbkey")
    nvme = refusal(view, "/dev/nvme0n1")
    assert nvme.target == "/dev/nvme0n1 (Samsung SSD 980 500GB, 500.1 GB)"
    text = "; ".join(nvme.reasons)
    assert "holds the running system" in text and "/ on /dev/nvme0n1p2" in text and "/boot/efi on /dev/nvme0n1p1" in text
    assert "swap on /dev/nvme0n1p3" in text and "not a removable or USB disk (transport nvme)" in text
    key = fl.check_device(view, "/dev/sda", 8 * 10**9)
    assert isinstance(key, fl.BlockDevice) and key.model == "SanDisk Cruzer Blade"
    assert [d.path for d in view.candidates()] == ["/dev/sda"]


def test_mounted_usb_key_refused_with_unmount_hint() -> None:
    view = machine("desktop-usbkey-mounted")
    key = refusal(view, "/dev/sdb")
    assert key.target == "/dev/sdb (Kingston DataTraveler 3.0, 30.9 GB)"
    assert key.reasons == ["has mounted file systems (/dev/sdb1 at /media/marie/CLE-ASSO)"]
    assert "udisksctl unmount -b /dev/sdb1" in key.hint
    assert any("swap file /swap.img on /dev/sda2" in r for r in view.system["/dev/sda"])
    assert "is a loop device, not a disk" in refusal(view, "/dev/loop0").reasons[0]
    assert "mounted: /dev/sdb1 at /media/marie/CLE-ASSO" in "\n".join(fl.candidate_lines(view))


def test_usb_disk_holding_root_refused_even_though_usb() -> None:
    view = machine("usb-root-disk")
    root = refusal(view, "/dev/sdb")
    assert root.reasons == ["holds the running system (/boot/efi on /dev/sdb1; / on /dev/sdb2; swap on /dev/sdb3)"]
    assert "not a removable or USB disk (transport sata)" in refusal(view, "/dev/sda").reasons[0]
    assert [d.path for d in view.candidates()] == ["/dev/sdc"]
    assert isinstance(fl.check_device(view, "/dev/sdc", 8 * 10**9), fl.BlockDevice)


def _without_mountpoints(node: dict[str, Any]) -> dict[str, Any]:
    children = [_without_mountpoints(c) for c in node.get("children", [])]
    return {**node, "mountpoints": [None], "children": children, "blockdevices": children}


def test_lvm_system_found_from_proc_files_alone() -> None:
    """Without lsblk's mount points, /proc/mounts and /proc/swaps (dm-2) still find the disk under LUKS and LVM."""
    doc = json.loads((LSBLK / "lvm-laptop.json").read_text())
    view = machine("lvm-laptop", {"blockdevices": [_without_mountpoints(d) for d in doc["blockdevices"]]})
    assert view.system["/dev/sda"] == [
        "/ on /dev/mapper/vgubuntu-root",
        "/boot on /dev/sda2",
        "/boot/efi on /dev/sda1",
        "swap on /dev/mapper/vgubuntu-swap_1",
    ]
    assert "/dev/sdb" not in view.system and [d.path for d in view.candidates()] == ["/dev/sdb"]


def test_partition_refused_with_the_disk_to_give() -> None:
    part = refusal(machine("laptop-nvme-usbkey"), "/dev/sda1")
    assert part.reasons == ["is a partition, not a whole disk"] and "/dev/sda" in part.hint
    part = refusal(machine("lvm-laptop"), "/dev/sdb1")
    assert part.target.startswith("/dev/sdb1 (unknown model, 6.2 GB)") and "give the whole disk: /dev/sdb" in part.hint


def test_key_smaller_than_image_refused() -> None:
    small = refusal(machine("laptop-nvme-usbkey"), "/dev/sda", size=32 * 10**9)
    assert small.reasons == ["is smaller than the image (15.6 GB < 32.0 GB)"] and "--size" in small.hint


def test_candidates_show_model_size_partitions_and_labels() -> None:
    lines = fl.candidate_lines(machine("lvm-laptop"))
    assert lines == [
        "candidate devices:",
        '  /dev/sdb (Verbatim STORE N GO, 15.7 GB): sdb1 iso9660 "Ubuntu 24.04.1 LTS amd64" 6.2 GB, sdb2 vfat "ESP" 5.2 MB',
    ]
    empty = fl.inspect_system({"blockdevices": []}, "", "")
    assert "no removable or USB disk found" in fl.candidate_lines(empty)[0]


def test_unknown_device_refused() -> None:
    assert refusal(machine("laptop-nvme-usbkey"), "/dev/sdz").reasons == ["lsblk does not list it"]


# --- target planning --------------------------------------------------------------------------


def test_file_targets_refused_when_image_itself_missing_folder_twice_or_in_dev(image: Path, tmp_path: Path) -> None:
    twice = str(tmp_path / "a.img")
    args = [str(image), str(tmp_path / "nope" / "x.img"), twice, twice, "/dev/packbuilder-no-such"]
    with pytest.raises(InputError, match=r"refusing 4 of 5 target\(s\); nothing was written") as caught:
        fl.plan_targets(image, args, image.stat().st_size, probe=lambda: machine("laptop-nvme-usbkey"))
    details = "\n".join(caught.value.details)
    assert "refusing 4 of 5 target(s); nothing was written" in caught.value.message
    assert f"{image}: is the image itself" in details and "does not exist" in details and "is given twice" in details
    assert "/dev/packbuilder-no-such: no such device" in details and "/dev/sda (SanDisk Cruzer Blade, 15.6 GB)" in details
    assert not (tmp_path / "a.img").exists()


# --- writing and verifying ----------------------------------------------------------------------


def test_cli_flashes_three_files_at_once(image: Path, tmp_path: Path) -> None:
    targets = [tmp_path / f"key{n}.img" for n in range(3)]
    targets[0].write_bytes(b"old content, longer than nothing" * 10**5)  # replaced, not merged
    result = run_cli("flash", str(image), *map(str, targets), "--yes")
    assert result.returncode == 0, result.stderr
    for target in targets:
        assert target.read_bytes() == image.read_bytes()
        assert f"{target}: OK  write " in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("lang", "verify", "word"),
    [
        ("C", "--verify", "OK"),
        ("C", "--no-verify", "WRITTEN"),
        ("fr_FR.UTF-8", "--verify", "OK"),
        ("fr_FR.UTF-8", "--no-verify", "ÉCRIT"),
    ],
)
def test_each_target_s_state_in_the_user_s_language(image: Path, tmp_path: Path, lang: str, verify: str, word: str) -> None:
    """The line per key says its state in the volunteer's language; --json keeps the codes."""
    target = tmp_path / "k.img"
    result = run_cli("flash", str(image), str(target), "--yes", verify, env={"LANG": lang})
    assert result.returncode == 0, result.stderr
    assert f"{target}: {word}  " in result.stdout, result.stdout
    if lang != "C":
        assert "WRITTEN" not in result.stdout and "write " not in result.stdout


def test_cli_json_report(image: Path, tmp_path: Path) -> None:
    result = run_cli("--json", "flash", str(image), str(tmp_path / "k.img"), "--yes", "--no-verify")
    doc = json.loads(result.stdout)
    assert result.returncode == 0 and doc["size"] == image.stat().st_size
    assert doc["targets"][0]["status"] == "WRITTEN" and doc["targets"][0]["verify_mb_s"] is None


def test_corrupted_target_detected_and_named(image: Path, tmp_path: Path) -> None:
    targets = [fl.Target(tmp_path / f"key{n}.img") for n in range(3)]

    def damage(target: fl.Target) -> None:
        if target.path.name == "key1.img":
            with target.path.open("r+b") as fh:
                fh.seek(5 * MiB)
                fh.write(b"\xff")

    result = fl.flash(image, targets, before_verify=damage)
    assert [r.status for r in result.results] == ["OK", "FAILED", "OK"]
    with pytest.raises(VerificationError, match="read-back differs from the image on") as caught:
        result.check()
    assert caught.value.exit_code == 4 and str(tmp_path / "key1.img") in caught.value.message


def test_cli_exits_4_naming_the_bad_target(image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """The whole command, in-process, with a fault injected into the read-back."""
    from packbuilder.cli import main

    real_flash = fl.flash

    def truncate_second(target: fl.Target) -> None:
        if target.path.name == "b.img":
            os.truncate(target.path, MiB)

    monkeypatch.setattr(fl, "flash", lambda *a, **k: real_flash(*a, before_verify=truncate_second, **k))
    monkeypatch.setattr(sys, "argv", ["packbuilder", "flash", str(image), str(tmp_path / "a.img"), str(tmp_path / "b.img"), "-y"])
    with pytest.raises(SystemExit, match=r"^4$") as caught:
        main()
    err = capsys.readouterr().err
    assert caught.value.code == 4
    assert f"read-back differs from the image on {tmp_path / 'b.img'}" in err and "Traceback" not in err


def test_write_error_is_exit_5_and_other_targets_still_written(image: Path, tmp_path: Path) -> None:
    good = fl.Target(tmp_path / "good.img")
    result = fl.flash(image, [fl.Target(Path("/dev/full")), good])  # /dev/full: every write fails with ENOSPC
    assert result.results[0].error and "No space left" in result.results[0].error
    assert result.results[1].status == "OK" and good.path.read_bytes() == image.read_bytes()
    with pytest.raises(AssemblyError, match="writing failed on /dev/full") as caught:
        result.check()
    assert caught.value.exit_code == 5 and "/dev/full" in caught.value.message


def test_direct_io_path_with_unaligned_tail(image: Path, tmp_path: Path) -> None:
    """The block-device path (O_EXCL, O_DIRECT, fallbacks), run against an existing file standing in for a disk."""
    disk = tmp_path / "disk"
    disk.write_bytes(b"\0" * (16 * MiB))
    device = fl.BlockDevice("sdx", str(disk), 16 * MiB, "disk", True, True, "usb", "Test Key", None, (), None, None, None)
    result = fl.flash(image, [fl.Target(disk, device)])
    result.check()
    assert disk.read_bytes()[: image.stat().st_size] == image.read_bytes()


def test_without_yes_on_a_non_terminal_refuses(image: Path, tmp_path: Path) -> None:
    target = tmp_path / "key.img"
    proc = subprocess.run(
        [sys.executable, "-m", "packbuilder", "flash", str(image), str(target)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "refusing to erase without confirmation: standard input is not a terminal" in proc.stderr
    assert f"{target}: new file" in proc.stderr and "--yes" in proc.stderr and not target.exists()


def test_no_device_lists_candidates_and_exits_2(image: Path) -> None:
    result = run_cli("flash", str(image))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no DEVICE given" in result.stderr or "lsblk" in result.stderr


def test_missing_or_empty_image_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty.img").touch()
    for name, message in (("missing.img", "cannot read image"), ("empty.img", "is empty")):
        result = run_cli("flash", str(tmp_path / name), str(tmp_path / "k.img"), "--yes")
        assert result.returncode == 2 and message in result.stderr
