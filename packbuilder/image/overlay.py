"""ISO overlays: what the staged key adds to a base live ISO, decided before any engine writes.

``plan_overlay`` reads the base (through pycdlib) and the staged tree and returns an
:class:`OverlayPlan`; the engines of :mod:`packbuilder.image.iso` write it. What is added: the key
tree under ``/PACK/``; small redirect pages at the ISO root for the menu and the read-me pages (so
a volunteer opening the DVD finds them first); and, when the base carries Debian live's checksum
lists (``/md5sum.txt``, ``/sha256sum.txt``), those lists with the new files in them, so the live
system's integrity check ("Verify the medium") still passes.
"""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packbuilder.errors import AssemblyError, InputError
from packbuilder.fsutil import hash_file
from packbuilder.i18n import _
from packbuilder.image.iso9660.records import BLOCK, JOLIET_ESCAPES

PREFIX = "/PACK"
ROOT_FILES = ("Menu.html", "LISEZMOI.html", "README.html")
# Debian live's lists, in the order they are rebuilt: a list may name the one before it, never the reverse.
CHECKSUM_LISTS = (("/md5sum.txt", "md5"), ("/sha256sum.txt", "sha256"))


@dataclass(frozen=True)
class OverlayPlan:
    """Everything an engine writes, decided before any byte of the output is."""

    base: Path  # the base ISO (read-only)
    files: tuple[tuple[str, Path], ...]  # (ISO path like "/PACK/Menu.html", source file), sorted by ISO path
    dirs: tuple[str, ...]  # ISO directories to create (sorted, parents first), e.g. "/PACK", "/PACK/Apps"
    replace: tuple[tuple[str, bytes], ...]  # existing ISO files whose content is replaced
    epoch: int  # the timestamp of every added or changed file and directory (SOURCE_DATE_EPOCH semantics)

    @property
    def added_bytes(self) -> int:
        return sum(src.stat().st_size for _dest, src in self.files) + sum(len(data) for _dest, data in self.replace)


# --- reading the base --------------------------------------------------------------------------


class PycdlibReader:
    """Files of an ISO by their Rock Ridge (else Joliet, else ISO 9660) names, through pycdlib."""

    def __init__(self, iso: Path):
        import pycdlib
        from pycdlib.pycdlibexception import PyCdlibException

        self._error = PyCdlibException
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(iso))
        except (PyCdlibException, OSError) as exc:
            raise InputError(
                _("cannot read the file system of {iso}: {exc}").format(iso=iso, exc=exc),
                hint=_("check that it is a live ISO image"),
            ) from exc
        self._key = "rr_path" if self._iso.has_rock_ridge() else "joliet_path" if self._iso.has_joliet() else "iso_path"

    def close(self) -> None:
        self._iso.close()

    def __enter__(self) -> PycdlibReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, iso_path: str) -> str:
        if self._key == "iso_path":  # plain ISO 9660: upper case, version suffix on files
            return iso_path.upper() + ";1"
        return iso_path

    def exists(self, iso_path: str) -> bool:
        try:
            self._iso.get_record(**{self._key: self._path(iso_path)})
        except self._error:
            return False
        return True

    def read(self, iso_path: str) -> bytes:
        import io

        buf = io.BytesIO()
        try:
            self._iso.get_file_from_iso_fp(buf, **{self._key: self._path(iso_path)})
        except self._error as exc:
            raise InputError(_("cannot read {iso_path} from the base ISO: {exc}").format(iso_path=iso_path, exc=exc)) from exc
        return buf.getvalue()


@contextmanager
def base_reader(base: Path, reader: PycdlibReader | None = None) -> Iterator[PycdlibReader]:
    """``reader`` when the caller has the base open already (a build reads it three times: pycdlib
    parses the whole directory tree on every open, thousands of records on a Debian DVD), else the
    base opened for this block."""
    if reader is not None:
        yield reader
        return
    with PycdlibReader(base) as opened:
        yield opened


def has_joliet(iso: Path) -> bool:
    """The base carries a Joliet tree (what Windows shows of a DVD): a remaster must keep one."""
    with iso.open("rb") as f:
        for block in range(17, 17 + 64):
            f.seek(block * BLOCK)
            vd = f.read(BLOCK)
            if len(vd) < BLOCK or vd[1:6] != b"CD001" or vd[0] == 255:
                return False
            if vd[0] == 2 and vd[88:91] in JOLIET_ESCAPES:  # supplementary VD, UCS-2 levels 1-3
                return True
    return False


def volume_uuid(iso: Path) -> str | None:
    """The base's volume modification date as YYYYMMDDhhmmsscc: GRUB's ``--fs-uuid`` of the ISO.

    grub-mkrescue images find their own medium by this "UUID"; a remaster must keep it.
    """
    with iso.open("rb") as f:
        f.seek(16 * BLOCK + 830)
        raw = f.read(16)
    text = raw.decode("ascii", errors="replace")
    return text if text.isdigit() and text != "0" * 16 else None


# --- the plan ----------------------------------------------------------------------------------


def redirect_page(target: str) -> bytes:
    """A page that opens ``target`` (a relative URL): a meta refresh and a plain link, no JavaScript."""
    url = html.escape(target, quote=True)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="refresh" content="0; url={url}">\n'
        f"<title>{html.escape(PurePosixPath(target).name)}</title>\n</head>\n<body>\n"
        f'<p><a href="{url}">Ouvrir / Open {html.escape(target)}</a></p>\n</body>\n</html>\n'
    ).encode()


