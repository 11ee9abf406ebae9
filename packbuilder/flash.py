"""Write a disk image to USB keys (or files) in parallel, then read every target back.

Device inspection is a pure function of lsblk's JSON, ``/proc/mounts``, ``/proc/swaps`` and the
device-mapper names of ``/sys/block`` (:func:`inspect_system`), so tests feed recorded samples;
only :func:`probe_system` looks at the running machine.

Writing is a fan-out: each block of the image is read and hashed once, then handed to one
writer thread per target. Block devices are opened with ``O_EXCL`` (the kernel refuses a
mounted or otherwise held device) and ``O_DIRECT`` where it works, so the read-back reaches the
key itself rather than the page cache: a fake-capacity key fails there, not at the first use.
"""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import queue
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packbuilder.errors import AssemblyError, InputError, ToolMissing, VerificationError

BLOCK_SIZE = 4 * 2**20
QUEUE_BLOCKS = 8  # buffers in flight: bounds memory to (QUEUE_BLOCKS + 2) * BLOCK_SIZE
DIRECT_ALIGN = 4096  # O_DIRECT needs aligned buffers and lengths; mmap buffers are page-aligned
SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/usr")
LSBLK_COLUMNS = "NAME,PATH,SIZE,RM,HOTPLUG,TRAN,TYPE,MODEL,VENDOR,SERIAL,MOUNTPOINTS,FSTYPE,LABEL,PKNAME"


def human_size(n: int) -> str:
    """Decimal units, the way keys are sold (an "8 GB" key holds about 8.0 GB)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


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
        return f"{self.path} ({self.model or 'unknown model'}, {human_size(self.size)})"

    def partitions_text(self) -> str:
        parts = []
        for child in self.children:
            label = f' "{child.label}"' if child.label else ""
            parts.append(f"{child.name} {child.fstype or 'no filesystem'}{label} {human_size(child.size)}")
        return ", ".join(parts) or "no partitions"


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
        _add(view.in_use, disk_path, f"{node.path} is swap in use" if swap else f"{node.path} at {point}")
        if swap or point in SYSTEM_MOUNTS:
            _add(view.system, disk_path, f"swap on {node.path}" if swap else f"{point} on {node.path}")

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
            _add(view.system, disk_path, f"swap file {name} on {node.path}")
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
        return Refusal(path, ["lsblk does not list it"], "unplug and plug the key again, then check `lsblk`")
    label = dev.describe()
    if dev.type == "part":
        disk = f"/dev/{dev.parent}" if dev.parent else "its disk"
        hint = f"give the whole disk: {disk} (the image has its own partition table)"
        return Refusal(label, ["is a partition, not a whole disk"], hint)
    if dev.type != "disk":
        return Refusal(label, [f"is a {dev.type} device, not a disk"], "give a whole USB disk such as /dev/sdb")
    reasons, hints = [], []
    if dev.path in view.system:
        reasons.append(f"holds the running system ({'; '.join(view.system[dev.path])})")
    if not dev.portable:
        reasons.append(f"is not a removable or USB disk (transport {dev.tran or 'unknown'})")
    if dev.path in view.in_use and dev.path not in view.system:
        reasons.append(f"has mounted file systems ({'; '.join(view.in_use[dev.path])})")
        mounted = next((n for n in dev.walk() if n.mountpoints), dev.children[0] if dev.children else dev)
        if dev.portable:
            hints.append(f"unmount it first (eject it in the file manager, or: udisksctl unmount -b {mounted.path})")
    if dev.size < image_size:
        reasons.append(f"is smaller than the image ({human_size(dev.size)} < {human_size(image_size)})")
        hints.append("use a larger key, or build the image with a smaller --size")
    if not reasons:
        return dev
    return Refusal(label, reasons, "; ".join(hints) or "write only to a USB key or removable disk listed as a candidate")


def candidate_lines(view: SystemView) -> list[str]:
    found = view.candidates()
    if not found:
        return ["no removable or USB disk found: plug in a key (lsblk lists the disks the system sees)"]
    lines = ["candidate devices:"]
    for disk in found:
        mounted = f"; mounted: {'; '.join(view.in_use[disk.path])}" if disk.path in view.in_use else ""
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

    if tools.find("lsblk") is None:
        raise ToolMissing("tool not found: lsblk", hint="install it (Debian/Ubuntu: apt-get install util-linux)")
    proc = tools.run(["lsblk", "--json", "-b", "-o", LSBLK_COLUMNS], error=InputError)
    doc = json.loads(proc.stdout)
    return inspect_system(doc, _read("/proc/mounts"), _read("/proc/swaps"), dm_names(Path("/sys/block")))


# --- targets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where to write: a whole block device, or a regular file (``device`` is None)."""

    path: Path
    device: BlockDevice | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def describe(self) -> str:
        if self.device is not None:
            return f"{self.device.describe()}: {self.device.partitions_text()}"
        try:
            return f"{self.path}: regular file of {human_size(self.path.stat().st_size)}, replaced"
        except OSError:
            return f"{self.path}: new file"


