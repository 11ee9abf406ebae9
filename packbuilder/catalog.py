"""Load a manifests tree into a Catalog, collecting every problem with file, line and field.

Layout: ``<root>/apps/<id>.yaml``, ``profiles/``, ``packs/``, ``bases/``, public keys in
``keys/``. The file name is the id. Loading never stops at the first problem: a maintainer
fixing a pull request sees all of them at once.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from packbuilder.errors import InputError
from packbuilder.fsutil import display_path
from packbuilder.i18n import _
from packbuilder.lint_rules import HTTPS_ONLY, download_rules, review_rules
from packbuilder.model import KINDS, App, Artifact, Base, CategoryRef, Pack, Profile
from packbuilder.model.common import ID_RE
from packbuilder.model.messages import error_text
from packbuilder.versions import OsRange, version_key
from packbuilder.yamlsrc import Loc, SourceDoc, YamlSyntaxError, format_loc, load_yaml

T = TypeVar("T")
KIND_DIRS = {"apps": "app", "profiles": "profile", "packs": "pack", "bases": "base"}
Severity = Literal["error", "warning"]
WEAK_HASHES = ("sha1", "md5")


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    field: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        tag = _("warning: ") if self.severity == "warning" else ""
        return f"{self.path}:{self.line}: {self.field}: {tag}{self.message}"


@dataclass
class Catalog:
    root: Path
    apps: dict[str, App] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    packs: dict[str, Pack] = field(default_factory=dict)
    bases: dict[str, Base] = field(default_factory=dict)
    sources: dict[tuple[str, str], Path] = field(default_factory=dict)

    def app(self, app_id: str) -> App:
        return _get(self.apps, app_id, "app", "packbuilder catalog list")

    def profile(self, profile_id: str) -> Profile:
        return _get(self.profiles, profile_id, "profile", "packbuilder profiles list")

    def pack(self, pack_id: str) -> Pack:
        return _get(self.packs, pack_id, "pack", "packbuilder packs list")

    def base(self, base_id: str) -> Base:
        return _get(self.bases, base_id, "base", f"ls {display_path(self.root / 'bases')}")


def _get(table: dict[str, T], key: str, what: str, listing: str) -> T:
    try:
        return table[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, table, n=3)
        if what == "app":
            message = _("unknown app {id!r}")
        elif what == "profile":
            message = _("unknown profile {id!r}")
        elif what == "pack":
            message = _("unknown pack {id!r}")
        else:
            message = _("unknown base {id!r}")
        if close:
            hint = _("did you mean {names}? List them with: {command}").format(names=", ".join(close), command=listing)
        else:
            hint = _("List them with: {command}").format(command=listing)
        raise InputError(message.format(id=key), hint=hint) from None


class _Collector:
    """Problems found while loading, and where each object came from."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.docs: dict[tuple[str, str], SourceDoc] = {}
        # Ids whose file exists but did not load: references to them are not reported twice.
        self.broken: set[tuple[str, str]] = set()
        self.read: list[tuple[str, SourceDoc]] = []  # every file read as a mapping, loaded or not (lint_rules)

    def add(self, doc: SourceDoc | Path, loc: Loc, message: str, severity: Severity = "error") -> None:
        if isinstance(doc, SourceDoc):
            self.problems.append(Problem(display_path(doc.path), doc.line_of(loc), format_loc(loc), message, severity))
        else:
            self.problems.append(Problem(display_path(doc), 1, format_loc(loc), message, severity))

    def at(self, kind: str, obj_id: str, loc: Loc, message: str, severity: Severity = "error") -> None:
        self.add(self.docs[(kind, obj_id)], loc, message, severity)


