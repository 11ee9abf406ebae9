"""``publish``: put built images where associations can download and check them.

``SITE_DIR/images/`` holds the images, ``SHA256SUMS`` (GNU coreutils format: ``sha256sum -c``
works in that folder) and optionally its detached signature ``SHA256SUMS.sig``. Beside each USB
image: its compressed copies (``.img.xz``, ``.img.zst``) and block map (``.img.bmap``), all in
SHA256SUMS; a record in packbuilder's cache folder says how each copy was made, so that publishing the same image
again keeps its copies instead of compressing for minutes (:mod:`packbuilder.copies`). Beside
them: ``index.json`` (machine-readable), ``os_list.json`` (Raspberry Pi Imager's repository
format), one CycloneDX SBOM and one licence/source report per image, and the static download
site (French first).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from packbuilder import __version__, tools
from packbuilder.errors import InputError
from packbuilder.fsutil import FOLLOWED, hash_file
from packbuilder.i18n import _
from packbuilder.site import OS_LIST
from packbuilder.ui import OUTPUT, Meter, Output
from packbuilder.verify import read_manifest

if TYPE_CHECKING:
    from packbuilder.torrent import TorrentInfo

FORMAT_OF_SUFFIX = {".img": "usb", ".zip": "zip", ".iso": "iso"}
DOWNLOAD_ORDER = ("xz", "zst", "bmap")


@dataclass(frozen=True)
class Download:
    """A file published beside an image: a compressed copy (``xz``, ``zst``) or its block map (``bmap``)."""

    name: str
    kind: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Published:
    name: str
    path: Path
    size: int
    sha256: str
    manifest: dict[str, Any]
    downloads: tuple[Download, ...] = ()

    @property
    def lock(self) -> dict[str, Any]:
        return dict(self.manifest.get("lock", {}))

    @property
    def format(self) -> str:
        return FORMAT_OF_SUFFIX.get(self.path.suffix, "other")

    @property
    def date(self) -> str | None:
        return self.lock.get("source_date")


def _place(src: Path, dest: Path) -> None:
    """Hard-link when on the same file system (images are big), else copy."""
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _hash(path: Path, output: Output) -> str:
    """The file's sha256; a bar for a large one (a block map or a small image is hashed at once)."""
    size = path.stat().st_size
    if size < FOLLOWED:
        return hash_file(path)
    with output.meter(_("Hashing {name}").format(name=path.name), size) as meter:
        return hash_file(path, meter=meter)


def collect(outputs: list[Path], images_dir: Path, output: Output | None = None) -> list[Published]:
    """The images copied (or linked) into ``images_dir``, hashed, with their compressed copies and block
    maps; the bytes show through ``output`` (by default the command's)."""
    output = output or OUTPUT
    images_dir.mkdir(parents=True, exist_ok=True)
    published = []
    names = set()
    for src in outputs:
        if not src.is_file():
            raise InputError(
                _("{src} is not a built image file").format(src=src), hint=_("publish zip, usb (.img) or iso outputs of `build`")
            )
        if src.name in names:
            raise InputError(_("two images are named {name}").format(name=src.name), hint=_("rename one of them"))
        names.add(src.name)
        manifest = read_manifest(src)
        dest = images_dir / src.name
        if dest.resolve() != src.resolve():
            _place(src, dest)
        sha256 = _hash(dest, output)
        downloads = derived_files(dest, sha256, output) if FORMAT_OF_SUFFIX.get(dest.suffix) == "usb" else ()
        published.append(Published(src.name, dest, dest.stat().st_size, sha256, manifest, downloads))
    return sorted(published, key=lambda p: p.name)


Compressor = Callable[[Path, Path, Meter], None]


def derived_files(image: Path, image_sha256: str | None = None, output: Output | None = None) -> tuple[Download, ...]:
    """The block map and compressed copies of a USB image, beside it (same bytes each time); a copy made
    earlier from the same image with the same settings is kept rather than compressed again (:mod:`copies`)."""
    from packbuilder.copies import ensure_copy
    from packbuilder.flash.bmap import scan, to_xml
    from packbuilder.flash.compressed import compress_xz, compress_zst

    shown = output or OUTPUT
    image_sha256 = image_sha256 or _hash(image, shown)
    size = image.stat().st_size
    bmap = image.with_name(image.name + ".bmap")
    with shown.meter(_("Block map of {name}").format(name=image.name), size) as meter:
        bmap.write_text(to_xml(scan(image, meter)), encoding="utf-8")
    made = [(bmap, _hash(bmap, shown))]
    for kind, compress in (("xz", compress_xz), ("zst", compress_zst)):

        def run(src: Path, dest: Path, compress: Compressor = compress) -> None:
            with shown.meter(_("Compressing {name}").format(name=dest.name), size) as meter:
                compress(src, dest, meter)

        copy, sha256, _made = ensure_copy(image, image_sha256, kind, run, lambda path: _hash(path, shown))
        made.append((copy, sha256))
    return tuple(Download(p.name, p.suffix[1:], p.stat().st_size, sha256) for p, sha256 in made)


