"""Rules on an app manifest's raw data (the YAML as read), so that one lint run reports every
problem: pydantic stops checking an object at its first bad field (a short hash hides a plain http
URL), and the catalog's own checks need objects that loaded. These rules read plain dicts and lists
and never assume a type the data may not have.

Two groups: :func:`download_rules` (https, hash and size present) run on every load, as the model
would check them once the other fields are right; :func:`review_rules` are what ``manifest lint``
adds for reviewers (where a hash comes from, where requirements come from, release order,
programs to start).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from packbuilder.i18n import N_, _
from packbuilder.model.common import MISSING_HASH, MISSING_SIZE
from packbuilder.yamlsrc import Loc

HTTPS_ONLY = N_("downloads must use https (set 'insecure: true' on the artifact only if no https host exists)")

Finding = tuple[Loc, str, str]  # (field path, message, severity)

# checksum_source forms (CONTRIBUTING.md, "Where hashes come from"):
# a packager's manifest at a commit: "ScoopInstaller/Extras bucket/gimp.json @ cd859b80b1a3..."
PACKAGER_AT_COMMIT = re.compile(r"(?:^|\s)[\w.-]+/[\w.-]+ \S+ @ [0-9a-f]{7,40}\b")
# an upstream checksum file: "upstream checksum file https://.../SHA256SUMS" (or the URL alone)
CHECKSUM_FILE_URL = re.compile(
    r"(?:^|\s)https://\S*(?:sha(?:256|512)?sums?|checksums?|digests?|\.sha(?:256|512)|hashes)\S*(?:\s|$)", re.IGNORECASE
)
# the file downloaded and hashed by `manifest bump` (updates/bump.py writes this wording)
BUMP_WORDING = re.compile(r"^downloaded and hashed by packbuilder manifest bump from https://\S+$")
# Entries from before these rules, by artifact URL: a warning for them, an error for anything new.
# Their hash has no named source yet (a third party's copy): until someone finds the publisher's
# checksum file or a packager's manifest at a commit.
KNOWN_UNSOURCED = {
    "https://download.gimp.org/gimp/v3.2/linux/GIMP-3.2.4-x86_64.AppImage",
    "https://media.inkscape.org/dl/resources/file/Inkscape-091e20e-x86_64.AppImage",
}
# Installers whose program path inside the unpacked tree was not read yet.
KNOWN_WITHOUT_LAUNCH = {
    "https://github.com/ankitects/anki/releases/download/26.08.1/anki-26.08.1-win-x64.msi",
    "https://download.calibre-ebook.com/9.13.0/calibre-64bit-9.13.0.msi",
    "https://github.com/greenshot/greenshot/releases/download/v1.3.315/Greenshot-INSTALLER-1.3.315-RELEASE.exe",
    "https://master.dl.sourceforge.net/project/keepass/KeePass%201.x/1.43/KeePass-1.43.msi?viasf=1",
    "https://github.com/musescore/MuseScore/releases/download/v4.7.4/MuseScore-Studio-4.7.4.260706075-x86_64.msi",
    "https://www.tightvnc.com/download/2.8.88/tightvnc-2.8.88-gpl-setup-32bit.msi",
    "https://www.tightvnc.com/download/2.8.88/tightvnc-2.8.88-gpl-setup-64bit.msi",
}


def _artifacts(data: Any) -> Iterator[tuple[Loc, dict[str, Any]]]:
    releases = data.get("releases") if isinstance(data, dict) else None
    for r, release in enumerate(releases if isinstance(releases, list) else []):
        artifacts = release.get("artifacts") if isinstance(release, dict) else None
        for a, art in enumerate(artifacts if isinstance(artifacts, list) else []):
            if isinstance(art, dict):
                yield ("releases", r, "artifacts", a), art


def download_rules(data: Any) -> list[Finding]:
    """https (or ``insecure: true``), a hash and a size on every artifact."""
    found: list[Finding] = []
    for loc, art in _artifacts(data):
        insecure = art.get("insecure") is True
        mirrors: list[Any] = art["mirrors"] if isinstance(art.get("mirrors"), list) else []
        for where, url in [((*loc, "url"), art.get("url")), *(((*loc, "mirrors", m), u) for m, u in enumerate(mirrors))]:
            if isinstance(url, str) and url.startswith("http://") and not insecure:
                found.append((where, _(HTTPS_ONLY), "error"))
        if art.get("sha256") is None and art.get("sha512") is None:
            found.append((loc, _(MISSING_HASH), "error"))
        if art.get("size") is None and art.get("size_approx") is None:
            found.append((loc, _(MISSING_SIZE), "error"))
    return found


def checksum_source_problem(text: str) -> str | None:
    """Why ``text`` does not name where a hash was read (None: it does)."""
    if PACKAGER_AT_COMMIT.search(text) or CHECKSUM_FILE_URL.search(text) or BUMP_WORDING.match(text):
        return None
    return _(
        "does not name where the hash was read: write 'upstream checksum file https://…/SHA256SUMS', "
        "a packager's manifest at a commit ('ScoopInstaller/Extras bucket/app.json @ <commit>'), "
        "or let 'packbuilder manifest bump' write it"
    )


def _release_order(data: Any) -> list[Finding]:
    from packbuilder.versions import version_key

    releases = data.get("releases") if isinstance(data, dict) else None
    versions: list[tuple[int, str]] = [
        (r, rel["version"])
        for r, rel in enumerate(releases if isinstance(releases, list) else [])
        if isinstance(rel, dict) and isinstance(rel.get("version"), str)
    ]
    found: list[Finding] = []
    for (_r, before), (r, version) in itertools.pairwise(versions):
        try:
            newer = version_key(version) > version_key(before)
        except ValueError:
            continue  # an unsortable version is reported by the model
        if newer:
            message = _("releases go newest first: {version} is newer than {before}, listed above it").format(
                version=version, before=before
            )
            found.append((("releases", r, "version"), message, "error"))
    return found


def review_rules(data: Any) -> list[Finding]:
    """What a reviewer checks: hash sources, requirement sources, release order, programs to start."""
    found = _release_order(data)
    for loc, art in _artifacts(data):
        source = art.get("checksum_source")
        if isinstance(source, str) and (problem := checksum_source_problem(source)):
            severity = "warning" if art.get("url") in KNOWN_UNSOURCED else "error"
            found.append(((*loc, "checksum_source"), problem, severity))
        requires = art.get("requires")
        if isinstance(requires, dict) and any(requires.get(k) for k in ("os", "ram_mb", "cpu")) and not requires.get("source"):
            found.append(((*loc, "requires", "source"), _("say where these requirements were read (a page, an issue, a file), "
                                                            "or write 'estimate'"), "error"))
        if art.get("platform") == "windows":
            if not art.get("launch") and not art.get("no_launch"):
                severity = "warning" if art.get("url") in KNOWN_WITHOUT_LAUNCH else "error"
                found.append(((*loc, "launch"), _("a Windows artifact needs 'launch' (the program to start, inside the "
                                                  "unpacked tree), or 'no_launch' saying why there is none"), severity))
            elif art.get("launch") and art.get("no_launch"):
                found.append(((*loc, "no_launch"), _("give 'launch' or 'no_launch', not both"), "error"))
    return found
