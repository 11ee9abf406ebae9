"""``manifest bump``: add a new release to an app's manifest, keeping the file as a person wrote it.

The file is edited through ruamel.yaml's round-trip mode (comments, key order, quotes, anchors
kept); the rest of packbuilder reads manifests with PyYAML into typed models, and this is the
one place that writes them. Hashes are never guessed: each one is read from the upstream
checksum file the check names, or computed here from the downloaded bytes, and the manifest
says which (``checksum_source``). The result is linted; if it has errors the file is restored.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from packbuilder.errors import CheckFailed, InputError, NetworkError
from packbuilder.fsutil import atomic_write_bytes
from packbuilder.i18n import _
from packbuilder.model.app import App, Artifact, AutoArtifact, Check, HashSource, Release
from packbuilder.updates.check import TIMEOUT, line_releases
from packbuilder.versions import is_valid_version, version_key
from packbuilder.versionspec import expand, version_fields

if TYPE_CHECKING:
    import requests
    from ruamel.yaml import YAML

HEX64_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# "<hash>  name" (sha256sum), "<hash> *name" (binary mode), or "SHA256 (name) = <hash>" (BSD).
_SUM_LINE_RE = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$")
_BSD_LINE_RE = re.compile(r"^SHA256\s*\((.+)\)\s*=\s*([0-9a-fA-F]{64})\s*$")
ESTIMATE_SOURCE = "estimate from the previous release"


@dataclass
class NewArtifact:
    """One artifact of the new release, and how its facts were obtained."""

    spec: AutoArtifact
    url: str
    sha256: str
    checksum_source: str
    size: int | None
    size_approx: int | None
    previous: Artifact | None
    hash_route: str  # "checksum file" or "downloaded"


@dataclass
class BumpReport:
    path: Path
    app: str
    version: str
    line: str | None
    position: int
    artifacts: list[NewArtifact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- round-trip YAML -------------------------------------------------------------------------


def roundtrip_yaml() -> YAML:
    """ruamel.yaml set to the catalog's layout: 2-space maps, list items indented by 2, no wrapping."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # hashes and sources stay on one line, as written
    return yaml


def _keep_anchors(node: Any) -> None:
    """Keep anchors nothing refers to: ruamel.yaml drops them on dump unless told otherwise."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    anchor = getattr(node, "anchor", None)
    if anchor is not None and getattr(anchor, "value", None):
        anchor.always_dump = True
    if isinstance(node, CommentedMap):
        for value in node.values():
            _keep_anchors(value)
    elif isinstance(node, CommentedSeq):
        for value in node:
            _keep_anchors(value)


def _plain_or_quoted(value: str) -> Any:
    """A string YAML would not read back as itself ("26.02", "a: b") is written in double quotes, as the catalog does."""
    import yaml as pyyaml
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    try:
        same = pyyaml.safe_load(value) == value
    except pyyaml.YAMLError:
        same = False
    return value if same else DoubleQuotedScalarString(value)


# --- choosing the check and the previous release -----------------------------------------------


def choose_check(app: App, line: str | None, explicit_line: bool) -> Check | None:
    checks = app.checkver or ()
    if explicit_line:
        return next((c for c in checks if c.line == line), None)
    if len(checks) == 1:
        return checks[0]
    unnamed = [c for c in checks if c.line is None]
    if len(unnamed) == 1:
        return unnamed[0]
    if checks:
        lines = ", ".join(str(c.line) for c in checks)
        raise InputError(
            _("{app} has several checks ({lines})").format(app=app.id, lines=lines), hint=_("choose one with --line LINE")
        )
    return None


def previous_release(app: App, line: str | None) -> Release | None:
    """The release a new one follows: the newest of its line (of the unnamed line, else of all)."""
    same = [r for r in app.releases if r.line == line]
    pool = same or (line_releases(app, None) if line is None else [])
    return max(pool, key=lambda r: version_key(r.version)) if pool else None


def _matching(previous: Release | None, spec: AutoArtifact) -> Artifact | None:
    if previous is None:
        return None
    slot = (spec.platform, spec.arch, spec.kind)
    exact = [a for a in previous.artifacts if (a.platform, a.arch, a.kind) == slot and a.lang == spec.lang]
    loose = [a for a in previous.artifacts if (a.platform, a.arch, a.kind) == slot]
    found = exact or loose
    return found[0] if found else None


# --- hashes and sizes --------------------------------------------------------------------------


def _basename(url: str) -> str:
    return unquote(posixpath.basename(urlsplit(url).path))


def _relpath(url: str, sums_url: str) -> str:
    """The artifact's path as a checksum file beside or above it names it (``win64/fr/Firefox Setup 1.0.exe``)."""
    art, sums = urlsplit(url), urlsplit(sums_url)
    folder = posixpath.dirname(sums.path) + "/"
    if art.netloc == sums.netloc and art.path.startswith(folder):
        return unquote(art.path[len(folder) :])
    return _basename(url)


