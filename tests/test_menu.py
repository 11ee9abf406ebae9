"""The key's menu: every link resolves on the key, no script, both languages, escaping,
byte-identical renders; then the pages as a real browser (headless Chromium) shows them."""

from __future__ import annotations

import datetime as dt
import html
import json
import posixpath
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from packbuilder.launchers import write_launchers
from packbuilder.menu import format_date, href, render_menu
from packbuilder.model.lock import Lock
from tests.conftest import ROOT

SOURCE_DATE = dt.date(2026, 3, 14)
GUIDE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Premiers pas avec la clé</title></head>
<body><p>Bienvenue.</p></body></html>
"""


def _item(app: str, name: str, category: str, platform: str, kind: str, dest: str, **extra: object) -> dict[str, object]:
    return {
        "app": app,
        "name": name,
        "category": category,
        "license": "MPL-2.0",
        "homepage": f"https://{app}.example.org/",
        "source_code": f"https://{app}.example.org/source",
        "summary": {"fr": f"Résumé de {name}.", "en": f"Summary of {name}."},
        "version": "1.0",
        "platform": platform,
        "arch": "x86_64" if platform == "linux" else "x86",
        "kind": kind,
        "url": f"https://{app}.example.org/{app}.bin",
        "sha256": "0" * 64,
        "checksum_source": "test",
        "size": 1000,
        "dest": dest,
        "reason": f"{app} 1.0: newest release",
        **extra,
    }


def make_lock() -> Lock:
    items = [
        _item(
            "firefox-esr",
            "Firefox ESR",
            "web",
            "windows",
            "exe",
            "Apps/Internet/Firefox ESR",
            summary={"fr": "Le <b>navigateur</b> & ses onglets", "en": "The <b>browser</b> & its tabs"},
            description={"fr": "Navigateur web libre.", "en": "Free web browser."},
        ),
        _item("ecrivain", "Écrivain", "education", "windows", "zip", "Apps/Education/Écrivain"),
        _item(
            "abiword",
            "AbiWord",
            "office",
            "windows",
            "exe",
            "Apps/Bureautique/AbiWord",
            replaces="libreoffice",
            reason="abiword 2.9.4 instead of libreoffice: 25.2.5 needs Windows 7 or later (profile: Windows XP, x86, 512 MiB)",
        ),
        _item("keepassxc", "KeePassXC", "utilities", "linux", "appimage", "AppImages/KeePassXC-1.0-x86_64.AppImage"),
    ]
    return Lock.model_validate(
        {
            "lock_version": 1,
            "pack": {
                "id": "t",
                "name": {"fr": "L'essentiel", "en": "The essentials"},
                "label": "ASSO",
                "locale": "fr",
                "overlays": ["docs-fr"],
            },
            "profile": {
                "id": "p",
                "name": {"fr": "PC sous Windows XP", "en": "PC with Windows XP"},
                "os": "windows-5.1",
                "arch": "x86",
                "ram_mb": 512,
                "key_mb": 4000,
                "firmware": ["bios"],
            },
            "source_date": SOURCE_DATE.isoformat(),
            "capacity_bytes": 4_000_000_000,
            "items": items,
            "excluded": [{"app": "pdfsam", "reason": "pdfsam excluded: 6.0.5 needs x86_64 (profile: Windows XP, x86, 512 MiB)"}],
        }
    )


LAUNCHERS: dict[str, str | None] = {
    "firefox-esr": "Apps/Internet/Firefox ESR/core/firefox.exe",
    "ecrivain": None,
    "abiword": "Apps/Bureautique/AbiWord/bin/AbiWord.exe",
    "keepassxc": "AppImages/KeePassXC-1.0-x86_64.AppImage",
}
DOCS = ["Docs/premiers-pas.html"]


def stage_tree(root: Path) -> None:
    """What staging leaves before the menu: the apps at their destinations, the guides."""
    programs = (
        "Apps/Internet/Firefox ESR/core/firefox.exe",
        "Apps/Bureautique/AbiWord/bin/AbiWord.exe",
        "Apps/Education/Écrivain/ecrivain.exe",
    )
    for rel in programs:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"MZ")
    (root / "AppImages").mkdir(parents=True)
    (root / "AppImages/KeePassXC-1.0-x86_64.AppImage").write_bytes(b"\x7fELF")
    (root / "Documents").mkdir()
    (root / "Docs").mkdir()
    (root / "Docs/premiers-pas.html").write_text(GUIDE, encoding="utf-8")


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, list[Path]]:
    """The key with a launcher for each Windows app that names its program, as staging writes them."""
    root = tmp_path / "key"
    stage_tree(root)
    lock = make_lock()
    programs = {i.app: LAUNCHERS[i.app] for i in lock.items}
    with_launch = tuple(
        i.model_copy(update={"launch": posixpath.relpath(str(programs[i.app]), i.dest)})
        for i in lock.items
        if programs[i.app] and i.platform.value == "windows"
    )
    starters = {a.app: a.launcher for a in write_launchers(with_launch, root)}
    return root, render_menu(lock, root, LAUNCHERS, DOCS, "9.8.7", starters)


class Page(HTMLParser):
    """Links, ids, tags and attributes of one page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        for name in ("href", "src"):
            value = attributes.get(name)
            if value is not None:
                self.links.append(value)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))


