"""Safe unpacking: real archives made here, and a corpus of hostile ones, each refused."""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import py7zr
import pytest

from packbuilder.unpack import UnsafeArchive, unpack

CAP = 10_000_000


def make_zip(path: Path, entries: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo("link")
            info.external_attr = 0o120777 << 16
            zf.writestr(info, symlink)
    return path


def make_tar(path: Path, entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:xz") as tf:
        for info in entries:
            payload = (data or {}).get(info.name)
            if payload is not None:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            else:
                tf.addfile(info)
    return path


def test_zip_7z_tar_and_installer_unpack(tmp_path: Path) -> None:
    files = {"App/app.exe": b"MZ" + b"x" * 5000, "App/lisez moi é.txt": b"bonjour"}
    make_zip(tmp_path / "a.zip", files)
    unpack(tmp_path / "a.zip", "zip", tmp_path / "z", CAP, "app 1")
    with py7zr.SevenZipFile(tmp_path / "a.7z", "w") as sz:
        for name, data in files.items():
            sz.writestr(data, name)
    unpack(tmp_path / "a.7z", "7z", tmp_path / "s", CAP, "app 1")
    reg = tarfile.TarInfo("App/app.exe")
    make_tar(tmp_path / "a.tar.xz", [reg], {"App/app.exe": files["App/app.exe"]})
    unpack(tmp_path / "a.tar.xz", "tar", tmp_path / "t", CAP, "app 1")
    # An installer is unpacked by 7z (a 7-Zip self-extractor is a 7z archive after a stub).
    subprocess.run(["7z", "a", "-bd", str(tmp_path / "setup.7z"), "App"], cwd=tmp_path / "z", check=True, capture_output=True)
    (tmp_path / "setup.7z").rename(tmp_path / "setup.exe")
    unpack(tmp_path / "setup.exe", "exe", tmp_path / "e", CAP, "app 1")
    for root in ("z", "s", "e"):
        for name, data in files.items():
            assert (tmp_path / root / name).read_bytes() == data, (root, name)
    assert (tmp_path / "t" / "App" / "app.exe").read_bytes() == files["App/app.exe"]


def _hostile(tmp_path: Path, case: str) -> tuple[Path, str]:
    if case == "zip-slip":
        return make_zip(tmp_path / "x.zip", {"../../evil.txt": b"x"}), "zip"
    if case == "zip-absolute":
        return make_zip(tmp_path / "x.zip", {"/etc/evil": b"x"}), "zip"
    if case == "zip-drive":
        return make_zip(tmp_path / "x.zip", {"C:\\Windows\\evil.dll": b"x"}), "zip"
    if case == "zip-backslash-slip":
        return make_zip(tmp_path / "x.zip", {"a\\..\\..\\evil.txt": b"x"}), "zip"
    if case == "zip-symlink":
        return make_zip(tmp_path / "x.zip", {"ok.txt": b"x"}, symlink="/etc/passwd"), "zip"
    if case == "zip-bomb":
        return make_zip(tmp_path / "x.zip", {"zeros.bin": bytes(CAP + 1)}), "zip"
    if case == "tar-symlink-escape":
        link = tarfile.TarInfo("App/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        return make_tar(tmp_path / "x.tar.xz", [link]), "tar"
    if case == "tar-device":
        dev = tarfile.TarInfo("App/null")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
        return make_tar(tmp_path / "x.tar.xz", [dev]), "tar"
    if case == "tar-absolute":
        return make_tar(tmp_path / "x.tar.xz", [tarfile.TarInfo("/tmp/evil")], {"/tmp/evil": b"x"}), "tar"
    if case == "7z-absolute":
        # py7zr refuses to write such names; 7-Zip stores full paths with -spf.
        (tmp_path / "evil.txt").write_bytes(b"x")
        subprocess.run(
            ["7z", "a", "-bd", "-spf", str(tmp_path / "x.7z"), str(tmp_path / "evil.txt")], check=True, capture_output=True
        )
        (tmp_path / "evil.txt").unlink()
        return tmp_path / "x.7z", "7z"
    if case == "7z-bomb":
        with py7zr.SevenZipFile(tmp_path / "x.7z", "w") as sz:
            sz.writestr(bytes(CAP + 1), "zeros.bin")
        return tmp_path / "x.7z", "7z"
    raise AssertionError(case)


CASES = [
    "zip-slip",
    "zip-absolute",
    "zip-drive",
    "zip-backslash-slip",
    "zip-symlink",
    "zip-bomb",
    "tar-symlink-escape",
    "tar-device",
    "tar-absolute",
    "7z-absolute",
    "7z-bomb",
]


@pytest.mark.parametrize("case", CASES)
def test_hostile_archives_are_refused_naming_the_artifact(tmp_path: Path, case: str) -> None:
    archive, kind = _hostile(tmp_path, case)
    dest = tmp_path / "out" / "App"
    with pytest.raises(UnsafeArchive, match=r"^evilapp 6\.6 \(x\.zip\): "):
        unpack(archive, kind, dest, CAP, "evilapp 6.6 (x.zip)")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
    assert not Path("/tmp/evil").exists()


def test_stored_and_deflated_members_unpacked_with_their_sha256(tmp_path: Path) -> None:
    """Stored members are copied block by block and hashed on a second thread (several members
    larger than the copy buffer, so buffers go round); deflated ones in line; the no-hash path is
    the kernel's copy. Each file and hash is checked against the bytes put in."""
    import hashlib
    import os

    entries = {f"App/part{i}.bin": os.urandom((1 << 20) * 2 + 1000 * i) for i in range(5)}
    entries |= {"App/empty.txt": b"", "App/small.dll": b"MZ" + os.urandom(100)}
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, (name, data) in enumerate(entries.items()):
            zf.writestr(name, data, zipfile.ZIP_STORED if i % 2 == 0 else zipfile.ZIP_DEFLATED)
    hashes: dict[str, tuple[int, str]] = {}
    unpack(archive, "zip", tmp_path / "hashed", 2 * CAP, "mixed", hashes)
    unpack(archive, "zip", tmp_path / "plain", 2 * CAP, "mixed")
    assert hashes == {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in entries.items()}
    for name, data in entries.items():
        assert (tmp_path / "hashed" / name).read_bytes() == data
        assert (tmp_path / "plain" / name).read_bytes() == data
