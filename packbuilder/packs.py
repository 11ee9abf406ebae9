"""What ``packs list`` and ``packs show`` tell about the catalog's packs (the CLI only prints it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packbuilder.catalog import Catalog
    from packbuilder.model import Pack


def pack_summary(catalog: Catalog, pack: Pack) -> dict[str, Any]:
    """One pack in a listing: id, names, apps (categories expanded), the profiles it is meant for."""
    from packbuilder.plan.resolve import pack_app_ids

    return {
        "id": pack.id,
        "name": {"fr": pack.name.fr, "en": pack.name.en},
        "summary": {"fr": pack.summary.fr, "en": pack.summary.en},
        "apps": pack_app_ids(catalog, pack),
        "profiles": list(pack.profiles),
    }


def list_packs(catalog: Catalog) -> list[dict[str, Any]]:
    return [pack_summary(catalog, catalog.packs[pack_id]) for pack_id in sorted(catalog.packs)]


def pack_details(catalog: Catalog, pack: Pack) -> dict[str, Any]:
    """Everything ``packs show`` prints: the summary, each app's name and category, the profiles'
    names, overlays, base, label, language, and the file the pack was read from."""
    from packbuilder.fsutil import display_path

    details = pack_summary(catalog, pack)
    source = catalog.sources.get(("pack", pack.id))
    details.update(
        {
            "apps": [
                {"id": app_id, "name": catalog.apps[app_id].name, "category": catalog.apps[app_id].category.value}
                for app_id in details["apps"]
            ],
            "profiles": [
                {"id": p, "name": {"fr": catalog.profiles[p].name.fr, "en": catalog.profiles[p].name.en}}
                for p in pack.profiles
                if p in catalog.profiles
            ],
            "any_profile": not pack.profiles,
            "overlays": list(pack.overlays),
            "base": pack.base,
            "label": pack.label,
            "locale": pack.locale,
            "file": display_path(source) if source else None,
        }
    )
    return details