def image_size(image: Path) -> int:
    try:
        st = image.stat()
    except OSError as exc:
        hint = "build one with `packbuilder build ... --format usb`"
        raise InputError(f"cannot read image {image}: {exc.strerror}", hint=hint) from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{image} is not a regular file", hint="the image is a file such as asso.img")
    if st.st_size == 0:
        raise InputError(f"image {image} is empty", hint="build it again with `packbuilder build ... --format usb`")
    return st.st_size


def _file_target(arg: str, image_stat: os.stat_result) -> tuple[Target | None, str | None]:
    path = Path(arg)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.absolute().parts[1:2] == ("dev",):  # never create a plain file in /dev (a mistyped device name)
            return None, "no such device"
        if not path.absolute().parent.is_dir():
            return None, f"folder {path.absolute().parent} does not exist"
        return Target(path), None
    if not stat.S_ISREG(st.st_mode):
        return None, "is neither a whole disk nor a regular file"
    if os.path.samestat(st, image_stat):
        return None, "is the image itself"
    return Target(path), None


def _probe_quietly(probe: Callable[[], SystemView]) -> SystemView | None:
    """The machine's disks to list as candidates, or None where lsblk cannot tell."""
    from packbuilder.errors import PackbuilderError

    try:
        return probe()
    except PackbuilderError:
        return None


def plan_targets(
    image: Path, args: Sequence[str], size: int, probe: Callable[[], SystemView] = probe_system
) -> list[Target]:
    """Check every target before anything is written; raise one error listing every refusal."""
    image_stat = image.stat()
    refusals: list[Refusal] = []
    targets: list[Target] = []
    seen: set[str] = set()
    view: SystemView | None = None
    for arg in args:
        real = os.path.realpath(arg)
        if real in seen:
            refusals.append(Refusal(arg, ["is given twice"], "name each target once"))
            continue
        seen.add(real)
        if os.path.exists(arg) and stat.S_ISBLK(os.stat(arg).st_mode):
            view = view or probe()
            checked = check_device(view, real, size)
            if isinstance(checked, Refusal):
                refusals.append(checked)
            else:
                targets.append(Target(Path(real), checked))
            continue
        target, problem = _file_target(arg, image_stat)
        if problem:
            refusals.append(Refusal(arg, [problem], "give whole USB disks (/dev/sdX) or file paths"))
            if problem == "no such device" and view is None:
                view = _probe_quietly(probe)
        elif target:
            targets.append(target)
    if refusals:
        details = [f"{r.target}: {'; '.join(r.reasons)}" for r in refusals]
        details += candidate_lines(view) if view else []
        hint = "; ".join(dict.fromkeys(r.hint for r in refusals))
        raise InputError(f"refusing {len(refusals)} of {len(args)} target(s); nothing was written", hint=hint, details=details)
    return targets


# --- writing and reading back ---------------------------------------------------------------


class Progress(Protocol):
    """What :func:`flash` reports as it goes (the CLI draws one bar per target)."""

    def start(self, target: Target, phase: str, total: int) -> Any: ...

    def advance(self, task: Any, nbytes: int) -> None: ...