def scan_tree(tree: Path) -> tuple[list[str], list[str], list[str]]:
    """(folders, regular files, anything else) under ``tree``, as POSIX paths relative to it.

    Links are not followed (a link to a folder is "anything else"); the kinds come from the
    folder listing (``d_type``), so no file is stat'ed: thousands of files cost milliseconds.
    """
    dirs: list[str] = []
    files: list[str] = []
    others: list[str] = []
    pending = [("", str(tree))]
    while pending:
        rel_dir, full_dir = pending.pop()
        with os.scandir(full_dir) as entries:
            for entry in entries:
                rel = f"{rel_dir}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(rel)
                    pending.append((rel + "/", entry.path))
                elif entry.is_file(follow_symlinks=False):
                    files.append(rel)
                else:
                    others.append(rel)
    return dirs, files, others


def _walk(tree: Path) -> tuple[list[str], list[str]]:
    """(directories, files) of ``tree`` as POSIX paths relative to it, sorted; regular files only."""
    dirs, files, others = scan_tree(tree)
    for rel in sorted(others)[:1]:
        path = tree / rel
        if path.is_symlink():
            raise AssemblyError(
                _("{path}: links cannot go into the ISO").format(path=path),
                hint=_("the staged tree holds regular files only"),
            )
        raise AssemblyError(_("{path}: only regular files can go into the ISO").format(path=path))
    return sorted(dirs), sorted(files)


def _iso_key(path: str) -> bytes:
    """Sort key of ISO paths: byte order (LC_ALL=C), so a parent comes before its children."""
    return path.encode("utf-8")


def plan_overlay(
    base: Path,
    tree: Path,
    epoch: int,
    prefix: str = PREFIX,
    root_files: tuple[str, ...] = ROOT_FILES,
    *,
    extra_files: tuple[tuple[str, Path], ...] = (),
    extra_replace: tuple[tuple[str, bytes], ...] = (),
    work: Path | None = None,
    reader: PycdlibReader | None = None,
) -> OverlayPlan:
    """What to add to ``base``: ``tree`` under ``prefix``, root redirect pages, the checksum lists.

    ``extra_files`` and ``extra_replace`` add files outside ``prefix`` (the live layer) and replace
    existing ones (``/live/filesystem.module``). The redirect pages are written into ``work``
    (default: a folder beside ``tree``). A root page is left out when the base already has a file of
    that name (Debian's own README.html stays).
    """
    prefix = "/" + prefix.strip("/")
    rel_dirs, rel_files = _walk(tree)
    files = [(f"{prefix}/{rel}", tree / rel) for rel in rel_files]
    dirs = [prefix] + [f"{prefix}/{rel}" for rel in rel_dirs]
    with base_reader(base, reader) as reader:
        if reader.exists(prefix):
            raise InputError(
                _("{base} already has {prefix}/").format(base=base, prefix=prefix),
                hint=_("start from the distribution's own ISO, not a built one"),
            )
        work = work or tree.parent / f"{tree.name}.iso-root"
        for name in root_files:
            if (tree / name).is_file() and not reader.exists(f"/{name}"):
                work.mkdir(parents=True, exist_ok=True)
                page = work / name
                page.write_bytes(redirect_page(f"{prefix.lstrip('/')}/{name}"))
                os.utime(page, (epoch, epoch))
                files.append((f"/{name}", page))
        files.extend(extra_files)
        for iso_path, _source in extra_files:
            for parent in reversed(PurePosixPath(iso_path).parents[:-1]):
                if not reader.exists(str(parent)) and str(parent) not in dirs:
                    dirs.append(str(parent))
        replace = dict(extra_replace)
        for list_path, algo in CHECKSUM_LISTS:
            if reader.exists(list_path):
                replace[list_path] = _checksum_list(reader.read(list_path), algo, files, replace)
    files.sort(key=lambda item: _iso_key(item[0]))
    return OverlayPlan(
        base=base,
        files=tuple(files),
        dirs=tuple(sorted(dirs, key=_iso_key)),
        replace=tuple(sorted(replace.items(), key=lambda item: _iso_key(item[0]))),
        epoch=epoch,
    )


def _checksum_list(
    original: bytes, algo: str, files: list[tuple[str, Path]], replace: dict[str, bytes]
) -> bytes:
    """The base's list with the added and replaced files' hashes, sorted by path in byte order.

    Lines the overlay does not touch keep the base's hashes: the base's own files are not changed.
    """
    entries: dict[bytes, bytes] = {}
    dot = True
    for line in original.splitlines():
        if not line.strip():
            continue
        digest, _sep, path = line.partition(b"  ")
        if not path:
            digest, _sep, path = line.partition(b" *")  # binary-mode marker
        entries[path] = digest
    if entries:
        dot = all(p.startswith(b"./") for p in entries)
    lead = "." if dot else ""
    for iso_path, src in files:
        entries[(lead + iso_path if dot else iso_path.lstrip("/")).encode()] = hash_file(src, algo).encode()
    for iso_path, data in replace.items():
        key = (lead + iso_path if dot else iso_path.lstrip("/")).encode()
        if key in entries:
            entries[key] = hashlib.new(algo, data).hexdigest().encode()
    return b"".join(entries[p] + b"  " + p + b"\n" for p in sorted(entries))



def live_kind(base: Path, reader: PycdlibReader | None = None) -> str:
    """The base's live system, from its files: debian-live-boot, casper, or plain."""
    with base_reader(base, reader) as reader:
        if reader.exists("/live/filesystem.squashfs"):
            return "debian-live-boot"
        if reader.exists("/casper/filesystem.squashfs"):
            return "casper"
    return "plain"
