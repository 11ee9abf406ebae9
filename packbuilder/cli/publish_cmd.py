"""``packbuilder publish``: images, SHA256SUMS (optionally signed), SBOMs and the download site."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from packbuilder.cli.options import JsonOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.publish import Published


def publish(
    outputs: Annotated[
        list[Path],
        typer.Argument(metavar=_("OUTPUT"), help=_("Built images to publish (zip, usb .img or iso outputs of build).")),
    ],
    site: Annotated[Path, typer.Option("--output", "-o", help=_("Site folder to write (created if missing)."))],
    sign: Annotated[
        Path | None,
        typer.Option("--sign", metavar=_("KEYFILE"), help=_("Armored OpenPGP secret key: sign SHA256SUMS into SHA256SUMS.sig.")),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help=_("Address of the site: absolute links in os_list.json, a web-seeded .torrent per image."),
        ),
    ] = None,
    tracker: Annotated[
        list[str] | None,
        typer.Option("--tracker", metavar="URL", help=_("BitTorrent tracker announce URL for the torrents (repeatable).")),
    ] = None,
    json_flag: JsonOpt = False,
) -> None:
    """Publish built images: checksums, signature, SBOMs, licence reports and a static download site."""
    from packbuilder.publish import publish as publish_images

    set_json(json_flag)
    if tracker and not base_url:
        from packbuilder.errors import InputError

        raise InputError(_("--tracker needs --base-url"), hint=_("torrents are made only when the site's address is known"))
    with OUTPUT.step(_("Publishing {count} image(s) to {site}").format(count=len(outputs), site=site)):
        images = publish_images(outputs, site, sign, base_url, tuple(tracker or ()))
    images_dir = site / "images"
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "site": str(site),
                "index": str(site / "index.html"),
                "sha256sums": str(images_dir / "SHA256SUMS"),
                "signature": str(images_dir / "SHA256SUMS.sig") if sign else None,
                "os_list": str(site / "os_list.json"),
                "torrents": sorted(str(t) for t in images_dir.glob("*.torrent")),
                "images": [
                    {
                        "name": p.name,
                        "size": p.size,
                        "sha256": p.sha256,
                        "format": p.format,
                        "downloads": [{"name": d.name, "size": d.size, "sha256": d.sha256} for d in p.downloads],
                    }
                    for p in images
                ],
            }
        )
        return
    _print_published(images, site, base_url, sign is not None)


def _print_published(images: list[Published], site: Path, base_url: str | None, signed_sums: bool) -> None:
    images_dir = site / "images"
    line = _("  {name}  {size} bytes  {digest}")
    for image in images:
        OUTPUT.info(line.format(name=image.name, size=image.size, digest=f"sha256:{image.sha256}"))
        for d in image.downloads:
            OUTPUT.info(line.format(name=d.name, size=d.size, digest=f"sha256:{d.sha256}"))
    if base_url:
        OUTPUT.info(_("torrents (web seed {url}): {files}").format(url=base_url, files=f"{images_dir}/*.torrent"))
    signed = _(" (signed: SHA256SUMS.sig)") if signed_sums else ""
    OUTPUT.info(
        _("published {count} image(s) to {site}: open {index}{signed}").format(
            count=len(images), site=site, index=site / "index.html", signed=signed
        )
    )
    OUTPUT.info(_("check the downloads with: {command}").format(command=f"cd {images_dir} && sha256sum -c SHA256SUMS"))
