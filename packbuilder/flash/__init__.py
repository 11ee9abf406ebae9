"""Write disk images to USB keys (or files) in parallel, then read every target back.

``devices``: which disks exist and which may be overwritten (pure, fed recorded samples in tests);
``targets``: the checked list of places to write; ``writer``: the fan-out write and read-back;
``source``: the image's bytes (raw or ``compressed``, with or without a ``bmap``); ``watch``: keys
written as they are plugged in.
"""

from packbuilder.flash.devices import (
    BlockDevice,
    Refusal,
    SystemView,
    candidate_lines,
    check_device,
    dm_names,
    human_size,
    inspect_system,
    parse_lsblk,
    parse_table,
    probe_system,
)
from packbuilder.flash.source import load_map
from packbuilder.flash.targets import Target, check_image_file, image_size, plan_targets
from packbuilder.flash.writer import FlashResult, Progress, TargetResult, flash

__all__ = [
    "BlockDevice",
    "FlashResult",
    "Progress",
    "Refusal",
    "SystemView",
    "Target",
    "TargetResult",
    "candidate_lines",
    "check_device",
    "check_image_file",
    "dm_names",
    "flash",
    "human_size",
    "image_size",
    "inspect_system",
    "load_map",
    "parse_lsblk",
    "parse_table",
    "plan_targets",
    "probe_system",
]
