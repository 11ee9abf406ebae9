"""Which disks a key may be written to: lsblk's tree, what is mounted or swapped on each disk, and the checks.

Device inspection is a pure function of lsblk's JSON, ``/proc/mounts``, ``/proc/swaps`` and the
device-mapper names of ``/sys/block`` (:func:`inspect_system`), so tests feed recorded samples;
only :func:`probe_system` looks at the running machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packbuilder.errors import InputError
from packbuilder.i18n import _, current_language

SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/usr")
LSBLK_COLUMNS = "NAME,PATH,SIZE,RM,HOTPLUG,TRAN,TYPE,MODEL,VENDOR,SERIAL,MOUNTPOINTS,FSTYPE,LABEL,PKNAME"


def human_size(n: int) -> str:
    """Decimal units, the way keys are sold (an "8 GB" key holds about 8.0 GB; in French « 8,0 Go »)."""
    french = current_language() == "fr"
    units = ("To", "Go", "Mo", "ko") if french else ("TB", "GB", "MB", "kB")
    for unit, scale in zip(units, (10**12, 10**9, 10**6, 10**3), strict=True):
        if n >= scale:
            return f"{n / scale:.1f}".replace(".", ",") + f"\u00a0{unit}" if french else f"{n / scale:.1f} {unit}"
    return f"{n}\u00a0o" if french else f"{n} B"


# --- device inspection (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class BlockDevice:
    """One node of lsblk's tree: a disk, a partition, or a mapping stacked on them."""

    name: str
    path: str
    size: int
    type: str
    removable: bool
    hotplug: bool
    tran: str | None
    model: str | None  # vendor and model, as one string
    serial: str | None
    mountpoints: tuple[str, ...]
    fstype: str | None
    label: str | None
    parent: str | None
    children: tuple[BlockDevice, ...] = ()

    @property
    def portable(self) -> bool:
        return self.removable or self.hotplug or self.tran == "usb"

    def walk(self) -> Iterator[BlockDevice]:
        yield self
        for child in self.children:
            yield from child.walk()

    def describe(self) -> str:
        return f"{self.path} ({self.model or _('unknown model')}, {human_size(self.size)})"

    def partitions_text(self) -> str:
        parts = []
        for child in self.children:
            label = f' "{child.label}"' if child.label else ""
            parts.append(f"{child.name} {child.fstype or _('no filesystem')}{label} {human_size(child.size)}")
        return ", ".join(parts) or _("no partitions")


def _flag(value: object) -> bool:
    # lsblk >= 2.33 prints JSON booleans; older versions print "0" / "1".
    return value is True or value in ("1", "true")


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _node(raw: Mapping[str, Any]) -> BlockDevice:
    points = raw.get("mountpoints", [raw.get("mountpoint")])  # "mountpoint" before lsblk 2.37
    vendor, model = _text(raw.get("vendor")), _text(raw.get("model"))
    if vendor and model and model.lower().startswith(vendor.lower()):
        vendor = None
    return BlockDevice(
        name=str(raw["name"]),
        path=_text(raw.get("path")) or f"/dev/{raw['name']}",
        size=int(raw.get("size") or 0),
        type=_text(raw.get("type")) or "unknown",
        removable=_flag(raw.get("rm")),
        hotplug=_flag(raw.get("hotplug")),
        tran=_text(raw.get("tran")),
        model=" ".join(p for p in (vendor, model) if p) or None,
        serial=_text(raw.get("serial")),
        mountpoints=tuple(str(p) for p in points or () if p),
        fstype=_text(raw.get("fstype")),
        label=_text(raw.get("label")),
        parent=_text(raw.get("pkname")),
        children=tuple(_node(c) for c in raw.get("children", ())),
    )


def parse_lsblk(doc: Mapping[str, Any]) -> list[BlockDevice]:
    """The top-level devices of ``lsblk --json`` (tree form), children attached."""
    return [_node(raw) for raw in doc.get("blockdevices", [])]


def _unescape(field_text: str) -> str:
    # /proc/mounts writes spaces, tabs and newlines in paths as octal escapes (\040).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def parse_table(text: str, skip_header: bool = False) -> list[tuple[str, str]]:
    """The first two fields of each line of /proc/mounts (source, mount point) or /proc/swaps (file, type)."""
    rows = []
    for line in text.splitlines()[1 if skip_header else 0 :]:
        fields = line.split()
        if len(fields) >= 2:
            rows.append((_unescape(fields[0]), _unescape(fields[1])))
    return rows


@dataclass
class SystemView:
    """The machine's disks, which of them are in use, and which hold the running system."""

    disks: list[BlockDevice]
    in_use: dict[str, list[str]] = field(default_factory=dict)  # disk path -> what is mounted from it
    system: dict[str, list[str]] = field(default_factory=dict)  # disk path -> why it is the system's

    def find(self, path: str) -> BlockDevice | None:
        for disk in self.disks:
            for node in disk.walk():
                if path in (node.path, f"/dev/{node.name}"):
                    return node
        return None

    def candidates(self) -> list[BlockDevice]:
        """Removable or USB whole disks with media that do not hold the running system."""
        return [d for d in self.disks if d.type == "disk" and d.portable and d.size > 0 and d.path not in self.system]


def _add(table: dict[str, list[str]], key: str, reason: str) -> None:
    reasons = table.setdefault(key, [])
    if reason not in reasons:
        reasons.append(reason)


