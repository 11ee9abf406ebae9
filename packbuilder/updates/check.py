"""``manifest check-updates``: ask each upstream for its newest version, one check per release line.

Three kinds of upstream, as real projects publish them:

- ``github``: the repository's releases (``GET /repos/OWNER/NAME/releases``), drafts always
  skipped, pre-releases unless the check allows them, the version read from the tag;
- ``html``: a download page or folder listing, every match of a regex;
- ``json``: a feed, a dotted path to one version or a list of versions.

The GitHub API base is ``$PACKBUILDER_GITHUB_API`` when set (tests point it at a local server);
``$GITHUB_TOKEN``, when set, is sent to raise the API's rate limit (CI has one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from packbuilder.i18n import _
from packbuilder.model.app import App, Check, CheckType, Release
from packbuilder.versions import is_valid_version, version_key
from packbuilder.versionspec import Constraint, match_version

if TYPE_CHECKING:
    import requests

GITHUB_API = "https://api.github.com"
TIMEOUT = (10.0, 30.0)
MAX_PAGE = 5 * 2**20  # a release list or a download page is never this large

Status = Literal["up to date", "update available", "check failed"]


class CheckError(Exception):
    """One check could not give a version: the reason is shown in its row."""


@dataclass(frozen=True)
class CheckResult:
    app: str
    line: str | None
    type: str
    current: str | None
    latest: str | None
    status: Status
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def github_api() -> str:
    return os.environ.get("PACKBUILDER_GITHUB_API", GITHUB_API).rstrip("/")


def line_releases(app: App, line: str | None) -> list[Release]:
    """Releases a check follows, newest first: those of its line, or all when it names none."""
    chosen = [r for r in app.releases if line is None or r.line == line]
    return sorted(chosen, key=lambda r: version_key(r.version), reverse=True)


def current_version(app: App, line: str | None) -> str | None:
    releases = line_releases(app, line)
    return releases[0].version if releases else None


# --- reading upstreams -----------------------------------------------------------------------


def _get(session: requests.Session, url: str, headers: dict[str, str] | None = None) -> requests.Response:
    import requests

    try:
        response = session.get(url, headers=headers or {}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        from packbuilder.fetch.download import _describe

        raise CheckError(_("{source}: {reason}").format(source=url, reason=_describe(exc))) from None
    if response.status_code in (403, 429) and url.startswith(github_api()):
        raise CheckError(
            _("{url}: HTTP {status}: GitHub API rate limit? set GITHUB_TOKEN to raise it").format(
                url=url, status=response.status_code
            )
        )
    if response.status_code != 200:
        reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
        raise CheckError(_("{source}: {reason}").format(source=url, reason=reason))
    if len(response.content) > MAX_PAGE:
        raise CheckError(_("{url}: answer larger than {count} bytes").format(url=url, count=MAX_PAGE))
    return response


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CheckError(_("{url}: not JSON").format(url=response.url)) from None


def github_versions(session: requests.Session, check: Check) -> list[str]:
    url = f"{github_api()}/repos/{check.repo}/releases?per_page=100"
    headers = {"Accept": "application/vnd.github+json"}
    token = os.environ.get("GITHUB_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    releases = _json(_get(session, url, headers))
    if not isinstance(releases, list):
        raise CheckError(_("{url}: expected a list of releases").format(url=url))
    pattern = re.compile(check.tag)
    versions: list[str] = []
    for release in releases:
        if not isinstance(release, dict) or release.get("draft"):
            continue
        if release.get("prerelease") and not check.prerelease:
            continue
        match = pattern.search(str(release.get("tag_name", "")))
        version = match_version(pattern, match) if match else None
        if version:
            versions.append(version)
    return versions


def html_versions(session: requests.Session, check: Check) -> list[str]:
    assert check.url and check.regex
    pattern = re.compile(check.regex, re.MULTILINE)
    text = _get(session, check.url).text
    return [v for v in (match_version(pattern, m) for m in pattern.finditer(text)) if v]


_PATH_PART_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def follow_path(document: Any, path: str) -> Any:
    """``releases[0].version`` in a JSON document; CheckError naming the part that is missing."""
    node = document
    walked = ""
    for key, index in _PATH_PART_RE.findall(path):
        if key:
            if not isinstance(node, dict) or key not in node:
                raise CheckError(_("no key {key!r} at {where} of the JSON").format(key=key, where=walked or _("the top")))
            node = node[key]
            walked += ("." if walked else "") + key
        else:
            i = int(index)
            if not isinstance(node, list) or i >= len(node):
                raise CheckError(_("no item [{index}] at {where} of the JSON").format(index=i, where=walked or _("the top")))
            node = node[i]
            walked += f"[{i}]"
    return node


def json_versions(session: requests.Session, check: Check) -> list[str]:
    assert check.url and check.path
    value = follow_path(_json(_get(session, check.url)), check.path)
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        raise CheckError(_("{path} is not a version or a list of versions").format(path=check.path))
    return [str(v) for v in values]


READERS = {CheckType.GITHUB: github_versions, CheckType.HTML: html_versions, CheckType.JSON: json_versions}


def latest_version(session: requests.Session, check: Check) -> str:
    """The newest upstream version this check accepts (valid, within the constraint)."""
    found = [v.strip() for v in READERS[check.type](session, check)]
    valid = [v for v in found if is_valid_version(v)]
    if not valid:
        if found:
            raise CheckError(_("no valid version in {found}").format(found=found[:5]))
        if check.type is CheckType.GITHUB:
            raise CheckError(_("no version found upstream (no release tag gave a version)"))
        raise CheckError(_("no version found upstream (no match gave a version)"))
    if check.constraint:
        constraint = Constraint.parse(check.constraint)
        kept = [v for v in valid if constraint.allows(v)]
        if not kept:
            newest = max(valid, key=version_key)
            raise CheckError(
                _("no upstream version satisfies {constraint} (newest upstream: {newest})").format(
                    constraint=constraint, newest=newest
                )
            )
        valid = kept
    return max(valid, key=version_key)


# --- running the checks ----------------------------------------------------------------------


def run_check(app: App, check: Check, session: requests.Session | None = None) -> CheckResult:
    from packbuilder.fetch.download import make_session

    current = current_version(app, check.line)
    try:
        latest = latest_version(session or make_session(), check)
    except CheckError as exc:
        return CheckResult(app.id, check.line, check.type.value, current, None, "check failed", str(exc))
    status: Status = "up to date"
    if current is None or version_key(latest) > version_key(current):
        status = "update available"
    return CheckResult(app.id, check.line, check.type.value, current, latest, status)


def check_updates(apps: Iterable[App], jobs: int = 8) -> list[CheckResult]:
    """Every check of every app, in parallel; results in the apps' and checks' order."""
    from packbuilder.fetch.download import make_session

    work = [(app, check) for app in apps for check in app.checkver or ()]
    sessions: dict[int, requests.Session] = {}

    def one(pair: tuple[App, Check]) -> CheckResult:
        import threading

        # One session per thread: requests sessions are not thread-safe.
        session = sessions.get(threading.get_ident())
        if session is None:
            session = sessions[threading.get_ident()] = make_session()
        return run_check(pair[0], pair[1], session)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(work) or 1))) as pool:
        return list(pool.map(one, work))
