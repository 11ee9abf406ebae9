"""Maintainers' workflow: checkver models, check-updates, bump and verify --changed-since,
against a local HTTPS server playing a GitHub releases API, a download page and a JSON feed."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from packbuilder.catalog import check_tree, load_catalog
from packbuilder.updates.bump import find_hash, roundtrip_yaml
from packbuilder.versionspec import Constraint, expand, version_fields
from tests.conftest import FIXTURES, ROOT, run_cli
from tests.httpserver import LocalServer

FIX = FIXTURES / "maintainers"
PLACEHOLDER = "https://upstream.test/"
RELEASES = "releases?per_page=100"  # what the GitHub API path ends with (the server keys files by the last segment)


def payload(name: str) -> bytes:
    """The bytes the server serves for an artifact (the fixture manifests hold their sha256)."""
    return f"{name}\n".encode() * 300


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gh_release(tag: str, *, draft: bool = False, prerelease: bool = False, assets: tuple[str, ...] = ()) -> dict[str, object]:
    """One entry of GET /repos/OWNER/NAME/releases, in the API's real shape (fields trimmed)."""
    base = "https://github.com/example/editor"
    return {
        "url": f"https://api.github.invalid/repos/example/editor/releases/{abs(hash(tag)) % 10**8}",
        "html_url": f"{base}/releases/tag/{tag}",
        "id": abs(hash(tag)) % 10**8,
        "tag_name": tag,
        "target_commitish": "main",
        "name": f"Editor {tag.lstrip('v')}",
        "draft": draft,
        "prerelease": prerelease,
        "created_at": "2026-05-01T10:00:00Z",
        "published_at": None if draft else "2026-05-02T10:00:00Z",
        "assets": [
            {
                "name": name,
                "size": len(payload(name)),
                "content_type": "application/octet-stream",
                "browser_download_url": f"{base}/releases/download/{tag}/{name}",
            }
            for name in assets
        ],
        "body": "Changes...",
    }


NEW_FILES = (
    "editor-3.2.0-win64.zip",
    "Editor-3.2.0-x86_64.AppImage",
    "editor-2.4.2-win32.zip",
    "viewer-1.6.zip",
    "notes-5.0.1-win64.7z",
)
OLD_FILES = (
    "editor-3.1.0-win64.zip",
    "Editor-3.1.0-x86_64.AppImage",
    "editor-2.4.1-win32.zip",
    "viewer-1.5.zip",
    "viewer-1.2-xp.zip",
    "notes-5.0.0-linux.tar.gz",
    "notes-5.0.0-win64.7z",
    "notes-4.8.3-win64.7z",
    "extra-1.0.zip",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = LocalServer(tmp_path_factory.mktemp("tls"))
    files = srv.files
    for name in NEW_FILES + OLD_FILES:
        files.add(name, payload(name))
    releases = [
        gh_release("v4.0.0", draft=True),
        gh_release("v3.3.0-rc1", prerelease=True),
        gh_release("v3.2.0", assets=("editor-3.2.0-win64.zip", "Editor-3.2.0-x86_64.AppImage")),
        gh_release("v2.4.2", assets=("editor-2.4.2-win32.zip",)),
        gh_release("v3.1.0"),
        gh_release("v2.4.1"),
        gh_release("nightly-2026-05-03"),
    ]
    files.add(RELEASES, json.dumps(releases, indent=2).encode())
    sums = "".join(f"{sha(payload(n))}  {n}\n" for n in ("Editor-3.2.0-x86_64.AppImage", "editor-3.2.0-win64.zip"))
    files.add("editor-3.2.0-SHA256SUMS", (sums + f"{'0' * 64}  editor-3.2.0-src.tar.xz\n").encode())
    files.add("editor-2.4.2-SHA256SUMS", f"{sha(payload('editor-2.4.2-win32.zip'))} *editor-2.4.2-win32.zip\n".encode())
    page = "".join(f'<li><a href="/files/viewer-{v}.zip">Viewer {v}</a></li>\n' for v in ("1.5", "1.4", "1.3"))
    files.add("viewer-downloads.html", f"<html><body><h1>Downloads</h1><ul>\n{page}</ul></body></html>\n".encode())
    feed = {
        "product": "notes",
        "releases": [{"version": "5.0.1", "date": "2026-05-01"}, {"version": "5.0.0", "date": "2026-03-01"}],
        "lts": {"versions": ["4.8.2", "4.8.3", "4.9.0"]},
    }
    files.add("notes-feed.json", json.dumps(feed).encode())
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def trust_test_ca(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert))
    monkeypatch.setenv("PACKBUILDER_BACKOFF", "0.01")
    monkeypatch.setenv("PACKBUILDER_GITHUB_API", server.url("ok/api"))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)


