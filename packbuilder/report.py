"""The catalog report for maintainers: what each pack gives each PC it is meant for, by
category, and how fresh and how exact each artifact's facts are.

A pure function of the catalog and a date (no I/O), rendered as JSON or Markdown. The age of
a source is read from the date written in its ``checksum_source`` (``@ <commit> (2026-08-22)``):
a source without a date is counted as such, so maintainers know which ones to date.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from packbuilder.catalog import Catalog
from packbuilder.i18n import _
from packbuilder.model import Pack, Profile
from packbuilder.plan.resolve import Plan, live_base, resolve

_DATE = re.compile(r"\b(20\d\d-[01]\d-[0-3]\d)\b")


def source_date(checksum_source: str) -> dt.date | None:
    """The newest date written in a checksum source, if any."""
    dates = []
    for text in _DATE.findall(checksum_source):
        try:
            dates.append(dt.date.fromisoformat(text))
        except ValueError:
            continue
    return max(dates) if dates else None


def plan_for(catalog: Catalog, pack: Pack, profile: Profile) -> Plan:
    """As ``plan`` does: a pack with a base goes to a Linux PC as a live key on that base."""
    return resolve(catalog, pack, profile, base=live_base(catalog, pack, profile))


def _coverage(catalog: Catalog, pack: Pack, profile: Profile) -> dict[str, Any]:
    plan = plan_for(catalog, pack, profile)
    categories: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def slot(category: str) -> dict[str, list[dict[str, Any]]]:
        return categories.setdefault(category, {"apps": [], "from_base": [], "missing": []})

    for item in plan.items:
        entry = {"app": item.app.id, "version": item.release.version, "arch": item.artifact.arch.value}
        if item.artifact.lang:
            entry["lang"] = item.artifact.lang
        if item.replaces:
            entry["replaces"] = item.replaces
        if item.needed_by:
            entry["needed_by"] = item.needed_by
        slot(item.app.category.value)["apps"].append(entry)
    for provided in plan.base_apps:
        slot(provided.app.category.value)["from_base"].append({"app": provided.app.id, "version": provided.app.version})
    for exclusion in plan.excluded:
        known = catalog.apps.get(exclusion.app)
        category = known.category.value if known else "unknown"
        slot(category)["missing"].append({"app": exclusion.app, "reason": exclusion.reason})
    return {
        "pack": pack.id,
        "profile": profile.id,
        "base": plan.base.id if plan.base else None,
        "empty": not plan.items and not plan.base_apps,
        "download_bytes": plan.download_bytes,
        "categories": dict(sorted(categories.items())),
    }


def _artifacts(catalog: Catalog, today: dt.date) -> list[dict[str, Any]]:
    rows = []
    for app in sorted(catalog.apps.values(), key=lambda a: a.id):
        for release in app.releases:
            for art in release.artifacts:
                when = source_date(art.checksum_source)
                rows.append(
                    {
                        "app": app.id,
                        "version": release.version,
                        "platform": art.platform.value,
                        "arch": art.arch.value,
                        "lang": art.lang,
                        "kind": art.kind.value,
                        "hash": art.digest[0],
                        "checksum_source": art.checksum_source,
                        "source_date": when.isoformat() if when else None,
                        "source_age_days": (today - when).days if when else None,
                        "size_exact": art.size is not None,
                        "requires_source": art.requires.source,
                    }
                )
    return rows


def build_report(catalog: Catalog, today: dt.date) -> dict[str, Any]:
    """Coverage of every pack on every profile it declares (all profiles when it declares none)."""
    coverage = []
    for pack in sorted(catalog.packs.values(), key=lambda p: p.id):
        for profile_id in pack.profiles or tuple(sorted(catalog.profiles)):
            if profile_id in catalog.profiles:
                coverage.append(_coverage(catalog, pack, catalog.profiles[profile_id]))
    artifacts = _artifacts(catalog, today)
    ages = [a["source_age_days"] for a in artifacts if a["source_age_days"] is not None]
    return {
        "date": today.isoformat(),
        "apps": len(catalog.apps),
        "artifacts": artifacts,
        "coverage": coverage,
        "summary": {
            "artifacts": len(artifacts),
            "exact_sizes": sum(a["size_exact"] for a in artifacts),
            "sources_without_date": sum(a["source_date"] is None for a in artifacts),
            "oldest_source_days": max(ages) if ages else None,
            "empty_keys": [f"{c['pack']}/{c['profile']}" for c in coverage if c["empty"]],
        },
    }


# --- Markdown --------------------------------------------------------------------------------------


def _cell(slot: dict[str, list[dict[str, Any]]]) -> str:
    parts = [f"{a['app']} {a['version']}" + (f" ({a['lang']})" if a.get("lang") else "") for a in slot["apps"]]
    parts += [_("{app} {version} (base)").format(app=a["app"], version=a["version"]) for a in slot["from_base"]]
    if not parts:
        return "**" + _("none") + "**" if slot["missing"] else "—"
    missing = ""
    if slot["missing"]:
        missing = " · " + _("missing: {apps}").format(apps=", ".join(m["app"] for m in slot["missing"]))
    return ", ".join(parts) + missing


def _coverage_md(report: dict[str, Any]) -> list[str]:
    lines: list[str] = ["## " + _("Coverage by pack, profile and category"), ""]
    by_pack: dict[str, list[dict[str, Any]]] = {}
    for row in report["coverage"]:
        by_pack.setdefault(row["pack"], []).append(row)
    for pack, rows in by_pack.items():
        categories = sorted({c for row in rows for c in row["categories"]})
        header = "| " + _("profile") + " | " + " | ".join(categories) + " |"
        lines += [f"### {pack}", "", header, "|---" * (len(categories) + 1) + "|"]
        for row in rows:
            name = row["profile"] + (" " + _("(live: {base})").format(base=row["base"]) if row["base"] else "")
            name += " **" + _("EMPTY") + "**" if row["empty"] else ""
            cells = [_cell(row["categories"][c]) if c in row["categories"] else "—" for c in categories]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        for row in rows:
            for category, slot in row["categories"].items():
                for miss in slot["missing"]:
                    lines.append(f"- {row['profile']}, {category}: {miss['reason']}")
        lines.append("")
    return lines


def _artifacts_md(report: dict[str, Any]) -> list[str]:
    lines = [
        "## " + _("Artifacts: age of the hash source, exact size"),
        "",
        "| " + " | ".join((_("app"), _("version"), _("build"), _("hash"), _("source date"), _("age (days)"), _("size"))) + " |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in report["artifacts"]:
        build = f"{a['platform']}/{a['arch']} {a['kind']}" + (f" [{a['lang']}]" if a["lang"] else "")
        age = "—" if a["source_age_days"] is None else str(a["source_age_days"])
        size = _("exact") if a["size_exact"] else _("estimate")
        when = a["source_date"] or _("no date")
        lines.append(f"| {a['app']} | {a['version']} | {build} | {a['hash']} | {when} | {age} | {size} |")
    return lines


def report_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    head = [
        "# " + _("Catalog report ({date})").format(date=report["date"]),
        "",
        "- "
        + _("{apps} apps, {artifacts} artifacts; {exact} with an exact size, {estimated} with an estimate").format(
            apps=report["apps"], artifacts=s["artifacts"], exact=s["exact_sizes"], estimated=s["artifacts"] - s["exact_sizes"]
        ),
        "- "
        + _("{undated} hash sources carry no date; the oldest dated one is {days} days old").format(
            undated=s["sources_without_date"], days=s["oldest_source_days"]
        ),
        "- " + _("empty keys: {keys}").format(keys=", ".join(s["empty_keys"]) or _("none")),
        "",
    ]
    return "\n".join(head + _coverage_md(report) + _artifacts_md(report)) + "\n"