class Fetcher:
    """Network reads of one bump, with the checksum files read once each."""

    def __init__(self, session: requests.Session):
        self.session = session
        self.texts: dict[str, str] = {}

    def text(self, url: str) -> str:
        if url not in self.texts:
            import requests

            try:
                response = self.session.get(url, timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise NetworkError(_("{source}: {reason}").format(source=url, reason=_describe(exc))) from None
            if response.status_code != 200:
                raise NetworkError(
                    _("{source}: {reason}").format(source=url, reason=f"HTTP {response.status_code}"),
                    hint=_("check hash.url in the manifest's autoupdate"),
                )
            self.texts[url] = response.text
        return self.texts[url]

    def length(self, url: str) -> int | None:
        """Exact size from the server's Content-Length (HEAD, redirects followed), or None."""
        import requests

        try:
            response = self.session.head(url, allow_redirects=True, timeout=TIMEOUT)
        except requests.RequestException:
            return None
        value = response.headers.get("Content-Length", "")
        return int(value) if response.status_code == 200 and value.isdigit() and int(value) > 0 else None

    def download_hash(self, url: str) -> tuple[str, int]:
        """sha256 and size of the raw bytes (no content decoding), streamed without keeping the file."""
        import requests

        from packbuilder.fetch.hashes import CHUNK

        hasher = hashlib.sha256()
        size = 0
        try:
            with self.session.get(url, stream=True, timeout=TIMEOUT) as response:
                if url.startswith("https://") and response.url.startswith("http://"):
                    raise NetworkError(_("{url}: redirect to plain http refused ({target})").format(url=url, target=response.url))
                if response.status_code != 200:
                    raise NetworkError(
                        _("{source}: {reason}").format(source=url, reason=f"HTTP {response.status_code}"),
                        hint=_("check the URL (or the autoupdate template)"),
                    )
                for block in response.raw.stream(CHUNK, decode_content=False):
                    hasher.update(block)
                    size += len(block)
        except requests.RequestException as exc:
            raise NetworkError(_("{source}: {reason}").format(source=url, reason=_describe(exc))) from None
        if size == 0:
            raise NetworkError(_("{url}: empty file").format(url=url))
        return hasher.hexdigest(), size


def _describe(exc: BaseException) -> str:
    from packbuilder.fetch.download import _describe as describe

    return describe(exc)


def find_hash(text: str, source: HashSource, fields: dict[str, str], url: str, sums_url: str) -> str:
    """The artifact's sha256 in an upstream checksum file: by the manifest's regex, else by file name."""
    basename, relpath = _basename(url), _relpath(url, sums_url)
    if source.regex:
        escaped = {**{k: re.escape(v) for k, v in fields.items()}, "basename": re.escape(basename), "relpath": re.escape(relpath)}
        match = re.search(expand(source.regex, escaped), text, re.MULTILINE)
        if not match or not HEX64_RE.match(match.group("hash")):
            raise CheckFailed(
                _("{url}: hash.regex found no sha256 for {name}").format(url=sums_url, name=basename), hint=_("check hash.regex")
            )
        return match.group("hash").lower()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and HEX64_RE.match(lines[0].split()[0]) and len(lines[0].split()) == 1:
        return lines[0].lower()  # a .sha256 file holding the hash alone
    exact: set[str] = set()
    by_name: set[str] = set()
    for line in lines:
        sum_line, bsd = _SUM_LINE_RE.match(line), _BSD_LINE_RE.match(line)
        if sum_line:
            digest, name = sum_line.group(1), sum_line.group(2)
        elif bsd:
            name, digest = bsd.group(1), bsd.group(2)
        else:
            continue
        name = name.removeprefix("./")
        if name == relpath:
            exact.add(digest.lower())
        elif posixpath.basename(name) == basename:
            by_name.add(digest.lower())
    found = exact or by_name
    if len(found) == 1:
        return found.pop()
    if not found:
        raise CheckFailed(
            _("{url}: no line names {name}").format(url=sums_url, name=relpath), hint=_("check hash.url, or give hash.regex")
        )
    raise CheckFailed(
        _("{url}: several lines name {name}").format(url=sums_url, name=basename), hint=_("give hash.regex to pick the right one")
    )


def new_artifact(
    fetcher: Fetcher,
    spec: AutoArtifact,
    url: str,
    hash_source: HashSource | None,
    fields: dict[str, str],
    previous: Release | None,
) -> NewArtifact:
    prev = _matching(previous, spec)
    if hash_source is None:
        digest, downloaded = fetcher.download_hash(url)
        source = f"downloaded and hashed by packbuilder manifest bump from {url}"
        return NewArtifact(spec, url, digest, source, downloaded, None, prev, "downloaded")
    sums_url = expand(hash_source.url, {**fields, "url": url, "basename": _basename(url)})
    digest = find_hash(fetcher.text(sums_url), hash_source, fields, url, sums_url)
    size: int | None = fetcher.length(url)
    approx = None
    if size is None:
        approx = prev.size or prev.size_approx if prev else None
        if approx is None:  # no estimate to copy: the bytes themselves give the size, and confirm the hash
            actual, size = fetcher.download_hash(url)
            if actual != digest:
                from packbuilder.errors import VerificationError

                raise VerificationError(
                    _("{url}: sha256 {actual} differs from {sums} ({digest})").format(
                        url=url, actual=actual, sums=sums_url, digest=digest
                    )
                )
    return NewArtifact(spec, url, digest, f"upstream checksum file {sums_url}", size, approx, prev, "checksum file")


# --- writing ---------------------------------------------------------------------------------


def _artifact_map(new: NewArtifact) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    out = CommentedMap()
    out["platform"] = new.spec.platform.value
    out["arch"] = new.spec.arch.value
    out["kind"] = new.spec.kind.value
    if new.spec.lang:
        out["lang"] = new.spec.lang
    out["url"] = new.url
    out["sha256"] = new.sha256
    out["checksum_source"] = _plain_or_quoted(new.checksum_source)
    if new.size is not None:
        out["size"] = new.size
    else:
        out["size_approx"] = new.size_approx
        out["size_source"] = ESTIMATE_SOURCE
    prev = new.previous
    if prev is not None:
        if prev.installed_size:
            out["installed_size"] = prev.installed_size
        requires = prev.requires.model_dump(mode="json", exclude_defaults=True)
        if requires:
            node = CommentedMap()
            for key, value in requires.items():
                if isinstance(value, list):
                    value = CommentedSeq(value)
                    value.fa.set_flow_style()  # cpu: [sse2], as the catalog writes it
                elif isinstance(value, str):
                    value = _plain_or_quoted(value)
                node[key] = value
            out["requires"] = node
        if prev.launch:
            out["launch"] = _plain_or_quoted(prev.launch)
    return out


def insert_release(text: str, version: str, line: str | None, artifacts: list[NewArtifact]) -> tuple[str, int]:
    """The manifest text with the new release inserted in version order (newest first), and its index."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = roundtrip_yaml()
    data = yaml.load(text)
    _keep_anchors(data)
    releases = data["releases"]
    new_key = version_key(version)
    position = next((i for i, r in enumerate(releases) if version_key(str(r["version"])) < new_key), len(releases))
    release = CommentedMap()
    release["version"] = _plain_or_quoted(version)
    if line is not None:
        release["line"] = line
    release["artifacts"] = CommentedSeq([_artifact_map(a) for a in artifacts])
    releases.insert(position, release)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue(), position


def _write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def lint_file(root: Path, path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) lint reports for one manifest, checked with the rest of its catalog."""
    from packbuilder.catalog import check_tree
    from packbuilder.fsutil import display_path

    _trees, problems = check_tree(root)
    mine = [p for p in problems if p.path == display_path(path)]
    return [str(p) for p in mine if p.severity == "error"], [str(p) for p in mine if p.severity == "warning"]


def bump(
    root: Path,
    path: Path,
    app: App,
    version: str,
    url: str | None = None,
    line: str | None = None,
    explicit_line: bool = False,
    session: requests.Session | None = None,
) -> BumpReport:
    """Add ``version`` to the app's manifest at ``path``; lint; restore the file on errors."""
    from packbuilder.fetch.download import make_session

    if not is_valid_version(version):
        raise InputError(
            _("{version!r} is not a sortable version").format(version=version), hint=_("it must start with a digit, e.g. 2.7.13")
        )
    if any(version_key(r.version) == version_key(version) for r in app.releases):
        raise InputError(_("{app} already lists version {version}").format(app=app.id, version=version))
    check = choose_check(app, line, explicit_line)
    if check is not None and not explicit_line:
        line = check.line
    previous = previous_release(app, line)
    fields = version_fields(version)
    hash_source: HashSource | None = None
    if url is not None:
        template = (previous or max(app.releases, key=lambda r: version_key(r.version))).artifacts[0]
        specs = [
            (AutoArtifact(platform=template.platform, arch=template.arch, kind=template.kind, lang=template.lang, url=url), url)
        ]
    elif check is not None and check.autoupdate is not None:
        specs = [(a, expand(a.url, fields)) for a in check.autoupdate.artifacts]
        hash_source = check.autoupdate.hash
    else:
        if check is not None:
            what = _("its check for line {line} has no autoupdate") if line else _("its check has no autoupdate")
        else:
            what = _("it has no check for line {line}") if explicit_line else _("it has no checkver")
        raise InputError(
            _("cannot tell where {app} {version}'s files are: {why}").format(
                app=app.id, version=version, why=what.format(line=line)
            ),
            hint=_("pass --url URL, or add checkver[].autoupdate to the manifest"),
        )
    fetcher = Fetcher(session or make_session())
    artifacts = [new_artifact(fetcher, spec, art_url, hash_source, fields, previous) for spec, art_url in specs]
    original = path.read_text(encoding="utf-8")
    text, position = insert_release(original, version, line, artifacts)
    _write(path, text)
    errors, warnings = lint_file(root, path)
    if errors:
        _write(path, original)
        raise CheckFailed(
            _("the new release of {app} does not pass lint: {file} left unchanged").format(app=app.id, file=path.name),
            details=errors,
        )
    return BumpReport(path, app.id, version, line, position, artifacts, warnings)
