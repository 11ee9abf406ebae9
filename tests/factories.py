"""Test artifacts and locks: one place that knows how to make them and every field a lock item needs."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packbuilder.model.lock import Lock


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def sevenzip_bytes(entries: dict[str, bytes]) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as sz:
        for name, data in entries.items():
            sz.writestr(data, name)
    return buf.getvalue()


def item(
    app: str,
    *,
    url: str,
    data: bytes | None = None,
    sha256: str | None = None,
    size: int | None = None,
    name: str | None = None,
    category: str = "office",
    platform: str = "windows",
    kind: str = "zip",
    dest: str | None = None,
    version: str = "1.0",
    **extra: Any,
) -> dict[str, Any]:
    """One lock item; give the artifact's bytes (``data``) or its ``sha256`` and ``size``."""
    name = name or app.title()
    if data is not None:
        sha256, size = hashlib.sha256(data).hexdigest(), len(data)
    return {
        "app": app,
        "name": name,
        "category": category,
        "license": "GPL-3.0-or-later",
        "homepage": f"https://{app}.example.org/",
        "source_code": f"https://{app}.example.org/src",
        "summary": {"fr": f"Résumé de {name}", "en": f"Summary of {name}"},
        "version": version,
        "platform": platform,
        "arch": "x86_64" if platform == "linux" else "x86",
        "kind": kind,
        "url": url,
        "sha256": sha256,
        "checksum_source": "test fixture",
        "size": size,
        "dest": dest or f"Apps/Bureautique/{name}",
        "reason": f"{app} {version}: newest release",
        **extra,
    }


def lock(
    items: Iterable[dict[str, Any]],
    *,
    pack: str = "t",
    label: str = "T",
    overlays: Iterable[str] = (),
    profile: str = "win7-32",
    key_mb: int = 4000,
    excluded: Iterable[dict[str, str]] = (),
) -> Lock:
    return Lock.model_validate(
        {
            "pack": {
                "id": pack,
                "name": {"fr": "Bureau", "en": "Office"},
                "label": label,
                "locale": "fr",
                "overlays": list(overlays),
            },
            "profile": {
                "id": profile,
                "name": {"fr": "Windows 7", "en": "Windows 7"},
                "os": "windows-7",
                "arch": "x86",
                "ram_mb": 2048,
                "key_mb": key_mb,
                "firmware": ["bios"],
            },
            "capacity_bytes": key_mb * 1_000_000,
            "items": list(items),
            "excluded": list(excluded),
        }
    )


def cached(cache: Path, *contents: bytes) -> None:
    """Put files in a content-addressed cache folder (``sha256/xx/<hash>``), as fetch leaves them."""
    for data in contents:
        digest = hashlib.sha256(data).hexdigest()
        (cache / "sha256" / digest[:2]).mkdir(parents=True, exist_ok=True)
        (cache / "sha256" / digest[:2] / digest).write_bytes(data)


def marker_catalog(dest: Path) -> Path:
    """A copy of tests/fixtures/mini at ``dest`` with a ``marker`` overlay: the fixture bases' boot
    menus look for /PACK/marker.txt on the medium they started from. Returns its manifests folder."""
    import shutil

    from tests.conftest import FIXTURES

    if not dest.exists():
        shutil.copytree(FIXTURES / "mini", dest)
        (dest / "overlays" / "marker" / "PACK").mkdir(parents=True)
        (dest / "overlays" / "marker" / "PACK" / "marker.txt").write_text("here\n")
    return dest / "manifests"
