"""``flash IMAGE --watch``: write every USB key plugged in, one after another, until stopped.

Events come from udev (through ``pyudev``) as dictionaries of udev properties (``ACTION``,
``DEVNAME``, ``DEVTYPE``, ``ID_BUS``, ``SUBSYSTEM``), the names ``udevadm monitor --property``
prints, so tests feed recorded events instead of a live monitor. Each new whole disk goes
through the same safety checks as a named target (lsblk, mounts, swap, size), then is written
and read back in its own thread: a key plugged in while another is being written starts at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from packbuilder.errors import PackbuilderError
from packbuilder.flash.bmap import BlockMap
from packbuilder.flash.devices import BlockDevice, Refusal, SystemView, check_device, probe_system
from packbuilder.flash.targets import Target
from packbuilder.flash.writer import FlashResult, flash
from packbuilder.i18n import _

Event = Mapping[str, str]


def udev_events() -> Iterator[Event]:
    """Block-disk events from the running system's udev, as they happen (blocks; Ctrl-C stops)."""
    import pyudev

    context = pyudev.Context()
    monitor = pyudev.Monitor.from_netlink(context)
    monitor.filter_by(subsystem="block", device_type="disk")
    monitor.start()
    for device in iter(monitor.poll, None):
        yield {"ACTION": device.action or "", **dict(device.properties)}


def new_disk(event: Event) -> str | None:
    """The device node of a whole disk that just appeared (or got media, for card readers), else None."""
    if event.get("SUBSYSTEM", "block") != "block" or event.get("DEVTYPE") != "disk":
        return None
    action = event.get("ACTION")
    media = action == "change" and event.get("DISK_MEDIA_CHANGE") == "1"
    return event.get("DEVNAME") if action == "add" or media else None


@dataclass
class KeyResult:
    path: str
    line: str
    ok: bool
    result: FlashResult | None = None


@dataclass
class Watcher:
    image: Path
    size: int
    block_map: BlockMap | None = None
    verify: bool = True
    probe: Callable[[], SystemView] = probe_system
    target_for: Callable[[BlockDevice], Target] = lambda dev: Target(Path(dev.path), dev)
    report: Callable[[KeyResult], None] = lambda _: None

    def __post_init__(self) -> None:
        self.results: list[KeyResult] = []
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def _done(self, key: KeyResult) -> None:
        with self.lock:
            self.results.append(key)
            self.report(key)

    def _write(self, dev: BlockDevice) -> None:
        try:
            result = flash(self.image, [self.target_for(dev)], self.verify, block_map=self.block_map)
            one = result.results[0]
            status = one.status
            ok = status in ("OK", "WRITTEN")
            self._done(KeyResult(dev.path, f"{dev.describe()}: {one.state}{': ' + one.error if one.error else ''}", ok, result))
        except PackbuilderError as exc:
            self._done(KeyResult(dev.path, f"{dev.describe()}: {exc.message}", False))

    def handle(self, event: Event) -> None:
        path = new_disk(event)
        if path is None:
            return
        try:
            checked = check_device(self.probe(), path, self.size)
        except PackbuilderError as exc:
            self._done(KeyResult(path, f"{path}: {exc.message}", False))
            return
        if isinstance(checked, Refusal):
            line = _("{target}: left alone: {reasons}").format(target=checked.target, reasons="; ".join(checked.reasons))
            self._done(KeyResult(path, line, False))
            return
        thread = threading.Thread(target=self._write, args=(checked,), name=f"watch {path}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def run(self, events: Iterable[Event]) -> list[KeyResult]:
        """Handle every event until the source ends (or Ctrl-C), then wait for the writes under way."""
        try:
            for event in events:
                self.handle(event)
        finally:
            for thread in self.threads:
                thread.join()
        return self.results
