"""A profile file for the PC in front of you (``profiles new``): from a few facts, a profile that
loads like the catalog's, written as commented YAML the volunteer can read and edit."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from packbuilder.model import Profile
from packbuilder.model.common import Arch, CpuFlag, Firmware, Text
from packbuilder.model.profile import OsName

# --windows VALUE -> the profile's os; "11" is written windows-11 (same rules as 10 for apps).
WINDOWS = {"xp": OsName.WINDOWS_XP, "vista": OsName.WINDOWS_VISTA, "7": OsName.WINDOWS_7, "8.1": OsName.WINDOWS_8_1,
           "10": OsName.WINDOWS_10, "11": OsName.WINDOWS_11}
WINDOWS_NAMES = {OsName.WINDOWS_XP: "Windows XP", OsName.WINDOWS_VISTA: "Windows Vista", OsName.WINDOWS_7: "Windows 7",
                 OsName.WINDOWS_8_1: "Windows 8.1", OsName.WINDOWS_10: "Windows 10", OsName.WINDOWS_11: "Windows 11"}
# The notes plan and build show for such a PC (the catalog's own profiles say the same).
XP_NOTES = Text(
    fr="Plus aucun navigateur ne reçoit de mises à jour de sécurité sous XP : gardez ce PC hors ligne, "
    "ou passez-le sur une clé Linux live.",
    en="No browser receives security updates on XP any more: keep this PC offline or move it to a live Linux key.",
)


@dataclass(frozen=True)
class PcFacts:
    """What a volunteer can read on the PC: Windows version, 32 or 64 bits, memory, key size."""

    windows: str  # a key of WINDOWS
    bits: int  # 32 or 64
    ram_mb: int
    key_mb: int


def _cpu(os_name: OsName, arch: Arch) -> tuple[CpuFlag, ...]:
    # What each Windows needs to install at all, hence what its PC has: XP runs on SSE2 Pentium 4s,
    # 7 32-bit on PAE, 8.1 and later need PAE and NX; 64-bit Windows 7 needs NX, 10 and 11 64-bit
    # builds since 24H2 need x86-64-v2 (SSE4.2, POPCNT), which 10 on older PCs may lack: not assumed.
    flags = [CpuFlag.SSE2]
    if os_name != OsName.WINDOWS_XP:
        flags.append(CpuFlag.PAE)
    if arch == Arch.X86_64 or os_name in (OsName.WINDOWS_8_1, OsName.WINDOWS_10, OsName.WINDOWS_11):
        flags.append(CpuFlag.NX)
    if os_name == OsName.WINDOWS_11:
        flags.append(CpuFlag.X86_64_V2)
    return tuple(flags)


def _firmware(os_name: OsName, arch: Arch) -> tuple[Firmware, ...]:
    if os_name == OsName.WINDOWS_11:
        return (Firmware.UEFI64,)
    if arch == Arch.X86_64 and os_name != OsName.WINDOWS_XP:
        return (Firmware.BIOS, Firmware.UEFI64)
    return (Firmware.BIOS,)


def _memory(ram_mb: int, lang: str) -> str:
    if ram_mb % 1024 == 0:
        return f"{ram_mb // 1024} Go" if lang == "fr" else f"{ram_mb // 1024} GB"
    return f"{ram_mb} Mo" if lang == "fr" else f"{ram_mb} MB"


def new_profile(profile_id: str, facts: PcFacts) -> Profile:
    """The profile of such a PC, validated like a catalog profile: a bad id or value is an InputError
    naming the field."""
    from packbuilder.errors import InputError
    from packbuilder.i18n import _

    hint = _("see: packbuilder profiles new --help")
    if facts.windows not in WINDOWS:
        raise InputError(
            _("unknown Windows version {version!r}: use one of {choices}").format(
                version=facts.windows, choices=", ".join(WINDOWS)
            ),
            hint=hint,
        )
    os_name = WINDOWS[facts.windows]
    if facts.bits not in (32, 64):
        raise InputError(_("{bits} bits: a Windows PC is 32 or 64 bits").format(bits=facts.bits), hint=hint)
    if facts.bits == 32 and os_name == OsName.WINDOWS_11:
        raise InputError(_("Windows 11 exists in 64 bits only"), hint=hint)
    arch = Arch.X86 if facts.bits == 32 else Arch.X86_64
    windows = WINDOWS_NAMES[os_name]
    name = Text(
        fr=f"PC sous {windows}, {facts.bits} bits, {_memory(facts.ram_mb, 'fr')} de mémoire",
        en=f"PC with {windows}, {facts.bits}-bit, {_memory(facts.ram_mb, 'en')} of memory",
    )
    try:
        return _profile(profile_id, name, os_name, arch, facts)
    except ValidationError as exc:
        from packbuilder.model.messages import error_text
        from packbuilder.yamlsrc import format_loc

        details = [f"{format_loc(tuple(e['loc']))}: {error_text(e)}" for e in exc.errors()]
        raise InputError(
            _("these answers do not make a valid profile"),
            hint=_("a profile's id is its file name: lower-case letters, digits and dashes (mon-pc.yaml)"),
            details=details,
        ) from None


def _profile(profile_id: str, name: Text, os_name: OsName, arch: Arch, facts: PcFacts) -> Profile:
    return Profile(
        id=profile_id,
        name=name,
        os=os_name,
        arch=arch,
        cpu=_cpu(os_name, arch),
        ram_mb=facts.ram_mb,
        firmware=_firmware(os_name, arch),
        key_mb=facts.key_mb,
        notes=XP_NOTES if os_name == OsName.WINDOWS_XP else None,
    )


def parse_memory_mb(text: str) -> int:
    """Memory as people say it: ``2G``, ``2 Go``, ``512M``, ``512`` (MiB); memory comes in powers of
    two, so ``2G`` of memory is 2048 MiB, not 2×10⁹ bytes."""
    from packbuilder.sizes import parse_size

    if text.strip().isdigit():
        return int(text)
    size = parse_size(text)
    if size % 2**20 == 0:  # written in binary units already (2GiB, 512Mio)
        return size // 2**20
    if size >= 10**9:  # 2G, 1,5Go: gigabytes of memory are GiB
        return round(size / 10**9 * 1024)
    return max(1, round(size / 10**6))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def profile_yaml(profile: Profile) -> str:
    """The profile as YAML, with a comment on each key (what to check, what the values may be), the
    comments in the language of the messages: the person who runs `profiles new` reads them."""
    from packbuilder.i18n import _

    lines = [
        "# " + _("A hardware profile: the PC packbuilder picks versions for (packbuilder plan PACK --profile THIS_FILE)."),
        "# " + _("Check the values against the PC; `packbuilder manifest schema --kind profile` lists every key."),
        f"id: {profile.id}  # " + _("must equal the file name"),
        "name:",
        f"  fr: {_quote(profile.name.fr)}",
        f"  en: {_quote(profile.name.en)}",
        f"os: {profile.os.value}  # windows-xp, windows-vista, windows-7, windows-8.1, windows-10, windows-11",
        f"arch: {profile.arch.value}  # " + _("x86 (32 bits) or x86_64 (64 bits)"),
        f"cpu: [{', '.join(c.value for c in profile.cpu)}]  # " + _("sse2, pae, nx, x86-64-v2: what the processor has"),
        f"ram_mb: {profile.ram_mb}  # " + _("memory in MiB"),
        f"firmware: [{', '.join(f.value for f in profile.firmware)}]  # bios, uefi32, uefi64",
        f"key_mb: {profile.key_mb}  # " + _("USB key size in MB (10^6 bytes, as sold)"),
    ]
    if isinstance(profile.notes, Text):
        lines += ["notes:", f"  fr: {_quote(profile.notes.fr)}", f"  en: {_quote(profile.notes.en)}"]
    return "\n".join(lines) + "\n"


def notes_line(profile_id: str, notes: Text | str | None) -> str | None:
    """What plan and build say about a profile's notes, in the language of the messages."""
    from packbuilder.i18n import _, current_language
    from packbuilder.model.common import in_language

    text = in_language(notes, current_language())
    return _("profile {profile}: {notes}").format(profile=profile_id, notes=text) if text else None