def pages(root: Path) -> dict[str, Page]:
    found = [p for p in sorted(root.rglob("*")) if p.suffix in (".html", ".hta")]
    return {p.relative_to(root).as_posix(): Page(p.read_text(encoding="utf-8")) for p in found}


def test_writes_both_languages_and_returns_the_files(key: tuple[Path, list[Path]]) -> None:
    root, written = key
    names = sorted(p.relative_to(root).as_posix() for p in written)
    expected = ["LISEZMOI.html", "Menu-en.html", "Menu-fichiers/style.css", "Menu.hta", "Menu.html", "README.html"]
    for app in LAUNCHERS:
        expected += [f"Menu-fichiers/apps/{app}.html", f"Menu-fichiers/apps/{app}.en.html"]
    assert names == sorted(expected)
    assert all(p.is_file() for p in written)


def test_every_link_resolves_on_the_key(key: tuple[Path, list[Path]]) -> None:
    root, _ = key
    external = {u for i in make_lock().items for u in (i.homepage, i.source_code)}
    generated = pages(root)
    for rel in generated:
        if rel.startswith("Docs/"):
            continue  # the overlay's own guide, not ours
        page = generated[rel]
        assert page.links, rel
        for link in page.links:
            if link.startswith(("http://", "https://")):
                assert link in external, f"{rel}: unexpected external link {link}"
                continue
            assert link.isascii() and " " not in link and "\\" not in link, f"{rel}: {link!r} is not encoded"
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not parts.path.startswith("/"), f"{rel}: {link} is not relative"
            if not parts.path:  # "#fragment": an id of this page
                assert parts.fragment in page.ids, f"{rel}: no id {parts.fragment}"
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), unquote(parts.path)))
            assert not target.startswith(".."), f"{rel}: {link} leaves the key"
            assert (root / target).exists(), f"{rel}: {link} -> {target} does not exist"
            if parts.fragment:
                assert parts.fragment in generated[target].ids, f"{rel}: {link}: no such id"


def test_links_with_spaces_and_accents_are_percent_encoded(key: tuple[Path, list[Path]]) -> None:
    root, _ = key
    menu = (root / "Menu.html").read_text(encoding="utf-8")
    assert 'href="Logiciels/Firefox%20ESR.cmd"' in menu  # the launcher, not the program
    assert 'href="Apps/Internet/Firefox%20ESR/"' in menu
    assert 'href="Apps/Education/%C3%89crivain/"' in menu  # no launcher: the folder
    assert href("Apps/A B/x.exe", "Menu-fichiers/apps/a.html") == "../../Apps/A%20B/x.exe"
    assert href("Apps/Ünï#1", "Menu.html", folder=True) == "Apps/%C3%9Cn%C3%AF%231/"