def localize(text: str, server: LocalServer) -> str:
    return text.replace(PLACEHOLDER, server.url(""))


def delocalize(text: str, server: LocalServer) -> str:
    return text.replace(server.url(""), PLACEHOLDER)


@pytest.fixture
def catalog(tmp_path: Path, server: LocalServer) -> Path:
    """A copy of the fixture catalog whose URLs point at the local server."""
    root = tmp_path / "manifests"
    shutil.copytree(FIX / "manifests", root)
    for path in root.rglob("*.yaml"):
        path.write_text(localize(path.read_text(encoding="utf-8"), server), encoding="utf-8")
    return root


def cli(catalog: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--catalog", str(catalog), "--cache", str(catalog.parent / "cache"), *args)


# --- models and small languages -------------------------------------------------------------


def test_constraints_templates_and_version_fields() -> None:
    c = Constraint.parse(">=140,<141")
    assert c.allows("140.14.0esr") and not c.allows("141.0") and not c.allows("128.9.0esr")
    assert Constraint.parse("<116").allows("115.30.0esr") and not Constraint.parse("<116").allows("116.0")
    with pytest.raises(ValueError, match="bad version bound"):
        Constraint.parse("~1.2")
    assert version_fields("26.02") == {"version": "26.02", "major": "26", "minor": "02", "patch": ""}
    assert expand("7z{major}{minor}-x64.msi", version_fields("26.02")) == "7z2602-x64.msi"
    assert expand("[0-9a-f]{64} {version}", version_fields("1.0")) == "[0-9a-f]{64} 1.0"  # regex braces kept
    with pytest.raises(ValueError, match=r"unknown field \{vers\}"):
        expand("{vers}", version_fields("1.0"))


def test_malformed_checks_are_reported_with_their_field(catalog: Path) -> None:
    path = catalog / "apps" / "notes.yaml"
    data = yaml.safe_load(path.read_text())
    data["checkver"] = [
        {"type": "github"},  # no repo
        {"line": "lts", "type": "html", "url": "https://x.test/", "regex": "no group", "path": "a.b"},
        {"line": "nope", "type": "json", "url": "https://x.test/f.json", "path": "v", "constraint": "~2"},
        {"type": "json", "url": "https://x.test/f.json", "path": "v", "autoupdate": {"artifacts": [], "extra": 1}},
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    _, problems = check_tree(catalog)
    text = "\n".join(str(p) for p in problems if p.severity == "error")
    assert "checkver[0]: a github check needs repo" in text
    assert "checkver[1].regex: the regex needs a group for the version" in text
    assert "checkver[2].constraint: bad version bound '~2'" in text
    assert "checkver[3].autoupdate.artifacts: must list at least 1 item(s)" in text
    assert "checkver[3].autoupdate.extra: unknown key" in text

    data["checkver"] = [{"line": "nope", "type": "json", "url": "https://x.test/f.json", "path": "v"}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    _, problems = check_tree(catalog)
    assert any("checkver: no release has line 'nope'" in str(p) for p in problems)


def test_schema_describes_checkver() -> None:
    result = run_cli("manifest", "schema", "--kind", "app")
    schema = json.loads(result.stdout)
    check = schema["$defs"]["Check"]
    assert check["additionalProperties"] is False
    assert set(check["properties"]) >= {"line", "type", "repo", "tag", "url", "regex", "path", "constraint", "autoupdate"}
    assert schema["$defs"]["CheckType"]["enum"] == ["github", "html", "json"]


def test_shipped_autoupdate_templates_give_the_current_urls() -> None:
    """Each shipped check's templates, filled with its line's newest version, give that release's URLs."""
    from packbuilder.updates.check import line_releases

    catalog = load_catalog(ROOT / "manifests")
    checked = 0
    for app in catalog.apps.values():
        for check in app.checkver or ():
            if check.autoupdate is None:
                continue
            release = line_releases(app, check.line)[0]
            # Paths, not hosts: Mozilla serves one tree as ftp.mozilla.org and archive.mozilla.org.
            paths = {urlsplit(a.url).path for a in release.artifacts}
            for spec in check.autoupdate.artifacts:
                assert urlsplit(expand(spec.url, version_fields(release.version))).path in paths, (app.id, spec.url)
                checked += 1
    assert checked >= 10


def test_every_shipped_manifest_round_trips_byte_for_byte() -> None:
    import io

    rt = roundtrip_yaml()
    for path in sorted((ROOT / "manifests").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        out = io.StringIO()
        rt.dump(rt.load(text), out)
        assert out.getvalue() == text, path


def test_hash_lines_are_found_by_relative_path_and_ambiguity_is_refused() -> None:
    from packbuilder.model.app import HashSource

    sums = f"{'a' * 64}  win64/fr/Firefox Setup 1.0.exe\n{'b' * 64}  win64/en-US/Firefox Setup 1.0.exe\n"
    source = HashSource(url="https://h.test/pub/{version}/SHA256SUMS")
    url = "https://h.test/pub/1.0/win64/fr/Firefox%20Setup%201.0.exe"
    assert find_hash(sums, source, version_fields("1.0"), url, "https://h.test/pub/1.0/SHA256SUMS") == "a" * 64
    from packbuilder.errors import CheckFailed

    with pytest.raises(CheckFailed, match="several lines"):
        find_hash(sums, source, version_fields("1.0"), "https://other.test/Firefox%20Setup%201.0.exe", "https://h.test/x")
    assert find_hash(f"{'C' * 64}\n", source, {}, url, "https://h.test/f.sha256") == "c" * 64


# --- check-updates -----------------------------------------------------------------------------


def test_check_updates_gives_current_latest_and_status_per_line(catalog: Path) -> None:
    result = cli(catalog, "manifest", "check-updates", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    rows = {(c["app"], c["line"]): (c["current"], c["latest"], c["status"]) for c in doc["checks"]}
    assert rows[("editor", None)] == ("3.1.0", "3.2.0", "update available")  # draft 4.0.0 and rc skipped
    assert rows[("editor", "legacy")] == ("2.4.1", "2.4.2", "update available")  # the constraint keeps the old line
    assert rows[("viewer", None)] == ("1.5", "1.5", "up to date")
    assert rows[("notes", None)] == ("5.0.0", "5.0.1", "update available")
    assert rows[("notes", "lts")] == ("4.8.3", "4.8.3", "up to date")  # 4.9.0 is outside >=4.8,<4.9
    failed = next(c for c in doc["checks"] if (c["app"], c["line"]) == ("viewer", "xp"))
    assert failed["status"] == "check failed" and failed["latest"] is None
    assert "viewer-xp-feed.json: HTTP 404" in failed["reason"]
    assert doc["summary"] == {"up to date": 2, "update available": 3, "check failed": 1}


def test_check_updates_table_names_the_failure(catalog: Path) -> None:
    result = cli(catalog, "manifest", "check-updates", "viewer", "editor")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("editor" in ln and "legacy" in ln and "2.4.1" in ln and "2.4.2" in ln and "update available" in ln for ln in lines)
    assert any("viewer" in ln and "xp" in ln and "check failed:" in ln and "HTTP 404" in ln for ln in lines)
    assert "notes" not in result.stdout
    assert "4 check(s): 2 update(s) available, 1 failed" in result.stdout


def test_prerelease_allowed_and_all_failed_exit_3(catalog: Path, server: LocalServer) -> None:
    path = catalog / "apps" / "editor.yaml"
    path.write_text(
        path.read_text().replace(
            "    repo: example/editor\n    autoupdate:", "    repo: example/editor\n    prerelease: true\n    autoupdate:", 1
        )
    )
    result = cli(catalog, "manifest", "check-updates", "editor", "--json")
    assert json.loads(result.stdout)["checks"][0]["latest"] == "3.3.0-rc1"
    result = run_cli(
        "--catalog",
        str(catalog),
        "manifest",
        "check-updates",
        "editor",
        env={"PACKBUILDER_GITHUB_API": server.url("status/404/x")},
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.count("check failed: ") == 2


# --- bump -----------------------------------------------------------------------------------------


def assert_golden(text: str, name: str) -> None:
    """Compare with tests/fixtures/maintainers/golden/NAME; UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    golden = FIX / "golden" / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def assert_only_added_lines(before: str, after: str) -> list[str]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    removed = [line for line in diff if line.startswith("- ")]
    assert removed == [], removed
    return [line[2:] for line in diff if line.startswith("+ ")]


def test_bump_from_upstream_checksum_file_matches_golden(catalog: Path, server: LocalServer) -> None:
    path = catalog / "apps" / "editor.yaml"
    before = path.read_text()
    result = cli(catalog, "manifest", "bump", "editor", "3.2.0")
    assert result.returncode == 0, result.stderr
    after = path.read_text()
    assert_golden(delocalize(after, server), "editor-3.2.0.yaml")
    added = assert_only_added_lines(before, after)
    assert added[0] == "  - version: 3.2.0" and len(added) == 26
    assert "read from the upstream checksum file" in result.stdout and "6900 bytes" in result.stdout
    assert "releases[0]" in result.stdout
    load_catalog(catalog)  # still a valid catalog


def test_bump_legacy_line_with_hash_regex_goes_in_version_order(catalog: Path, server: LocalServer) -> None:
    path = catalog / "apps" / "editor.yaml"
    before = path.read_text()
    result = cli(catalog, "manifest", "bump", "editor", "2.4.2", "--line", "legacy", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["position"] == 1 and report["line"] == "legacy"
    (art,) = report["artifacts"]
    assert art["sha256"] == sha(payload("editor-2.4.2-win32.zip")) and art["size"] == 6900
    assert art["checksum_source"] == f"upstream checksum file {server.url('ok/editor-2.4.2-SHA256SUMS')}"
    assert_only_added_lines(before, path.read_text())
    app = load_catalog(catalog).app("editor")
    assert [r.version for r in app.releases] == ["3.1.0", "2.4.2", "2.4.1"]
    new = app.releases[1]
    assert new.line == "legacy" and new.artifacts[0].launch == "Editor.exe" and new.artifacts[0].requires.os == "windows>=6.1"


def test_bump_by_downloading_matches_golden(catalog: Path, server: LocalServer) -> None:
    path = catalog / "apps" / "viewer.yaml"
    before = path.read_text()
    hits = server.files.hits["/ok/viewer-1.6.zip"]
    result = cli(catalog, "manifest", "bump", "viewer", "1.6")
    assert result.returncode == 0, result.stderr
    assert server.files.hits["/ok/viewer-1.6.zip"] == hits + 1
    after = path.read_text()
    assert_golden(delocalize(after, server), "viewer-1.6.yaml")
    assert_only_added_lines(before, after)
    assert "downloaded and hashed" in result.stdout


def test_bump_that_breaks_lint_restores_the_file(catalog: Path, server: LocalServer) -> None:
    path = catalog / "apps" / "notes.yaml"
    before = path.read_bytes()
    result = cli(catalog, "manifest", "bump", "notes", "5.0.1", "--url", server.http_url("ok/notes-5.0.1-win64.7z"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "downloads must use https" in result.stderr and "left unchanged" in result.stderr
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*tmp"))


def test_bump_refuses_what_it_cannot_do(catalog: Path) -> None:
    result = cli(catalog, "manifest", "bump", "notes", "5.0.1")  # the unnamed check is the default one
    assert result.returncode == 2 and "its check has no autoupdate" in result.stderr
    result = cli(catalog, "manifest", "bump", "notes", "5.0.1", "--line", "beta")
    assert result.returncode == 2 and "no check for line beta" in result.stderr
    result = cli(catalog, "manifest", "bump", "notes", "5.0.1", "--line", "lts")
    assert result.returncode == 2 and "no autoupdate" in result.stderr and "--url" in result.stderr
    result = cli(catalog, "manifest", "bump", "editor", "3.1.0")
    assert result.returncode == 2 and "already lists version 3.1.0" in result.stderr


# --- verify --changed-since ------------------------------------------------------------------------

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env={**os.environ, **GIT_ENV})


EXTRA_APP = """\
id: extra
name: Extra
category: utilities
license: MIT
homepage: https://upstream.test/extra/
source_code: https://upstream.test/extra/
summary: {fr: Test., en: Test.}
releases:
  - version: "1.0"
    artifacts:
      - platform: windows
        arch: x86
        kind: zip
        url: https://upstream.test/ok/extra-1.0.zip
        sha256: d07c44647a9045895e4c57864a3ec2215eb7cebacf226260d545eed882b0e331
        checksum_source: upstream checksum file https://upstream.test/ok/extra-1.0.zip.sha256
        size: 4200
"""


@pytest.mark.parametrize("commit", [True, False], ids=["committed", "working-tree"])
def test_verify_changed_since_checks_only_changed_artifacts(catalog: Path, server: LocalServer, commit: bool) -> None:
    repo = catalog.parent
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "manifests")
    git(repo, "commit", "-q", "-m", "catalog")
    notes = catalog / "apps" / "notes.yaml"
    good = sha(payload("notes-4.8.3-win64.7z"))
    notes.write_text(notes.read_text().replace(good, sha(b"something else")))
    (catalog / "apps" / "extra.yaml").write_text(localize(EXTRA_APP, server))
    if commit:
        git(repo, "add", "manifests")
        git(repo, "commit", "-q", "-m", "change")
    before = dict(server.files.hits)
    ref = "HEAD~1" if commit else "HEAD"
    result = cli(catalog, "manifest", "verify", "--changed-since", ref, "--json")
    assert result.returncode == 4, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["checked"] == 2 and doc["ok"] == 1 and doc["failed"] == 1 and doc["skipped_unchanged"] == 7
    status = {a["name"]: a["status"] for a in doc["artifacts"]}
    assert status == {"notes 4.8.3 windows/x86_64/7z": "mismatch", "extra 1.0 windows/x86/zip": "ok"}
    requested = {p: n - before.get(p, 0) for p, n in server.files.hits.items() if n != before.get(p, 0)}
    assert requested == {"/ok/notes-4.8.3-win64.7z": 1, "/ok/extra-1.0.zip": 1}  # nothing unchanged downloaded


def test_verify_named_apps_and_whole_catalog_guard(catalog: Path) -> None:
    result = cli(catalog, "manifest", "verify", "viewer")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 artifact(s) checked: 2 ok, 0 failed" in result.stderr
    result = cli(catalog, "manifest", "verify")  # no terminal, no --yes: refused before downloading anything
    assert result.returncode == 2 and "--yes" in result.stderr
