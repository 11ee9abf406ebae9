"""``publish``: two real outputs (a zip and a FAT32 USB image) published through the CLI; the
checksums, signature, SBOMs and licence reports checked with independent tools; the site's
links followed; the pages shown by a real browser (headless Chromium)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from packbuilder.build.outputs import write_zip
from packbuilder.fetch.signature import dearmor
from packbuilder.model.lock import Lock
from packbuilder.plan.lock import lock_bytes
from packbuilder.site import format_size, group_images, render_site
from packbuilder.stage import write_manifest
from tests.conftest import run_cli
from tests.test_menu import png_pixels, run_chromium

pytestmark = pytest.mark.slow

EPOCH = int(dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp())
PROFILES = {
    "windows-7-x86": ("PC sous Windows 7, 32 bits, 2 Go de mémoire", "PC with Windows 7, 32-bit, 2 GB of memory", "x86"),
    "windows-10-x64": (
        "PC sous Windows 10 ou 11, 64 bits, 4 Go de mémoire",
        "PC with Windows 10 or 11, 64-bit, 4 GB of memory",
        "x86_64",
    ),
}
# (app, name, category, licence, version)
APPS = [
    ("keepassxc", "KeePassXC", "utilities", "GPL-3.0-or-later", "2.6.6"),
    ("gnucash", "GnuCash", "management", "GPL-2.0-or-later", "5.10"),
    ("sumatrapdf", "SumatraPDF", "office", "GPL-3.0-only", "3.5.2"),
]


def make_lock(profile: str, apps: list[tuple[str, str, str, str, str]]) -> Lock:
    fr, en, arch = PROFILES[profile]
    items = [
        {
            "app": app,
            "name": name,
            "category": category,
            "license": licence,
            "homepage": f"https://{app}.example.org/",
            "source_code": f"https://src.example.org/{app}/{app}-{version}.tar.xz",
            "summary": {"fr": f"Résumé de {name}.", "en": f"Summary of {name}."},
            "version": version,
            "date": "2025-06-01",
            "platform": "windows",
            "arch": arch,
            "kind": "zip",
            "url": f"https://dl.example.org/{app}/{app}-{version}-{arch}.zip",
            "sha256": hashlib.sha256(f"{app}-{arch}".encode()).hexdigest(),
            "checksum_source": "test",
            "size": 1000,
            "dest": f"Apps/Test/{name}",
            "reason": f"{app} {version}: newest release",
        }
        for app, name, category, licence, version in apps
    ]
    return Lock.model_validate(
        {
            "lock_version": 1,
            "pack": {
                "id": "asso-essentiel",
                "name": {"fr": "Essentiel <association>", "en": "Association essentials"},
                "label": "ASSO",
                "locale": "fr",
                "overlays": [],
            },
            "profile": {
                "id": profile,
                "name": {"fr": fr, "en": en},
                "os": "windows-7" if "7" in profile else "windows-10",
                "arch": arch,
                "ram_mb": 2048,
                "key_mb": 8000,
                "firmware": ["bios"],
            },
            "source_date": "2025-06-01",
            "capacity_bytes": 8_000_000_000,
            "items": items,
        }
    )


def make_tree(root: Path, lock: Lock) -> Path:
    """A small key tree with its embedded manifest (what `build` stages, minus the real apps)."""
    for item in lock.items:
        folder = root / item.dest
        folder.mkdir(parents=True)
        (folder / f"{item.app}.exe").write_bytes(f"{item.app} {item.version}".encode())
    (root / "Menu.html").write_text("<!doctype html><title>Menu</title>", encoding="utf-8")
    (root / ".packbuilder").mkdir()
    (root / ".packbuilder" / "pack.lock").write_bytes(lock_bytes(lock))
    manifest = write_manifest(root, lock)
    assert manifest["lock"] == json.loads(lock_bytes(lock))
    return root


def publish_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = run_cli("publish", *map(str, args))
    assert result.returncode == 0, result.stderr
    return result


def make_outputs(base: Path) -> list[Path]:
    """A zip and a 64 MB FAT32 usb image of two small locks."""
    zip_out = base / "asso-essentiel-windows-7-x86.zip"
    write_zip(make_tree(base / "tree-zip", make_lock("windows-7-x86", APPS)), zip_out, EPOCH)
    img_out = base / "asso-essentiel-windows-10-x64.img"
    tree = make_tree(base / "tree-img", make_lock("windows-10-x64", APPS[:2]))
    try:
        from packbuilder.image.fat import write_fat_image

        write_fat_image(tree, img_out, 64_000_000, "ASSO", 0x1234ABCD, EPOCH)
    except ImportError:  # the FAT writer is optional here: a second zip tests the same paths
        img_out = base / "asso-essentiel-windows-10-x64.zip"
        write_zip(tree, img_out, EPOCH)
    return [zip_out, img_out]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_outputs(tmp_path_factory.mktemp("outputs"))


@pytest.fixture(scope="module")
def site(outputs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site") / "site"
    result = publish_cli(*outputs, "-o", site)
    assert "published 2 image(s)" in result.stdout
    assert "sha256sum -c SHA256SUMS" in result.stdout
    return site


def site_files(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_sha256sums_checks_with_coreutils(site: Path, outputs: list[Path]) -> None:
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=site / "images", capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(f"{p.name}: OK" for p in outputs)
    assert not (site / "images" / "SHA256SUMS.sig").exists()


def test_index_json_lists_both_images(site: Path, outputs: list[Path]) -> None:
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    by_name = {i["name"]: i for i in index["images"]}
    assert sorted(by_name) == sorted(p.name for p in outputs)
    for out in outputs:
        image = by_name[out.name]
        assert image["size"] == out.stat().st_size
        assert image["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
        assert (site / image["file"]).read_bytes() == out.read_bytes()
        assert image["format"] == {".zip": "zip", ".img": "usb"}[out.suffix]
        assert image["date"] == "2025-06-01"
        assert {a["app"] for a in image["apps"]} <= {a[0] for a in APPS}
        assert (site / image["sbom"]).is_file() and (site / image["licences"]).is_file()


def test_sboms_are_valid_cyclonedx_1_5(site: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    validator = JsonStrictValidator(SchemaVersion.V1_5)
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    for image in index["images"]:
        text = (site / image["sbom"]).read_text(encoding="utf-8")
        assert validator.validate_str(text) is None, image["sbom"]
        bom = json.loads(text)
        assert bom["specVersion"] == "1.5"
        assert bom["metadata"]["component"]["hashes"][0]["content"] == image["sha256"]
        components = {c["name"]: c for c in bom["components"]}
        assert sorted(components) == sorted(a["app"] for a in image["apps"])
        for app in image["apps"]:
            assert components[app["app"]]["licenses"][0]["expression"] == app["license"]


def test_licence_reports_name_every_app_licence_and_source(site: Path) -> None:
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    for image in index["images"]:
        stem = image["licences"].removesuffix(".html")
        pages = {
            "fr": (site / image["licences"]).read_text(encoding="utf-8"),
            "en": (site / f"{stem}.en.html").read_text(encoding="utf-8"),
            "txt": (site / f"{stem}.txt").read_text(encoding="utf-8"),
        }
        assert "GPL" in pages["fr"] and "code source" in pages["fr"] and "source code" in pages["en"]
        for app in image["apps"]:
            for text in pages.values():
                for expected in (app["name"], app["version"], app["license"], app["source_code"], app["url"], app["sha256"]):
                    assert expected in text, f"{image['name']}: {expected} missing"


def test_publishing_twice_gives_the_same_files(site: Path, outputs: list[Path], tmp_path: Path) -> None:
    before = site_files(site)
    publish_cli(*outputs, "-o", site)
    assert site_files(site) == before
    # Elsewhere too: nothing depends on the site's path or on the time of day.
    other = tmp_path / "elsewhere"
    publish_cli(*reversed(outputs), "-o", other)
    assert site_files(other) == before
    today = dt.date.today().isoformat()
    for name, data in before.items():
        if not name.startswith("images/"):
            assert today.encode() not in data, name


def test_json_summary(outputs: list[Path], tmp_path: Path) -> None:
    result = publish_cli("--json", *outputs, "-o", tmp_path / "site")
    doc = json.loads(result.stdout)
    assert [i["name"] for i in doc["images"]] == sorted(p.name for p in outputs)
    assert doc["signature"] is None


def test_not_an_image_is_refused(tmp_path: Path) -> None:
    stray = tmp_path / "notes.zip"
    stray.write_bytes(b"not a zip")
    result = run_cli("publish", str(stray), "-o", str(tmp_path / "site"))
    assert result.returncode == 2, result.stderr
    assert "notes.zip" in result.stderr


# --- signing ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away OpenPGP key: (armored secret key file, binary public keyring for gpgv)."""
    base = tmp_path_factory.mktemp("gpg")
    home = base / "home"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home), "LANG": "C.UTF-8"}

    def gpg(*args: str) -> bytes:
        return subprocess.run(["gpg", "--batch", *args], env=env, capture_output=True, check=True, timeout=60).stdout

    gpg(
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-gen-key",
        "Publisher <publish@example.org>",
        "ed25519",
        "sign",
        "never",
    )
    secret = base / "secret.asc"
    secret.write_bytes(gpg("--armor", "--export-secret-keys", "publish@example.org"))
    keyring = base / "public.gpg"
    keyring.write_bytes(dearmor(gpg("--armor", "--export", "publish@example.org")))
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)
    return secret, keyring