def write_sha256sums(images: list[Published], images_dir: Path) -> Path:
    path = images_dir / "SHA256SUMS"
    lines = [(p.sha256, p.name) for p in images] + [(d.sha256, d.name) for p in images for d in p.downloads]
    path.write_text("".join(f"{sha}  {name}\n" for sha, name in sorted(lines, key=lambda line: line[1])), encoding="utf-8")
    return path


def sign_file(path: Path, key_file: Path) -> Path:
    """Detached, armored OpenPGP signature made by gpg with the given secret key file."""
    if not key_file.is_file():
        raise InputError(
            _("signing key {key_file} does not exist").format(key_file=key_file),
            hint=_("export it with: gpg --export-secret-keys --armor KEYID > key.asc"),
        )
    sig = path.with_name(path.name + ".sig")
    with tempfile.TemporaryDirectory(prefix="packbuilder-gpg-") as home:
        os.chmod(home, 0o700)
        env = {"GNUPGHOME": home}
        tools.run(["gpg", "--batch", "--import", key_file], env=env, error=InputError)
        tools.run(
            [
                "gpg",
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--armor",
                "--detach-sign",
                "--output",
                sig,
                path,
            ],
            env=env,
            error=InputError,
        )
    return sig


def _apps(image: Published) -> list[dict[str, Any]]:
    return [
        {
            "app": i["app"],
            "name": i["name"],
            "version": i["version"],
            "license": i["license"],
            "category": i["category"],
            "source_code": i["source_code"],
            "url": i["url"],
            "sha256": i.get("sha256"),
            "sha512": i.get("sha512"),
            "platform": i["platform"],
            "arch": i["arch"],
        }
        for i in image.lock.get("items", [])
    ]


def index_document(images: list[Published]) -> dict[str, Any]:
    return {
        "format": 1,
        "generator": f"packbuilder {__version__}",
        "images": [
            {
                "file": f"images/{p.name}",
                "name": p.name,
                "format": p.format,
                "size": p.size,
                "sha256": p.sha256,
                "date": p.date,
                "pack": p.lock.get("pack", {}),
                "profile": p.lock.get("profile", {}),
                "lock_sha256": p.manifest.get("lock_sha256"),
                "apps": _apps(p),
                "sbom": f"sbom/{p.name}.cdx.json",
                "licences": f"licences/{p.name}.html",
                # What the site offers, in this order: xz first (the most tools read it: 7-Zip, balenaEtcher,
                # Raspberry Pi Imager), then zstd, then the block map.
                "downloads": [
                    {"file": f"images/{d.name}", "name": d.name, "kind": d.kind, "size": d.size, "sha256": d.sha256}
                    for d in sorted(p.downloads, key=lambda d: DOWNLOAD_ORDER.index(d.kind))
                ],
            }
            for p in images
        ],
    }


def sbom_json(image: Published) -> str:
    """A CycloneDX 1.5 SBOM: every app with version, licence, download URL and hash. Deterministic."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, XsUri
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import LicenseExpression
    from cyclonedx.output.json import JsonV1Dot5

    components = []
    for item in image.lock.get("items", []):
        hashes = []
        if item.get("sha256"):
            hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=item["sha256"]))
        if item.get("sha512"):
            hashes.append(HashType(alg=HashAlgorithm.SHA_512, content=item["sha512"]))
        refs = [
            ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(item["url"])),
            ExternalReference(type=ExternalReferenceType.VCS, url=XsUri(item["source_code"])),
            ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(item["homepage"])),
        ]
        components.append(
            Component(
                name=item["app"],
                version=item["version"],
                type=ComponentType.APPLICATION,
                bom_ref=f"{item['app']}@{item['version']}",
                description=item["summary"]["en"],
                licenses=[LicenseExpression(item["license"])],
                hashes=hashes,
                external_references=refs,
            )
        )
    date = image.date or "2000-01-01"
    metadata = BomMetaData(
        timestamp=dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC),
        component=Component(
            name=image.name,
            version=image.sha256[:12],
            type=ComponentType.FIRMWARE,
            bom_ref=f"image:{image.name}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=image.sha256)],
            external_references=_download_refs(image),
        ),
    )
    # A serial number derived from the image, not random: publishing twice gives the same file.
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"packbuilder:{image.sha256}"), metadata=metadata, components=components
    )
    # The image is made of its apps: say so, so the SBOM's dependency graph is complete.
    assert metadata.component is not None
    bom.register_dependency(metadata.component, components)
    text: str = JsonV1Dot5(bom).output_as_string(indent=2)
    return text


def _download_refs(image: Published) -> list[Any]:
    """The image and its compressed copies and block map as distribution links, relative to the SBOM's folder."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, XsUri

    files = [(image.name, image.sha256)] + [(d.name, d.sha256) for d in image.downloads]
    return [
        ExternalReference(
            type=ExternalReferenceType.DISTRIBUTION,
            url=XsUri(f"../images/{quote(name)}"),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha)],
        )
        for name, sha in files
    ]