def _clean_loc(data: Any, loc: tuple[int | str, ...]) -> Loc:
    """Drop the type tags pydantic puts in union locations (``str``, ``CategoryRef``)."""
    out: list[int | str] = []
    node = data
    for part in loc:
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_list or (isinstance(node, dict) and part in node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part[:1].islower() and "[" not in part:
            out.append(part)  # a missing key: point at its parent's line, name the key
            node = None
        # else: a union branch tag; skip it
    return tuple(out)


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden" and error["loc"] and error["loc"][-1] in WEAK_HASHES:
        return _("sha1 and md5 are too weak: give the sha256 (or sha512) the publisher gave, or leave this artifact out")
    if error["type"] == "too_short":
        return _("must list at least {count} item(s)").format(count=error.get("ctx", {}).get("min_length", 1))
    if error["type"] == "extra_forbidden":
        return _("unknown key (check the spelling; `packbuilder manifest schema` lists the keys)")
    if error["type"] == "missing":
        return _("required key is missing")
    return error_text(error)


def _validate(col: _Collector, doc: SourceDoc, model: type[BaseModel]) -> BaseModel | None:
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        merged: dict[Loc, list[str]] = defaultdict(list)
        errors = exc.errors()
        for error in errors:
            loc = _clean_loc(doc.data, error["loc"])
            if error["type"] == "too_short" and any(
                len(other["loc"]) > len(error["loc"]) and other["loc"][: len(error["loc"])] == error["loc"] for other in errors
            ):
                continue  # a list whose items failed is reported through those items
            msg = _message(error)
            if msg not in merged[loc]:
                merged[loc].append(msg)
        for loc, msgs in merged.items():
            col.add(doc, loc, _("; or ").join(msgs) if len(msgs) > 1 else msgs[0])
        return None


def _load_file(col: _Collector, path: Path, kind: str) -> tuple[SourceDoc, BaseModel] | None:
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        col.problems.append(Problem(display_path(path), exc.line, "(document)", exc.message))
        return None
    except OSError as exc:
        col.problems.append(Problem(display_path(path), 1, "(document)", _("cannot read: {reason}").format(reason=exc.strerror)))
        return None
    if not isinstance(doc.data, dict):
        col.add(doc, (), _("a manifest must be a mapping of keys to values (this {kind} file is not)").format(kind=kind))
        return None
    col.read.append((kind, doc))
    stem = path.stem
    if not ID_RE.match(stem):
        col.add(
            doc, (), _("file name {name!r} is not a valid id: rename it (lowercase letters, digits, '-', '_')").format(
                name=path.name
            )
        )
    elif "id" in doc.data and doc.data["id"] != stem:
        col.add(doc, ("id",), _("id {id!r} must equal the file name {stem!r}").format(id=doc.data["id"], stem=stem))
        _validate(col, doc, KINDS[kind])  # still report its other problems
        return None
    model = _validate(col, doc, KINDS[kind])
    if model is None:
        return None
    return doc, model


def scan_files(root: Path) -> list[tuple[Path, str]]:
    """Every manifest file under a catalog root, with its kind, in a stable order."""
    files: list[tuple[Path, str]] = []
    for dirname, kind in KIND_DIRS.items():
        folder = root / dirname
        if folder.is_dir():
            files.extend((p, kind) for p in sorted(folder.iterdir()) if p.suffix in (".yaml", ".yml"))
    return files


def check_tree(root: Path, review: bool = False) -> tuple[Catalog, list[Problem]]:
    """Load everything under ``root``; return what loaded and every problem found, in one pass
    (with ``review``, also what ``manifest lint`` checks for reviewers: lint_rules)."""
    col = _Collector()
    catalog = Catalog(root=root)
    tables: dict[str, dict[str, Any]] = {
        "app": catalog.apps,
        "profile": catalog.profiles,
        "pack": catalog.packs,
        "base": catalog.bases,
    }
    if not any((root / d).is_dir() for d in KIND_DIRS):
        raise InputError(
            _("{path} is not a catalog: it has none of {folders}").format(
                path=display_path(root), folders=", ".join(d + "/" for d in KIND_DIRS)
            ),
            hint=_("point --catalog (or $PACKBUILDER_CATALOG) at a manifests folder"),
        )
    for path, kind in scan_files(root):
        if path.suffix == ".yml":
            col.add(path, (), _("manifests use the .yaml extension: rename this file"))
            continue
        loaded = _load_file(col, path, kind)
        if loaded is None:
            col.broken.add((kind, path.stem))
            continue
        doc, model = loaded
        obj_id = str(getattr(model, "id"))  # noqa: B009  # every manifest kind has an id
        if obj_id in tables[kind]:
            first = catalog.sources[(kind, obj_id)]
            col.add(
                doc, ("id",), _("duplicate {kind} id {id!r}: also defined in {path}").format(
                    kind=kind, id=obj_id, path=display_path(first)
                )
            )
            continue
        tables[kind][obj_id] = model
        catalog.sources[(kind, obj_id)] = path
        col.docs[(kind, obj_id)] = doc
    _check_semantics(col, catalog)
    for kind, doc in col.read:
        if kind == "app":
            for loc, message, severity in download_rules(doc.data) + (review_rules(doc.data) if review else []):
                col.add(doc, loc, message, severity)  # type: ignore[arg-type]
    return catalog, sorted(set(col.problems))  # a rule and the model may say the same thing


def load_catalog(root: Path) -> Catalog:
    """Load a catalog for use; any error stops with every problem listed."""
    catalog, problems = check_tree(root)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InputError(
            _("the catalog in {path} has {count} problem(s)").format(path=display_path(root), count=len(errors)),
            hint=_("run: packbuilder manifest lint {path}").format(path=display_path(root)),
            details=[str(p) for p in errors],
        )
    return catalog


# --- checks across fields and files ----------------------------------------------------------

_PLATFORM_KINDS = {
    "windows": {"zip", "7z", "paf", "exe", "msi"},
    "linux": {"appimage", "tar"},
}
_PLATFORM_OS = {"windows": "windows", "linux": "linux-glibc"}


def _check_url(col: _Collector, kind: str, obj_id: str, loc: Loc, url: str, insecure: bool) -> None:
    if url.startswith("http://"):
        if insecure:
            col.at(
                kind, obj_id, loc, _("plain http download (allowed by 'insecure: true'; the hash still protects it)"), "warning"
            )
        else:
            col.at(kind, obj_id, loc, _(HTTPS_ONLY))


def _check_app(col: _Collector, catalog: Catalog, app: App) -> None:
    def at(loc: Loc, msg: str, sev: Severity = "error") -> None:
        col.at("app", app.id, loc, msg, sev)

    for key in ("alternatives", "lighter_than"):
        for i, other in enumerate(getattr(app, key)):
            if other not in catalog.apps and ("app", other) not in col.broken:
                at((key, i), _("unknown app {id!r}: there is no apps/{id}.yaml").format(id=other))
            elif other == app.id:
                at((key, i), _("an app cannot be its own alternative"))
    seen_versions: dict[tuple[Any, ...], int] = {}
    approx: list[Loc] = []
    for r, release in enumerate(app.releases):
        vkey = version_key(release.version)
        if vkey in seen_versions:
            at(("releases", r, "version"), _("version {version!r} is already listed at releases[{index}]").format(
                version=release.version, index=seen_versions[vkey]
            ))
        seen_versions.setdefault(vkey, r)
        seen: dict[tuple[str, ...], int] = {}
        for a, art in enumerate(release.artifacts):
            loc: Loc = ("releases", r, "artifacts", a)
            slot = (art.platform.value, art.arch.value, art.kind.value, art.lang or "")
            if slot in seen:
                at(loc, _("same platform/arch/kind/lang as artifacts[{index}]: {slot}").format(
                    index=seen[slot], slot="/".join(s for s in slot if s)
                ))
            seen.setdefault(slot, a)
            if art.kind.value not in _PLATFORM_KINDS[art.platform.value]:
                allowed = ", ".join(sorted(_PLATFORM_KINDS[art.platform.value]))
                at((*loc, "kind"), _("kind {kind!r} is not for {platform} (use one of {allowed})").format(
                    kind=art.kind.value, platform=art.platform.value, allowed=allowed
                ))
            _check_url(col, "app", app.id, (*loc, "url"), art.url, art.insecure)
            for m, mirror in enumerate(art.mirrors):
                _check_url(col, "app", app.id, (*loc, "mirrors", m), mirror, art.insecure)
            if art.signature:
                _check_url(col, "app", app.id, (*loc, "signature", "url"), art.signature.url, False)
                _check_key(col, catalog, "app", app.id, (*loc, "signature", "key"), art.signature.key)
            if art.requires.os:
                family = OsRange.parse(art.requires.os).family
                if family != _PLATFORM_OS[art.platform.value]:
                    at((*loc, "requires", "os"), _("{family!r} range on a {platform} artifact").format(
                        family=family, platform=art.platform.value
                    ))
            if art.size is None:
                approx.append((*loc, "size_approx"))
            _check_requires(col, catalog, app, (*loc, "requires"), art)
    if approx:
        message = _("{count} artifact(s) have only an approximate size: record exact sizes when known")
        at(approx[0], message.format(count=len(approx)), "warning")
    for key in ("homepage", "source_code"):
        if getattr(app, key).startswith("http://"):
            at((key,), _("prefer an https link"), "warning")


def _check_requires(col: _Collector, catalog: Catalog, app: App, loc: Loc, art: Artifact) -> None:
    req = art.requires
    for d, dep in enumerate(req.depends):
        if dep == app.id:
            col.at("app", app.id, (*loc, "depends", d), _("an app cannot depend on itself"))
        elif dep not in catalog.apps and ("app", dep) not in col.broken:
            col.at("app", app.id, (*loc, "depends", d), _("unknown app {id!r}: there is no apps/{id}.yaml").format(id=dep))
    stated = req.os or req.ram_mb or req.ram_mb_recommended or req.cpu or req.depends
    if stated and not req.source:
        col.at("app", app.id, loc, _("requirements without a 'source': say where they were read, or write 'estimate'"), "warning")


def _check_base(col: _Collector, catalog: Catalog, base: Base) -> None:
    seen: set[str] = set()
    for i, provided in enumerate(base.apps):
        if provided.id in seen:
            col.at("base", base.id, ("apps", i, "id"), _("{id!r} is listed twice").format(id=provided.id))
        seen.add(provided.id)
        known = catalog.apps.get(provided.id)
        if known is not None and known.category != provided.category:
            message = _("the catalog files {id} under {category!r}").format(id=provided.id, category=known.category.value)
            col.at("base", base.id, ("apps", i, "category"), message)


def _check_key(col: _Collector, catalog: Catalog, kind: str, obj_id: str, loc: Loc, key: str) -> None:
    if not (catalog.root / "keys" / key).is_file():
        col.at(kind, obj_id, loc, _("no public key file keys/{key} in the catalog").format(key=key))


def _check_pack(col: _Collector, catalog: Catalog, pack: Pack) -> None:
    def at(loc: Loc, msg: str) -> None:
        col.at("pack", pack.id, loc, msg)

    for i, entry in enumerate(pack.apps):
        if isinstance(entry, CategoryRef):
            some_broken = any(kind == "app" for kind, _id in col.broken)
            if not some_broken and not any(a.category == entry.category for a in catalog.apps.values()):
                at(("apps", i, "category"), _("no app in category {category!r}").format(category=entry.category.value))
        elif entry not in catalog.apps and ("app", entry) not in col.broken:
            at(("apps", i), _("unknown app {id!r}: there is no apps/{id}.yaml").format(id=entry))
    for i, profile_id in enumerate(pack.profiles):
        if profile_id not in catalog.profiles and ("profile", profile_id) not in col.broken:
            at(("profiles", i), _("unknown profile {id!r}: there is no profiles/{id}.yaml").format(id=profile_id))
    if pack.base is not None and pack.base not in catalog.bases and ("base", pack.base) not in col.broken:
        at(("base",), _("unknown base {id!r}: there is no bases/{id}.yaml").format(id=pack.base))
    overlays_dir = overlays_root(catalog.root)
    if overlays_dir is not None:
        for i, name in enumerate(pack.overlays):
            if not (overlays_dir / name).is_dir():
                at(
                    ("overlays", i), _("no overlay folder {name!r} in {folder}").format(
                        name=name, folder=display_path(overlays_dir)
                    )
                )


def _check_semantics(col: _Collector, catalog: Catalog) -> None:
    for app in catalog.apps.values():
        _check_app(col, catalog, app)
    for pack in catalog.packs.values():
        _check_pack(col, catalog, pack)
    for base in catalog.bases.values():
        _check_url(col, "base", base.id, ("url",), base.url, False)
        for m, mirror in enumerate(base.mirrors):
            _check_url(col, "base", base.id, ("mirrors", m), mirror, False)
        _check_base(col, catalog, base)
        if base.checksums and base.checksums.signature:
            _check_key(col, catalog, "base", base.id, ("checksums", "signature", "key"), base.checksums.signature.key)


# --- where the catalog is ----------------------------------------------------------------------


def shipped_root() -> Path:
    """The catalog shipped with packbuilder: in a source checkout, or as package data."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_shipped" / "manifests", here.parent / "manifests"):
        if candidate.is_dir():
            return candidate
    raise InputError(_("no catalog shipped with this packbuilder"), hint=_("pass --catalog DIR"))


def overlays_root(catalog_root: Path) -> Path | None:
    """``overlays/`` beside a catalog's ``manifests/`` folder, if there is one."""
    candidate = catalog_root.parent / "overlays"
    return candidate if candidate.is_dir() else None


def overlay_bytes(catalog_root: Path, names: tuple[str, ...]) -> int:
    """Bytes the named overlays put on a key (0 when the catalog has no overlays folder)."""
    from packbuilder.fsutil import tree_size

    overlays = overlays_root(catalog_root)
    return sum(tree_size(overlays / name) for name in names) if overlays else 0


def find_catalog(explicit: Path | None) -> Path:
    """--catalog, then $PACKBUILDER_CATALOG, then ./manifests, then the shipped catalog."""
    if explicit is not None:
        if not explicit.is_dir():
            raise InputError(_("catalog folder {path} does not exist").format(path=display_path(explicit)))
        return explicit
    env = os.environ.get("PACKBUILDER_CATALOG")
    if env:
        if not Path(env).is_dir():
            raise InputError(
                _("$PACKBUILDER_CATALOG={path} is not a folder").format(path=env), hint=_("unset it or fix the path")
            )
        return Path(env)
    local = Path("manifests")
    if local.is_dir() and any((local / d).is_dir() for d in KIND_DIRS):
        return local
    return shipped_root()


def is_file_arg(arg: str) -> bool:
    """PACK or --profile names a file (``x.yaml``, ``./x``) rather than an id."""
    return arg.endswith((".yaml", ".yml")) or os.sep in arg or "/" in arg


def load_file_arg(catalog: Catalog, path: Path, kind: str) -> BaseModel:
    """A pack or profile file given on the command line, checked like the catalog's (every problem
    with file:line), its references checked against the catalog."""
    if not path.is_file():
        message = _("pack file {path} does not exist") if kind == "pack" else _("profile file {path} does not exist")
        raise InputError(message.format(path=display_path(path)))
    col = _Collector()
    loaded = _load_file(col, path, kind)
    if loaded is not None:
        doc, model = loaded
        col.docs[(kind, str(getattr(model, "id")))] = doc  # noqa: B009  # every manifest kind has an id
        if isinstance(model, Pack):
            _check_pack(col, catalog, model)
    errors = [p for p in col.problems if p.severity == "error"]
    if errors or loaded is None:
        message = _("pack file {path} has problems") if kind == "pack" else _("profile file {path} has problems")
        raise InputError(message.format(path=display_path(path)), details=[str(p) for p in sorted(errors)])
    return loaded[1]


ArgModel = TypeVar("ArgModel", Pack, Profile)


def _load_arg(catalog: Catalog, arg: str, kind: str, model: type[ArgModel], by_id: Callable[[str], ArgModel]) -> ArgModel:
    if not is_file_arg(arg):
        return by_id(arg)
    loaded = load_file_arg(catalog, Path(arg), kind)
    assert isinstance(loaded, model)
    return loaded


def load_pack_arg(catalog: Catalog, arg: str) -> Pack:
    """PACK on the command line: a pack id, or the path of a pack file checked against the catalog."""
    return _load_arg(catalog, arg, "pack", Pack, catalog.pack)


def load_profile_arg(catalog: Catalog, arg: str) -> Profile:
    """--profile on the command line: a profile id, or the path of a profile file (``profiles new``)."""
    return _load_arg(catalog, arg, "profile", Profile, catalog.profile)