def test_signed_sha256sums_verifies_with_gpgv(outputs: list[Path], signing_key: tuple[Path, Path], tmp_path: Path) -> None:
    secret, keyring = signing_key
    site = tmp_path / "site"
    result = publish_cli(*outputs, "-o", site, "--sign", secret)
    assert "SHA256SUMS.sig" in result.stdout
    images = site / "images"
    ok = subprocess.run(
        ["gpgv", "--keyring", str(keyring), "SHA256SUMS.sig", "SHA256SUMS"], cwd=images, capture_output=True, check=False
    )
    assert ok.returncode == 0, ok.stderr.decode(errors="replace")
    for page in ("index.html", "index.en.html"):
        assert 'href="images/SHA256SUMS.sig"' in (site / page).read_text(encoding="utf-8")
    guide = (site / "ecrire-une-cle.html").read_text(encoding="utf-8")
    assert "gpg --verify SHA256SUMS.sig SHA256SUMS" in guide and "gpgv --keyring" in guide
    # A changed list no longer verifies.
    sums = images / "SHA256SUMS"
    sums.write_text(sums.read_text().replace(outputs[0].name, "other.zip"))
    bad = subprocess.run(
        ["gpgv", "--keyring", str(keyring), "SHA256SUMS.sig", "SHA256SUMS"], cwd=images, capture_output=True, check=False
    )
    assert bad.returncode != 0
    # Publishing again without --sign removes the signature that no longer matches.
    publish_cli(*outputs, "-o", site)
    assert not (images / "SHA256SUMS.sig").exists()
    assert "SHA256SUMS.sig" not in (site / "index.html").read_text(encoding="utf-8")