def test_no_script_and_accessible_structure(key: tuple[Path, list[Path]]) -> None:
    root, written = key
    for path in written:
        if path.suffix != ".hta":  # the HTA's one script starts launchers (test_launchers_menu.py)
            assert "<script" not in path.read_text(encoding="utf-8").lower(), path
    for rel, page in pages(root).items():
        if rel.startswith("Docs/") or rel.endswith(".hta"):
            continue
        tags = [t for t, _ in page.tags]
        assert "script" not in tags and "iframe" not in tags
        assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")], f"{rel}: event handler attribute"
        html = next(attrs for t, attrs in page.tags if t == "html")
        assert html.get("lang") == ("en" if rel in ("Menu-en.html", "README.html") or rel.endswith(".en.html") else "fr")
        assert tags.count("h1") == 1 and "title" in tags, rel
        assert all(attrs.get("alt") for t, attrs in page.tags if t == "img"), rel
        for tag, attrs in page.tags:
            if tag == "svg":
                assert attrs.get("aria-hidden") == "true" or attrs.get("aria-label"), rel


def test_language_switch_on_every_page(key: tuple[Path, list[Path]]) -> None:
    root, _ = key
    twins = {"Menu.html": "Menu-en.html", "LISEZMOI.html": "README.html"}
    twins |= {f"Menu-fichiers/apps/{a}.html": f"Menu-fichiers/apps/{a}.en.html" for a in LAUNCHERS}
    twins |= {v: k for k, v in twins.items()}
    for rel, twin in twins.items():
        text = (root / rel).read_text(encoding="utf-8")
        link = href(twin, rel)
        assert f'href="{link}"' in text, f"{rel} has no link to {twin}"
        assert "Français" in text and "English" in text


def test_french_and_english_texts(key: tuple[Path, list[Path]]) -> None:
    root, _ = key
    fr = (root / "Menu.html").read_text(encoding="utf-8")
    en = (root / "Menu-en.html").read_text(encoding="utf-8")
    for label in ("Bureautique", "Internet", "Utilitaires", "Éducation"):
        assert label in fr
    for label in ("Office", "Internet", "Utilities", "Education"):
        assert label in en
    assert "Résumé de AbiWord." in fr and "Summary of AbiWord." in en
    assert "Ouvrir le dossier" in fr and "Open the folder" in en
    # Order: office before web before utilities before education.
    assert fr.index('id="office"') < fr.index('id="web"') < fr.index('id="utilities"') < fr.index('id="education"')
    # Replacement and exclusion, with the resolver's reasons.
    assert "Remplace <strong>libreoffice</strong>" in fr and "25.2.5 needs Windows 7 or later" in fr
    assert "Replaces <strong>libreoffice</strong>" in en
    assert "Non inclus sur cette clé" in fr and "<strong>pdfsam</strong>" in fr and "6.0.5 needs x86_64" in fr
    assert "Not on this key" in en
    # Licence and source code.
    assert "MPL-2.0" in fr and 'href="https://abiword.example.org/source"' in fr
    # Footer: version, pack, profile, date; the guide by its title.
    assert "packbuilder 9.8.7" in fr and "14 mars 2026" in fr and "14 March 2026" in en
    assert "PC sous Windows XP" in fr and "PC with Windows XP" in en
    assert "Premiers pas avec la clé" in fr and "(in French)" in en
    readme = (root / "LISEZMOI.html").read_text(encoding="utf-8")
    assert "Menu.html" in readme and "AbiWord" in readme and 'href="Documents/"' in readme
    assert "Menu-en.html" in (root / "README.html").read_text(encoding="utf-8")


