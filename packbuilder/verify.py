"""``verify``: re-hash a built key (folder, zip or usb image) against its embedded manifest."""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packbuilder import tools
from packbuilder.errors import CheckFailed, InputError
from packbuilder.fetch.hashes import new_hasher
from packbuilder.fsutil import hash_file
from packbuilder.i18n import _
from packbuilder.image.mbr import SECTOR, read_mbr
from packbuilder.paths import check_relpath
from packbuilder.stage import MANIFEST
from packbuilder.ui import NO_METER, Meter

if TYPE_CHECKING:
    from packbuilder.ui import Output

# What a person writes on the key, never checked: their documents (and the apps' settings, listed
# in the manifest's ``apps[].data``).
USER_DATA = ("Documents/",)


@dataclass
class Report:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.added)

    def details(self) -> list[str]:
        return (
            [_("missing: {path}").format(path=p) for p in self.missing]
            + [_("changed: {path}").format(path=p) for p in self.changed]
            + [_("added: {path}").format(path=p) for p in self.added]
        )

    def summary(self) -> str:
        return _("{missing} missing and {changed} changed file(s) of {checked}, {added} file(s) added").format(
            missing=len(self.missing), changed=len(self.changed), checked=self.checked, added=len(self.added)
        )


def _load_manifest(text: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
        assert isinstance(data, dict) and isinstance(data["files"], list)
        for entry in data["files"]:
            check_relpath(entry["path"])
            assert isinstance(entry["size"], int) and isinstance(entry["sha256"], str)
        return data
    except (ValueError, AssertionError, KeyError, TypeError):
        raise InputError(
            _("{where}: {manifest} is damaged").format(where=where, manifest=MANIFEST),
            hint=_("the key cannot be checked; rebuild it"),
        ) from None


def user_data(manifest: dict[str, Any]) -> tuple[str, ...]:
    """Folders whose content belongs to the key's users (with a trailing ``/``)."""
    apps = manifest.get("apps")
    if not isinstance(apps, list):
        apps = []
    data = [a["data"].rstrip("/") + "/" for a in apps if isinstance(a, dict) and isinstance(a.get("data"), str)]
    return USER_DATA + tuple(d for d in data if d != "/")


def _added(present: set[str], manifest: dict[str, Any]) -> list[str]:
    """Files in the folders packbuilder made (Apps/, AppImages/, Docs/, .packbuilder/...) that its
    manifest does not list. The key's root and folders the user made there are the user's."""
    listed = {entry["path"] for entry in manifest["files"]} | {MANIFEST}
    ours = tuple(f"{top}/" for top in {p.split("/", 1)[0] for p in listed if "/" in p})
    skip = user_data(manifest)
    return sorted(p for p in present - listed if p.startswith(ours) and not p.startswith(skip))


def verify_dir(root: Path, meter: Meter = NO_METER) -> Report:
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise InputError(
            _("{root} has no {manifest}: not a packbuilder key").format(root=root, manifest=MANIFEST),
            hint=_("give a folder, zip or image built by packbuilder"),
        )
    report = Report(manifest=_load_manifest(manifest_path.read_bytes(), str(root)))
    skip = user_data(report.manifest)
    entries = [entry for entry in report.manifest["files"] if not entry["path"].startswith(skip)]
    meter.total(sum(entry["size"] for entry in entries))
    for entry in entries:
        path = root / entry["path"]
        report.checked += 1
        if path.is_symlink() or not path.is_file():
            report.missing.append(entry["path"])
            meter.advance(entry["size"])
        elif path.stat().st_size != entry["size"]:
            report.changed.append(entry["path"])
            meter.advance(entry["size"])
        elif hash_file(path, meter=meter) != entry["sha256"]:
            report.changed.append(entry["path"])
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    report.added = _added(present, report.manifest)
    return report


def verify_zip(archive: Path, meter: Meter = NO_METER) -> Report:
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise InputError(_("{archive} has no {manifest}: not a packbuilder key").format(archive=archive, manifest=MANIFEST))
        report = Report(manifest=_load_manifest(zf.read(MANIFEST), str(archive)))
        skip = user_data(report.manifest)
        entries = [entry for entry in report.manifest["files"] if not entry["path"].startswith(skip)]
        meter.total(sum(entry["size"] for entry in entries))
        for entry in entries:
            report.checked += 1
            if entry["path"] not in names:
                report.missing.append(entry["path"])
                continue
            hasher = new_hasher("sha256")
            with zf.open(entry["path"]) as fh:
                while block := fh.read(1 << 20):
                    hasher.update(block)
                    meter.advance(len(block))
            if hasher.hexdigest() != entry["sha256"]:
                report.changed.append(entry["path"])
        report.added = _added({n for n in names if not n.endswith("/")}, report.manifest)
    return report


# MBR partition types of FAT volumes: FAT32 (CHS, LBA), FAT16 (LBA, CHS over 32 MiB).
FAT_TYPES = (0x0B, 0x0C, 0x0E, 0x06)


def fat_partition_offset(image: Path) -> int | None:
    """Byte offset of the first FAT partition of an MBR disk image, or None."""
    with image.open("rb") as fh:
        table = read_mbr(fh.read(SECTOR))
    for part in table.partitions if table is not None else ():
        if part.type in FAT_TYPES:
            return part.start * SECTOR
    return None


def partitions_end(image: Path) -> int:
    """Where the last partition of an MBR disk image ends, in bytes (0: no partition)."""
    with image.open("rb") as fh:
        table = read_mbr(fh.read(SECTOR))
    return max((part.end * SECTOR for part in table.partitions), default=0) if table is not None else 0


def verify_image(image: Path, meter: Meter = NO_METER) -> Report:
    offset = fat_partition_offset(image)
    if offset is None:
        raise InputError(_("{image} is not a folder, zip or FAT disk image built by packbuilder").format(image=image))
    size, end = image.stat().st_size, partitions_end(image)
    if size < end:
        raise CheckFailed(
            _("{image} is incomplete: {size:,} bytes where its partitions need {end:,}").format(image=image, size=size, end=end),
            hint=_("download or copy the image again (an interrupted download or a full disk cuts it short)"),
        )
    with tempfile.TemporaryDirectory(prefix="packbuilder-verify-") as tmp:
        env = {"MTOOLS_SKIP_CHECK": "1"}
        tools.run(["mcopy", "-s", "-n", "-i", f"{image}@@{offset}", "::/", tmp], env=env)
        return verify_dir(Path(tmp), meter)


def read_manifest(path: Path) -> dict[str, Any]:
    """The embedded manifest of a built key (folder, zip or usb image), without checking files."""
    if path.is_dir():
        target = path / MANIFEST
        if not target.is_file():
            raise InputError(_("{path} has no {manifest}: not a packbuilder key").format(path=path, manifest=MANIFEST))
        return _load_manifest(target.read_bytes(), str(path))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            try:
                return _load_manifest(zf.read(MANIFEST), str(path))
            except KeyError:
                raise InputError(
                    _("{path} has no {manifest}: not a packbuilder key").format(path=path, manifest=MANIFEST)
                ) from None
    offset = fat_partition_offset(path)
    if offset is None:
        raise InputError(_("{path} is not a folder, zip or FAT disk image built by packbuilder").format(path=path))
    proc = tools.run(["mtype", "-i", f"{path}@@{offset}", f"::/{MANIFEST}"], env={"MTOOLS_SKIP_CHECK": "1"}, check=False)
    if proc.returncode != 0:
        raise InputError(_("{path} has no {manifest}: not a packbuilder key").format(path=path, manifest=MANIFEST))
    return _load_manifest(proc.stdout, str(path))


def verify_compressed_image(image: Path, meter: Meter = NO_METER) -> Report:
    """A compressed USB image (.img.xz, .img.zst, .img.gz), streamed, never unpacked to disk: each range of
    its block map (beside it) against the map's sha256, else the whole raw image against the SHA256SUMS
    line of the uncompressed image beside it. ``checked`` counts ranges; ``changed`` names those that differ.
    The files inside are not listed: that needs the raw image (``verify asso.img``)."""
    import mmap
    import queue

    from packbuilder.errors import VerificationError
    from packbuilder.flash import load_map
    from packbuilder.flash.source import ImageReader

    block_map, _found = load_map(image, None)
    reader = ImageReader(image, block_map, keep_checks=False)
    pool: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    for _slot in range(3):  # one being hashed, one being decompressed, one spare
        pool.put(mmap.mmap(-1, 4 * 2**20))
    report = Report()
    meter.total(block_map.mapped_bytes if block_map is not None else reader.size)
    try:
        for chunk in reader.chunks(pool, 4 * 2**20):
            meter.advance(chunk.length)
            pool.put(chunk.buf)
    except VerificationError as exc:
        report.changed.append(exc.message)
    report.checked = len(block_map.ranges) if block_map else 1
    if reader.image_digest is not None and not report.changed:
        raw_name = image.name.rsplit(".", 1)[0]
        expected = _sums_line(image.parent / "SHA256SUMS", raw_name)
        if expected is not None and expected != reader.image_digest.hexdigest():
            report.changed.append(_("{name} (uncompressed) does not match SHA256SUMS").format(name=raw_name))
    return report


def _sums_line(sums: Path, name: str) -> str | None:
    try:
        return _lookup(sums.read_text(encoding="utf-8").splitlines(), name)
    except (OSError, UnicodeDecodeError):
        return None


def _lookup(lines: list[str], name: str) -> str | None:
    """The hash of file ``name`` in SHA256SUMS lines (GNU coreutils format), else None."""
    for line in lines:
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and Path(parts[1].lstrip("*")).name == name:
            return parts[0].lower()
    return None


def verify_output(path: Path, output: Output | None = None) -> Report:
    """Check a built key (folder, zip, usb image, compressed image) against its manifest; the bytes
    read show as a bar through ``output`` (by default the command's: :data:`packbuilder.ui.OUTPUT`)."""
    from packbuilder.flash.compressed import kind
    from packbuilder.ui import OUTPUT

    if not path.exists():
        raise InputError(_("{path} does not exist").format(path=path))
    with (output or OUTPUT).meter(_("Checking {output}").format(output=path.name)) as meter:
        if path.is_file() and kind(path) != "raw":
            return verify_compressed_image(path, meter)
        if path.is_dir():
            return verify_dir(path, meter)
        if zipfile.is_zipfile(path):
            return verify_zip(path, meter)
        return verify_image(path, meter)


def check_sums(image: Path, sums: Path, output: Output | None = None) -> None:
    """Compare a published image with its line in a SHA256SUMS file (GNU coreutils format), the bytes
    hashed shown through ``output`` (by default the command's).

    Raises CheckFailed, saying what is wrong, when it does not match."""
    from packbuilder.ui import OUTPUT

    try:
        lines = sums.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(_("cannot read {sums}: {exc}").format(sums=sums, exc=exc)) from None
    expected = _lookup(lines, image.name)
    if expected is None:
        raise InputError(
            _("{sums} has no line for {name}").format(sums=sums, name=image.name),
            hint=_("give the SHA256SUMS published with this image"),
        )
    with (output or OUTPUT).meter(_("Hashing {output}").format(output=image.name), image.stat().st_size) as meter:
        actual = hash_file(image, meter=meter)
    if actual != expected:
        raise CheckFailed(
            _("{name} does not match {sums}: expected {expected}, got {actual} (damaged or incomplete download)").format(
                name=image.name, sums=sums.name, expected=expected, actual=actual
            ),
            hint=_("download the image again"),
        )