def inspect_system(
    lsblk_doc: Mapping[str, Any], mounts_text: str, swaps_text: str, dm_names: Mapping[str, str] | None = None
) -> SystemView:
    """Which disks are in use and which hold ``/``, ``/boot``, ``/boot/efi``, ``/usr`` or swap.

    Everything is compared by parent disk: a mount of ``/dev/mapper/vg-root`` marks the disk
    under its LVM and LUKS layers. ``dm_names`` maps kernel names (``dm-2``, as /proc/swaps
    prints them) to device-mapper names (``vg-swap_1``, as lsblk prints them).
    """
    view = SystemView(parse_lsblk(lsblk_doc))
    owners: dict[str, list[tuple[BlockDevice, str]]] = {}  # path or name -> (node, its disk's path)

    def mark(node: BlockDevice, disk_path: str, point: str) -> None:
        swap = point == "[SWAP]"
        in_use = _("{device} is swap in use") if swap else _("{device} at {point}")
        _add(view.in_use, disk_path, in_use.format(device=node.path, point=point))
        if swap or point in SYSTEM_MOUNTS:
            system = _("swap on {device}") if swap else _("{point} on {device}")
            _add(view.system, disk_path, system.format(device=node.path, point=point))

    for disk in view.disks:
        for node in disk.walk():
            for key in dict.fromkeys((node.path, node.name)):
                owners.setdefault(key, []).append((node, disk.path))
            for point in node.mountpoints:
                mark(node, disk.path, point)

    def owners_of(source: str) -> list[tuple[BlockDevice, str]]:
        base = source.rsplit("/", 1)[-1]
        return owners.get(source) or owners.get((dm_names or {}).get(base, base)) or []

    mounts = parse_table(mounts_text)
    for source, point in mounts:
        for node, disk_path in owners_of(source):
            mark(node, disk_path, point)
    for name, kind in parse_table(swaps_text, skip_header=True):
        if kind != "file":
            for node, disk_path in owners_of(name):
                mark(node, disk_path, "[SWAP]")
            continue
        # A swap file lives on the file system of its longest mount-point prefix.
        holders = [(p, s) for s, p in mounts if name.startswith(p.rstrip("/") + "/")]
        for node, disk_path in owners_of(max(holders, key=lambda h: len(h[0]))[1]) if holders else []:
            _add(view.system, disk_path, _("swap file {file} on {device}").format(file=name, device=node.path))
    return view


@dataclass(frozen=True)
class Refusal:
    target: str
    reasons: list[str]
    hint: str


def check_device(view: SystemView, path: str, image_size: int) -> Refusal | BlockDevice:
    """The whole disk at ``path`` if it is safe to overwrite with ``image_size`` bytes, else every reason not to."""
    dev = view.find(path)
    if dev is None:
        return Refusal(path, [_("lsblk does not list it")], _("unplug and plug the key again, then check `lsblk`"))
    label = dev.describe()
    if dev.type == "part":
        disk = f"/dev/{dev.parent}" if dev.parent else _("its disk")
        hint = _("give the whole disk: {disk} (the image has its own partition table)").format(disk=disk)
        return Refusal(label, [_("is a partition, not a whole disk")], hint)
    if dev.type != "disk":
        return Refusal(
            label, [_("is a {type} device, not a disk").format(type=dev.type)], _("give a whole USB disk such as /dev/sdb")
        )
    reasons, hints = [], []
    if dev.path in view.system:
        reasons.append(_("holds the running system ({uses})").format(uses="; ".join(view.system[dev.path])))
    if not dev.portable:
        reasons.append(_("is not a removable or USB disk (transport {transport})").format(transport=dev.tran or _("unknown")))
    if dev.path in view.in_use and dev.path not in view.system:
        reasons.append(_("has mounted file systems ({mounts})").format(mounts="; ".join(view.in_use[dev.path])))
        mounted = next((n for n in dev.walk() if n.mountpoints), dev.children[0] if dev.children else dev)
        if dev.portable:
            hints.append(
                _("unmount it first (eject it in the file manager, or: udisksctl unmount -b {device})").format(
                    device=mounted.path
                )
            )
    if dev.size < image_size:
        reasons.append(
            _("is smaller than the image ({size} < {image_size})").format(
                size=human_size(dev.size), image_size=human_size(image_size)
            )
        )
        hints.append(_("use a larger key, or build the image with a smaller --size"))
    if not reasons:
        return dev
    return Refusal(label, reasons, "; ".join(hints) or _("write only to a USB key or removable disk listed as a candidate"))


def candidate_lines(view: SystemView) -> list[str]:
    found = view.candidates()
    if not found:
        return [_("no removable or USB disk found: plug in a key (lsblk lists the disks the system sees)")]
    lines = [_("candidate devices:")]
    for disk in found:
        mounted = ""
        if disk.path in view.in_use:
            mounted = _("; mounted: {mounts}").format(mounts="; ".join(view.in_use[disk.path]))
        lines.append(f"  {disk.describe()}: {disk.partitions_text()}{mounted}")
    return lines


# --- the running machine --------------------------------------------------------------------


def dm_names(sys_block: Path) -> dict[str, str]:
    """Kernel name -> device-mapper name (``dm-2`` -> ``vgubuntu-swap_1``) from ``/sys/block/dm-*/dm/name``."""
    names = {}
    for entry in sorted(sys_block.glob("dm-*")):
        try:
            names[entry.name] = (entry / "dm" / "name").read_text().strip()
        except OSError:
            continue
    return names


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def probe_system() -> SystemView:
    """Inspect this machine's disks (runs lsblk)."""
    from packbuilder import tools

    tools.require("lsblk")
    proc = tools.run(["lsblk", "--json", "-b", "-o", LSBLK_COLUMNS], error=InputError)
    doc = json.loads(proc.stdout)
    return inspect_system(doc, _read("/proc/mounts"), _read("/proc/swaps"), dm_names(Path("/sys/block")))