def test_linux_instructions_for_appimages(key: tuple[Path, list[Path]]) -> None:
    root, _ = key
    fr = (root / "Menu-fichiers/apps/keepassxc.html").read_text(encoding="utf-8")
    en = (root / "Menu-fichiers/apps/keepassxc.en.html").read_text(encoding="utf-8")
    assert 'chmod +x "AppImages/KeePassXC-1.0-x86_64.AppImage"' in fr
    assert "Autoriser l’exécution du fichier comme un programme" in fr and "Propriétés" in fr
    assert "Allow executing file as program" in en
    assert 'href="../../AppImages/KeePassXC-1.0-x86_64.AppImage"' in fr
    windows = (root / "Menu-fichiers/apps/firefox-esr.html").read_text(encoding="utf-8")
    assert "Démarrer sous Windows" in windows and "chmod" not in windows
    assert 'href="../../Logiciels/Firefox%20ESR.cmd"' in windows


def test_texts_from_the_lock_are_escaped(key: tuple[Path, list[Path]]) -> None:
    root, _ = key
    for rel in ("Menu.html", "Menu-fichiers/apps/firefox-esr.html"):
        text = (root / rel).read_text(encoding="utf-8")
        assert "Le &lt;b&gt;navigateur&lt;/b&gt; &amp; ses onglets" in text
        assert "<b>navigateur" not in text
    assert "L&#39;essentiel" in (root / "Menu.html").read_text(encoding="utf-8")


