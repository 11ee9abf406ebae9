"""``plan``'s lines in the reader's language: the resolver's English sentences, or the same facts
in French from the codes it keeps (:mod:`packbuilder.reasons`); locks never depend on the locale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packbuilder.plan.resolve import recommended
from packbuilder.reasons import explain

if TYPE_CHECKING:
    from packbuilder.model import Profile
    from packbuilder.plan.resolve import Exclusion, PlanItem


def plan_item_line(item: PlanItem, profile: Profile, lang: str) -> str:
    """``plan``'s line for a chosen app: the resolver's English sentence, or the same facts in
    French from the codes (the resolver's text stays English: locks must not depend on the locale)."""
    if lang != "fr":
        return item.reason
    art = item.artifact
    parts = [explain(item.misfits, "fr") if item.misfits else "version la plus récente"]
    if item.replaces:
        because = explain(item.replaced_misfits, "fr") if item.replaced_misfits else ""
        parts.insert(0, f"au lieu de {item.replaces}" + (f" ({because})" if because else ""))
    if item.needed_by:
        parts.insert(0, f"nécessaire à {item.needed_by}")
    if art.arch.value not in (profile.arch.value, "any"):
        parts.append(f"version {art.arch.value} qui fonctionne sur {profile.arch.value}")
    if not recommended(art, profile):
        parts.append(f"fonctionne, mais {art.requires.ram_mb_recommended} Mio de mémoire sont conseillés")
    if not art.portable:
        parts.append(f"{art.kind.value} décompressé sans installation")
    return f"{item.app.id} {item.release.version} : " + " ; ".join(parts)


def exclusion_line(exclusion: Exclusion, lang: str) -> str:
    """``plan``'s line for an app left out, in ``lang`` when its reason has codes."""
    if lang != "fr" or not exclusion.misfits:
        return exclusion.reason
    return f"{exclusion.app} exclu : {explain(exclusion.misfits, 'fr')}"