def os_list(images: list[Published], base_url: str | None) -> dict[str, Any]:
    """Raspberry Pi Imager's repository feed (``rpi-imager --repo URL``): one entry per USB image, its .img.xz.

    Fields as in rpi-imager's doc/json-schema/os-list-schema.json (raspberrypi/rpi-imager, read at commit
    71754dd16416e96fa0f9849704f43804eaa8196d): required name, description, icon, url, extract_size,
    extract_sha256, image_download_size, release_date; image_download_sha256 is read by Imager for its
    download cache (not in that schema, which allows more properties). .xz rather than .zst: the schema
    says Imager before 1.7 does not read zstd. Imager fetches ``url`` and ``icon``: with ``base_url``
    they are absolute, else relative to the site folder (unverified whether Imager resolves those).
    """
    def link(path: str) -> str:
        return f"{base_url.rstrip('/')}/{quote(path)}" if base_url else quote(path)

    entries = []
    for image in images:
        xz = next((d for d in image.downloads if d.kind == "xz"), None)
        if xz is None:
            continue
        pack, profile = image.lock.get("pack", {}), image.lock.get("profile", {})
        title = (pack.get("name") or {}).get("fr") or pack.get("id") or image.name
        where = (profile.get("name") or {}).get("fr") or profile.get("id") or ""
        count = len(image.lock.get("items", []))
        entries.append(
            {
                "name": f"{title} ({where})" if where else title,
                "description": f"Clé USB de {count} logiciels libres portables, pour : {where}" if where else image.name,
                "icon": link(OS_LIST_ICON),
                "url": link(f"images/{xz.name}"),
                "extract_size": image.size,
                "extract_sha256": image.sha256,
                "image_download_size": xz.size,
                "image_download_sha256": xz.sha256,
                "release_date": image.date or "2000-01-01",
            }
        )
    return {"os_list": entries}


# A key drawn in two rectangles: the feed's icon, so Imager's list shows something recognisable.
ICON_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
<rect x="22" y="4" width="20" height="16" rx="2" fill="#8a8f98"/>
<rect x="14" y="18" width="36" height="42" rx="6" fill="#1f6feb"/>
<text x="32" y="46" font-family="sans-serif" font-size="14" fill="#fff" text-anchor="middle">USB</text>
</svg>
"""
OS_LIST_ICON = "os_list_icon.svg"


def add_torrents(
    files: list[Path],
    site: Path,
    base_url: str | None,
    trackers: list[str],
    dates: list[str | None],
    output: Output | None = None,
) -> dict[str, TorrentInfo]:
    """A .torrent per file, web-seeded from the site (none without a base URL); stale ones removed."""
    from packbuilder.torrent import remove_stale, torrent_date, write_torrents

    made = write_torrents(files, site, base_url, trackers, torrent_date(dates), output or OUTPUT) if base_url else {}
    remove_stale(site / "images", made.values())
    return made


def add_sums(sums: Path, files: list[Path]) -> None:
    """Append more files of the same folder to SHA256SUMS (a signature then covers them too)."""
    with sums.open("a", encoding="utf-8") as out:
        out.writelines(f"{hash_file(f)}  {f.name}\n" for f in sorted(files))


def publish(
    outputs: list[Path],
    site: Path,
    sign_key: Path | None = None,
    base_url: str | None = None,
    trackers: tuple[str, ...] = (),
    output: Output | None = None,
) -> list[Published]:
    """The site: images, their downloads, SHA256SUMS (signed with ``sign_key``), SBOMs, torrents and the
    pages. Long parts (hashing, compressing) show their bytes through ``output`` (by default the command's)."""
    from packbuilder.site import render_site
    from packbuilder.torrent import annotate, check_base_url, check_tracker

    # Bad addresses are refused before anything is written.
    if base_url is not None:
        base_url = check_base_url(base_url)
    trackers = tuple(check_tracker(t) for t in trackers)
    images_dir = site / "images"
    images = collect(outputs, images_dir, output)
    # Every published image file gets a torrent: the raw image and its compressed copies.
    files = [(p.path, p.date) for p in images]
    files += [(images_dir / d.name, p.date) for p in images for d in p.downloads if d.kind != "bmap"]
    torrents = add_torrents([f for f, _date in files], site, base_url, list(trackers), [d for _file, d in files], output)
    sums = write_sha256sums(images, images_dir)
    add_sums(sums, [t.torrent for t in torrents.values()])
    if sign_key is not None:
        sign_file(sums, sign_key)
    else:
        sums.with_name("SHA256SUMS.sig").unlink(missing_ok=True)
    (site / "sbom").mkdir(exist_ok=True)
    for image in images:
        (site / "sbom" / f"{image.name}.cdx.json").write_text(sbom_json(image) + "\n", encoding="utf-8")
    index = index_document(images)
    annotate(index, site, torrents)
    (site / "index.json").write_text(json.dumps(index, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    feed = os_list(images, base_url)
    (site / OS_LIST).write_text(json.dumps(feed, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (site / OS_LIST_ICON).write_text(ICON_SVG, encoding="utf-8")
    render_site(index, site, signed=sign_key is not None)
    return images