def test_renders_are_byte_identical(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        root = tmp_path / name
        stage_tree(root)
        render_menu(make_lock(), root, LAUNCHERS, list(reversed(DOCS)), "9.8.7")
        render_menu(make_lock(), root, LAUNCHERS, DOCS, "9.8.7")  # again, over its own output
        outputs.append({p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1]
    today = dt.date.today()
    if today != SOURCE_DATE:
        for data in outputs[0].values():
            text = data.decode()
            assert today.isoformat() not in text and str(format_date(today, "fr")) not in text


# --- in a real browser ------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium not found: install it (Debian: apt-get install chromium), `make install` does")
    return found


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of raw pixels of an 8-bit RGB(A) PNG (the kinds Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG format {depth}/{colour}/{interlace}"
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        # https://www.w3.org/TR/png/#9Filter-types
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_screenshot_at_1024x768(key: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, _ = key
    for page in ("Menu.html", "Menu-en.html", "Menu-fichiers/apps/keepassxc.html"):
        shot = tmp_path / (page.replace("/", "_") + ".png")
        result = run_chromium(tmp_path, "--window-size=1024,768", f"--screenshot={shot}", (root / page).as_uri())
        assert shot.is_file(), result.stderr.decode(errors="replace")[-2000:]
        data = shot.read_bytes()
        assert len(data) > 10_000, f"{page}: suspiciously small screenshot ({len(data)} bytes)"
        width, height, rows = png_pixels(data)
        assert (width, height) == (1024, 768)
        bpp = len(rows[0]) // width
        colours = {row[i : i + 3] for row in rows[::8] for i in range(0, len(row), bpp * 4)}
        assert len(colours) > 20, f"{page}: the screenshot looks blank ({len(colours)} colours)"
        # The header bar (dark blue) and the page (light) are both there: something was styled.
        assert rows[5][:3] != rows[-5][:3]


def test_rendered_dom_names_every_app(key: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, _ = key
    for page, words in (("Menu.html", ["Bureautique", "Éducation"]), ("Menu-en.html", ["Office", "Education"])):
        result = run_chromium(tmp_path, "--dump-dom", (root / page).as_uri())
        dom = result.stdout.decode("utf-8", errors="replace")
        assert result.returncode == 0 and "</html>" in dom, result.stderr.decode(errors="replace")[-2000:]
        for name in ("Firefox ESR", "Écrivain", "AbiWord", "KeePassXC", *words):
            assert name in dom, f"{page}: {name} missing from the rendered page"
        assert "<script" not in dom.lower()


HTA_HARNESS = """
var ran = [];
function ActiveXObject(name) { this.Run = function (cmd, style, wait) { ran.push([name, cmd, style, wait]); }; }
var location = { pathname: "/E:/Menu.hta" };
var links = [];
var created = [];
var document = { getElementsByTagName: function () { return links; }, createElement: function (t) { created.push(t); } };
var window = {};
function link(cls, href) {
  return { className: cls, target: "", getAttribute: function (n, flag) { return flag === 2 ? href : null; } };
}
links.push(link("btn primary start", "Logiciels/Firefox%20ESR.cmd"), link("btn", "Menu-fichiers/apps/x.html"), link("", "#web"));
SCRIPT
window.onload();
var clicked = links[0].onclick();
console.log(JSON.stringify({ ran: ran, clicked: clicked, targets: [links[1].target, links[2].target], created: created }));
"""


def test_hta_starts_launchers_hidden(key: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """Menu.hta's script (ES3, as mshta's JScript reads it) run by node with Windows' objects mocked:
    "Démarrer" runs the launcher from the key's folder with its console hidden."""
    root, _ = key
    hta = (root / "Menu.hta").read_text(encoding="utf-8")
    assert "<hta:application" in hta and 'href="Logiciels/Firefox%20ESR.cmd"' in hta and 'class="btn primary start"' in hta
    script = hta.split('<script type="text/javascript">', 1)[1].split("</script>", 1)[0]
    for modern in ("=>", "let ", "const ", "`", "addEventListener", "querySelector"):
        assert modern not in script, f"{modern!r}: not in the JScript of Windows XP's mshta"
    harness = tmp_path / "hta.js"
    harness.write_text(HTA_HARNESS.replace("SCRIPT", script), encoding="utf-8")
    node = shutil.which("node")
    assert node, "node not found: `make install` installs nodejs"
    proc = subprocess.run([node, str(harness)], capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(proc.stdout)
    assert out["ran"] == [["WScript.Shell", '"E:\\Logiciels\\Firefox ESR.cmd"', 0, False]]
    assert out["clicked"] is False and out["targets"] == ["_blank", ""]
    assert out["created"] == ["header", "nav", "main", "section", "footer"]  # IE 8 then styles them


AXE = ROOT / "build" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """<script src="AXE"></script>
<script>
axe.run(document, {resultTypes: ["violations"]}).then(function (r) {
  var p = document.createElement("pre");
  p.id = "axe-result";
  p.textContent = JSON.stringify(r.violations.map(function (v) {
    return {id: v.id, nodes: v.nodes.map(function (n) { return n.target.join(" "); })};
  }));
  document.body.appendChild(p);
});
</script>
</body>"""


def axe_violations(root: Path, page: str, tmp_path: Path) -> list[dict[str, object]]:
    """axe-core's WCAG checks on a page as headless Chromium renders it (a copy with axe added)."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} not found: `make install` installs axe-core with npm")
    source = root / page
    probe = source.with_name(f"axe-{source.name}")
    text = source.read_text(encoding="utf-8").replace("</body>", AXE_RUN.replace("AXE", AXE.as_uri()))
    probe.write_text(text, encoding="utf-8")
    try:
        result = run_chromium(
            tmp_path, "--allow-file-access-from-files", "--virtual-time-budget=30000", "--dump-dom", probe.as_uri()
        )
    finally:
        probe.unlink()
    dom = result.stdout.decode("utf-8", errors="replace")
    found = re.search(r'<pre id="axe-result">(.*?)</pre>', dom, re.S)
    assert found, f"{page}: axe did not report\n{result.stderr.decode(errors='replace')[-2000:]}"
    violations: list[dict[str, object]] = json.loads(html.unescape(found.group(1)))
    return violations


@pytest.mark.parametrize(
    "page",
    ["Menu.html", "Menu-en.html", "LISEZMOI.html", "Menu-fichiers/apps/firefox-esr.html", "Menu-fichiers/apps/keepassxc.en.html"],
)
def test_axe_finds_no_violation(key: tuple[Path, list[Path]], tmp_path: Path, page: str) -> None:
    root, _ = key
    assert axe_violations(root, page, tmp_path) == []


def test_axe_on_a_real_pack_menu(tmp_path: Path) -> None:
    """The shipped catalog's names and versions, with the docs-fr guides (where axe once found links
    told apart by colour only)."""
    from packbuilder.catalog import load_catalog
    from packbuilder.plan.lock import lock_from_plan
    from packbuilder.plan.resolve import resolve
    from packbuilder.stage import copy_overlays

    catalog = load_catalog(ROOT / "manifests")
    lock = lock_from_plan(resolve(catalog, catalog.packs["asso-essentiel"], catalog.profiles["windows-10-x64"]))
    root = tmp_path / "key"
    (root / "Documents").mkdir(parents=True)
    docs = copy_overlays(lock.pack.overlays, ROOT / "overlays", root)
    starters = {a.app: a.launcher for a in write_launchers(lock.items, root)}
    render_menu(lock, root, {}, docs, "9.8.7", starters)
    for page in ("Menu.html", "Menu-en.html", "LISEZMOI.html"):
        assert axe_violations(root, page, tmp_path) == [], page


# What Internet Explorer 8 reads (CSS 2.1 plus a little: box-sizing, outline, max-width). Windows XP
# and 7 open the menu, and Menu.hta, with it.
IE8_PROPERTIES = frozenset(
    [
        "background",
        "background-color",
        "border",
        "border-bottom",
        "border-collapse",
        "border-color",
        "border-left",
        "border-right",
        "border-style",
        "border-top",
        "border-width",
        "bottom",
        "box-sizing",
        "clear",
        "clip",
        "color",
        "content",
        "cursor",
        "display",
        "float",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "height",
        "left",
        "letter-spacing",
        "line-height",
        "list-style",
        "margin",
        "margin-bottom",
        "margin-left",
        "margin-right",
        "margin-top",
        "max-height",
        "max-width",
        "min-height",
        "min-width",
        "outline",
        "overflow",
        "overflow-x",
        "overflow-y",
        "padding",
        "padding-bottom",
        "padding-left",
        "padding-right",
        "padding-top",
        "position",
        "right",
        "table-layout",
        "text-align",
        "text-decoration",
        "text-indent",
        "text-transform",
        "top",
        "vertical-align",
        "visibility",
        "white-space",
        "width",
        "word-spacing",
        "z-index",
    ]
)
# Properties IE 8 ignores without harm: the page stays readable and clickable without them.
IE8_ENHANCEMENTS = {
    "-webkit-text-size-adjust": "phones only",
    "text-size-adjust": "phones only",
    "border-radius": "square corners",
    "outline-offset": "the focus outline touches the link",
    "text-underline-offset": "the underline sits closer",
    "flex-wrap": "only with display: flex, after its fallback",
    "justify-content": "only with display: flex, after its fallback",
    "align-items": "only with display: flex, after its fallback",
    "word-break": "IE 8 has no break-word: long paths may overflow",
    "fill": "SVG icons: IE 8 shows the coloured square without the pictogram",
    "stroke": "SVG icons",
    "stroke-width": "SVG icons",
    "stroke-linecap": "SVG icons",
    "stroke-linejoin": "SVG icons",
}
# Values IE 8 drops: a declaration with one needs a fallback of the same property before it.
IE8_UNREADABLE = re.compile(r"calc\(|var\(|\b(inline-)?flex\b|\bgrid\b|\d(rem|vw|vh|vmin|vmax)\b|rgba\(|hsla?\(")
IE8_SELECTORS = re.compile(r"::|:not\(|:nth-|:last-|:only-|:checked|:target|:root|:empty|:enabled|:disabled|~")


def css_rules(css: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """(selector, declarations) of the rules IE 8 applies: media queries with features are skipped
    (IE 8 ignores them), @media print is kept."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = []
    for block in re.finditer(r"@media([^{]*)\{((?:[^{}]*\{[^}]*\})*)\s*\}|([^{}@]+)\{([^}]*)\}", css):
        if block.group(1) is not None:
            if "(" in block.group(1):
                continue
            rules += css_rules(block.group(2))
            continue
        decls = [tuple(p.strip() for p in d.split(":", 1)) for d in block.group(4).split(";") if d.strip()]
        rules.append((" ".join(block.group(3).split()), decls))  # type: ignore[arg-type]
    return rules


def ie8_problems(css: str) -> list[str]:
    problems = []
    for selector, decls in css_rules(css):
        if IE8_SELECTORS.search(selector):
            problems.append(f"{selector}: selector unknown to IE 8")
        for i, (prop, value) in enumerate(decls):
            if prop in IE8_ENHANCEMENTS:
                continue
            if prop not in IE8_PROPERTIES:
                problems.append(f"{selector}: {prop} unknown to IE 8 (add it to IE8_ENHANCEMENTS if harmless)")
            elif IE8_UNREADABLE.search(value):
                fallback = [v for p, v in decls[:i] if p == prop and not IE8_UNREADABLE.search(v)]
                if not fallback:
                    problems.append(f"{selector}: {prop}: {value} needs a fallback {prop} before it for IE 8")
    return problems


def test_stylesheet_reads_in_ie8() -> None:
    css = (ROOT / "packbuilder" / "templates" / "style.css").read_text(encoding="utf-8")
    rules = css_rules(css)
    assert len(rules) > 50
    assert ie8_problems(css) == []
    # The checker itself: what the stylesheet once had.
    assert ie8_problems(".cards { display: flex; } .card { width: calc(50% - 16px); }") == [
        ".cards: display: flex needs a fallback display before it for IE 8",
        ".card: width: calc(50% - 16px) needs a fallback width before it for IE 8",
    ]
    assert ie8_problems("@media (max-width: 760px) { .card { width: calc(1px + 2%); } } li:nth-child(2) { gap: 1px; }") == [
        "li:nth-child(2): selector unknown to IE 8",
        "li:nth-child(2): gap unknown to IE 8 (add it to IE8_ENHANCEMENTS if harmless)",
    ]


def test_ie8_layout_of_the_cards_fits_two_per_row() -> None:
    """Without flexbox and calc(), two inline-block cards of 46% plus their margins fit a 1000-pixel row."""
    css = (ROOT / "packbuilder" / "templates" / "style.css").read_text(encoding="utf-8")
    card = dict(next(d for s, d in css_rules(css) if s == ".card"))
    assert card["display"] == "inline-block"
    first_width = next(v for p, v in next(d for s, d in css_rules(css) if s == ".card") if p == "width")
    assert first_width.endswith("%") and 2 * (float(first_width[:-1]) / 100 * 1016 + 16 + 4) <= 1016


def test_pages_say_what_to_click_and_where_settings_live(key: tuple[Path, list[Path]]) -> None:
    root, _ = key
    lisezmoi = (root / "LISEZMOI.html").read_text(encoding="utf-8")
    menu = (root / "Menu.html").read_text(encoding="utf-8")
    for text in (lisezmoi, menu):
        assert "<strong>Menu.hta</strong>" in text and "<strong>Logiciels</strong>" in text and "<strong>Data</strong>" in text
        assert "l’Explorateur Windows" in text and "«&#160;Poste de travail&#160;»" in text  # the lock's PCs run XP
    page = (root / "Menu-fichiers/apps/firefox-esr.html").read_text(encoding="utf-8")
    assert "Data › firefox-esr" in page and 'class="btn primary start" href="../../Logiciels/Firefox%20ESR.cmd"' in page


def test_readme_says_what_a_live_session_keeps_when_the_pack_has_a_base(tmp_path: Path) -> None:
    """With a live base, the key's read-me says which boot entry keeps the session's work."""
    lock = make_lock()
    for with_base, root in ((True, tmp_path / "live"), (False, tmp_path / "plain")):
        stage_tree(root)
        pack = lock.pack.model_copy(update={"base": "debian-live-12-i386" if with_base else None})
        render_menu(lock.model_copy(update={"pack": pack}), root, LAUNCHERS, DOCS, "9.8.7")
        fr = (root / "LISEZMOI.html").read_text(encoding="utf-8")
        en = (root / "README.html").read_text(encoding="utf-8")
        assert ("Avec sauvegarde (persistance)" in fr and "oublient tout" in fr) is with_base
        assert ("forget everything" in en) is with_base