class _Silent:
    def start(self, target: Target, phase: str, total: int) -> Any:
        return None

    def advance(self, task: Any, nbytes: int) -> None:
        pass


@dataclass
class TargetResult:
    target: Target
    write_seconds: float = 0.0
    verify_seconds: float | None = None
    sha256: str | None = None
    error: str | None = None

    def status(self, expected: str) -> str:
        if self.error:
            return "WRITE ERROR"
        if self.sha256 is None:
            return "WRITTEN"
        return "OK" if self.sha256 == expected else "FAILED"


@dataclass
class FlashResult:
    image: Path
    size: int
    sha256: str
    results: list[TargetResult]

    def check(self) -> None:
        """Raise for write errors (exit 5), then for read-backs that differ (exit 4)."""
        failed = [r for r in self.results if r.error]
        if failed:
            raise AssemblyError(
                f"writing failed on {', '.join(r.target.name for r in failed)}",
                hint="try another USB port or another key; the other targets are listed above",
                details=[f"{r.target.name}: {r.error}" for r in failed],
            )
        bad = [r for r in self.results if r.status(self.sha256) == "FAILED"]
        if bad:
            raise VerificationError(
                f"read-back differs from the image on {', '.join(r.target.name for r in bad)}",
                hint="the key may be faulty or fake (smaller than it claims): try another key",
                details=[f"{r.target.name}: sha256 {r.sha256} != image sha256 {self.sha256}" for r in bad],
            )


class _Block:
    """An image block shared by every writer; back to the pool once each has written it."""

    def __init__(self, buf: mmap.mmap, pool: queue.SimpleQueue[mmap.mmap], length: int, offset: int, users: int):
        self.buf, self.pool, self.offset = buf, pool, offset
        self.view = memoryview(buf)[:length]
        self.users = users
        self.lock = threading.Lock()

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            last = self.users == 0
        if last:
            self.view.release()
            self.pool.put(self.buf)


def _clear_direct(fd: int) -> None:
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~getattr(os, "O_DIRECT", 0))


def _open(target: Target, write: bool) -> tuple[int, bool]:
    """(fd, direct). Block devices: O_EXCL (EBUSY if mounted or held) and O_DIRECT when accepted."""
    flags = (os.O_WRONLY if write else os.O_RDONLY) | getattr(os, "O_CLOEXEC", 0)
    if target.device is None:
        return os.open(target.path, flags | (os.O_CREAT | os.O_TRUNC if write else 0), 0o644), False
    flags |= os.O_EXCL
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(target.path, flags | direct), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(target.path, flags), False


def _write_all(fd: int, view: memoryview, direct: bool) -> bool:
    done = 0
    while done < len(view):
        try:
            n = os.write(fd, view[done:])
        except OSError as exc:
            if direct and exc.errno == errno.EINVAL:  # unaligned tail, or a driver refusing O_DIRECT
                _clear_direct(fd)
                direct = False
                continue
            raise
        if n == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += n
    return direct