# --- the site's pages ---------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.html_lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if tag == "html":
            self.html_lang = values.get("lang")
        if values.get("id"):
            self.ids.add(str(values["id"]))
        for name in ("href", "src"):
            if values.get(name) is not None:
                self.links.append(str(values[name]))


def parse(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_link_resolves_and_no_script(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert {p.relative_to(site).as_posix() for p in pages} >= {
        "index.html", "index.en.html", "ecrire-une-cle.html", "write-a-key.html",
    }  # fmt: skip
    parsed = {page: parse(page) for page in pages}
    for page, links in parsed.items():
        assert "script" not in links.tags, page
        assert links.html_lang in ("fr", "en"), page
        assert {"h1", "main", "nav"} <= links.tags, page
        assert any(link.endswith(".html") and "index" in link for link in links.links), f"{page}: no way back"
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https"):
                continue
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), f"{page}: {link} is not relative"
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.is_file(), f"{page.relative_to(site)}: {link} does not resolve"
            assert site.resolve() in target.parents, f"{page}: {link} leaves the site"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in parse(target).ids, f"{page}: {link} names no element of {target.name}"


def test_language_switch_on_every_page(site: Path) -> None:
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        assert 'aria-current="page">FR</span>' in text or 'aria-current="page">EN</span>' in text, page
        assert 'hreflang="en"' in text or 'hreflang="fr"' in text, page


def test_pages_escape_text_from_the_index(site: Path) -> None:
    text = (site / "index.html").read_text(encoding="utf-8")
    assert "Essentiel &lt;association&gt;" in text and "<association>" not in text


def test_render_site_is_deterministic(site: Path, tmp_path: Path) -> None:
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    first = render_site(index, tmp_path / "a", signed=True)
    second = render_site(index, tmp_path / "b", signed=True)
    assert [p.relative_to(tmp_path / "a") for p in first] == [p.relative_to(tmp_path / "b") for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))