def _read_back(target: Target, size: int, progress: Progress) -> str:
    """sha256 of the first ``size`` bytes of the target, read from the device, not the page cache."""
    fd, direct = _open(target, write=False)
    buf = mmap.mmap(-1, BLOCK_SIZE)
    digest = hashlib.sha256()
    task = progress.start(target, "verify", size)
    try:
        if target.device is not None and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        left = size
        while left:
            want = min(BLOCK_SIZE, left)
            length = -(-want // DIRECT_ALIGN) * DIRECT_ALIGN if direct else want
            with memoryview(buf) as whole:
                try:
                    n = os.readv(fd, [whole[:length]])
                except OSError as exc:
                    if not (direct and exc.errno == errno.EINVAL):
                        raise
                    _clear_direct(fd)
                    direct = False
                    continue
                if n == 0:
                    break  # shorter than the image: the digest will differ
                n = min(n, want)
                digest.update(whole[:n])
            left -= n
            progress.advance(task, n)
    finally:
        os.close(fd)
        buf.close()
    return digest.hexdigest()


class _Writer(threading.Thread):
    def __init__(self, target: Target, size: int, verify: bool, progress: Progress, hook: Callable[[Target], None] | None):
        super().__init__(name=f"flash {target.name}", daemon=True)
        self.result = TargetResult(target)
        self.blocks: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self.size, self.verify, self.progress, self.hook = size, verify, progress, hook
        self.fd = -1
        self.direct = False
        self.started_at = 0.0
        self.cancelled = False  # set when the run stops early (Ctrl-C, unreadable image): no fsync wait, no read-back
        try:
            self.fd, self.direct = _open(target, write=True)
        except OSError as exc:
            busy = " (mounted or in use)" if exc.errno == errno.EBUSY else ""
            self.result.error = f"cannot open: {exc.strerror}{busy}"

    def run(self) -> None:
        try:
            self._write()
            if self.verify and self.result.error is None and not self.cancelled:
                if self.hook is not None:
                    self.hook(self.result.target)
                start = time.perf_counter()
                self.result.sha256 = _read_back(self.result.target, self.size, self.progress)
                self.result.verify_seconds = time.perf_counter() - start
        except OSError as exc:
            self.result.error = self.result.error or f"{exc.strerror or exc}"
        except Exception as exc:  # reported per target: one target's failure must not hide the others'
            self.result.error = self.result.error or f"{type(exc).__name__}: {exc}"

    def _write(self) -> None:
        task = self.progress.start(self.result.target, "write", self.size)
        while (block := self.blocks.get()) is not None:
            try:
                if self.result.error is None and not self.cancelled:
                    self.direct = _write_all(self.fd, block.view, self.direct)
                    self.progress.advance(task, len(block.view))
            except OSError as exc:
                self.result.error = f"write failed at byte {block.offset}: {exc.strerror}"
            finally:
                block.release()
        if self.fd < 0:
            return
        try:
            if self.result.error is None:
                os.fsync(self.fd)
                self.result.write_seconds = time.perf_counter() - self.started_at
        finally:
            os.close(self.fd)


def flash(
    image: Path,
    targets: Sequence[Target],
    verify: bool = True,
    progress: Progress | None = None,
    before_verify: Callable[[Target], None] | None = None,
) -> FlashResult:
    """Write ``image`` to every target at once, then read each back. Per-target failures are in the result.

    ``before_verify`` runs in each target's thread between its write and its read-back (tests
    use it to damage a target on purpose).
    """
    progress = progress or _Silent()
    size = image_size(image)
    writers = [_Writer(t, size, verify, progress, before_verify) for t in targets]
    pool: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    for _ in range(QUEUE_BLOCKS + 2):
        pool.put(mmap.mmap(-1, BLOCK_SIZE))
    digest = hashlib.sha256()
    start = time.perf_counter()
    for writer in writers:
        writer.started_at = start
        writer.start()
    try:
        with image.open("rb", buffering=0) as src:
            offset = 0
            while offset < size:
                buf = pool.get()
                with memoryview(buf) as whole:
                    n = src.readinto(whole[: min(BLOCK_SIZE, size - offset)])
                    if not n:
                        raise AssemblyError(f"{image} shrank while being written", hint="do not change the image while flashing")
                    digest.update(whole[:n])
                block = _Block(buf, pool, n, offset, len(writers))
                for writer in writers:
                    writer.blocks.put(block)
                offset += n
    except BaseException as exc:
        for writer in writers:
            writer.cancelled = True
        if isinstance(exc, OSError):
            raise AssemblyError(f"cannot read {image}: {exc.strerror}") from exc
        raise
    finally:
        for writer in writers:
            writer.blocks.put(None)
        for writer in writers:
            writer.join()
    _reread_partitions(targets)
    return FlashResult(image, size, digest.hexdigest(), [w.result for w in writers])


def _reread_partitions(targets: Sequence[Target]) -> None:
    """Ask the kernel to read the new partition table (BLKRRPART), so the key's partition shows up at once."""
    import fcntl

    for target in (t for t in targets if t.device is not None):
        try:
            fd = os.open(target.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.ioctl(fd, 0x125F)  # BLKRRPART, linux/fs.h
            finally:
                os.close(fd)
        except OSError:
            continue  # best effort: the partition appears anyway when the key is plugged in again