def test_groups_by_kind_of_pc(site: Path, tmp_path: Path) -> None:
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    w7 = next(i for i in index["images"] if i["profile"]["id"] == "windows-7-x86")
    live = {**w7, "name": "vieux-pc.iso", "file": "images/vieux-pc.iso", "format": "iso"}
    live["licences"], live["sbom"] = "licences/vieux-pc.iso.html", "sbom/vieux-pc.iso.cdx.json"
    index["images"].append(live)
    titles = [g.title["fr"] for g in group_images(index["images"])]
    # Windows 7 before Windows 10 (numbers as numbers); images a PC starts from come last.
    assert titles == [
        PROFILES["windows-7-x86"][0],
        PROFILES["windows-10-x64"][0],
        PROFILES["windows-7-x86"][0] + ", démarrage sur la clé",
    ]
    render_site(index, tmp_path, signed=False)
    text = (tmp_path / "index.en.html").read_text(encoding="utf-8")
    assert "ISO image" in text and "started from the key" in text and "vieux-pc.iso" in text
    assert (tmp_path / "licences" / "vieux-pc.iso.en.html").is_file()


def test_sizes_in_words() -> None:
    assert format_size(7_600_000_000, "fr") == "7,6\u00a0Go"
    assert format_size(7_600_000_000, "en") == "7.6\u00a0GB"
    assert format_size(64_000_000, "fr") == "64\u00a0Mo"
    assert format_size(123_456_789, "en") == "123\u00a0MB"
    assert format_size(900, "fr") == "900\u00a0octets"


def test_pages_in_a_browser(site: Path, tmp_path: Path) -> None:
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    names = [i["name"] for i in index["images"]] + [a[1] for a in APPS]
    for page, words in (
        ("index.html", ["PC sous Windows 7, 32 bits", "Image de clé USB", "Archive zip", "Télécharger"]),
        ("index.en.html", ["PC with Windows 7, 32-bit", "USB key image", "Zip archive", "Download"]),
    ):
        result = run_chromium(tmp_path, "--window-size=1024,768", "--dump-dom", (site / page).as_uri())
        dom = result.stdout.decode("utf-8", errors="replace")
        assert result.returncode == 0 and "</html>" in dom, result.stderr.decode(errors="replace")[-2000:]
        for word in names + words:
            assert word in dom, f"{page}: {word} missing from the rendered page"
        assert "<script" not in dom.lower()

        shot = tmp_path / f"{page}.png"
        result = run_chromium(tmp_path, "--window-size=1024,768", f"--screenshot={shot}", (site / page).as_uri())
        assert shot.is_file(), result.stderr.decode(errors="replace")[-2000:]
        width, height, rows = png_pixels(shot.read_bytes())
        assert (width, height) == (1024, 768)
        bpp = len(rows[0]) // width
        colours = {row[i : i + 3] for row in rows[::8] for i in range(0, len(row), bpp * 4)}
        assert len(colours) > 20, f"{page}: the screenshot looks blank ({len(colours)} colours)"
        assert rows[5][:3] != rows[-5][:3]  # the header bar and the page: the style was applied
