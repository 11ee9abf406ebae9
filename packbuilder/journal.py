"""The journal of an update in place (``update.py``): what the update is (the two locks and the key's
manifest, written once) and how far it went (the steps done, a small file rewritten at each step).

``update.json`` is written atomically at the start; ``update/steps.json`` after each step. A step
is recorded only once what it did is on the key, so a journal is never ahead of the key: killed or
unplugged, ``update`` run again redoes whatever it does not record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packbuilder import __version__
from packbuilder.errors import InputError
from packbuilder.fsutil import atomic_write_bytes
from packbuilder.i18n import _
from packbuilder.model.lock import Lock

JOURNAL = ".packbuilder/update.json"
WORK = ".packbuilder/update"
STEPS = ".packbuilder/update/steps.json"
JOURNAL_FORMAT = 1
# A test (or a curious maintainer) can stop the process at a named step to prove crash safety.
FAULT_ENV = "PACKBUILDER_UPDATE_FAULT"


def new_journal(key: Path, old_lock: bytes, new_lock: bytes, manifest: dict[str, Any]) -> Journal:
    """The journal of an update of ``key`` from one lock to the other (saved by the caller)."""
    data = {
        "format": JOURNAL_FORMAT,
        "packbuilder": __version__,
        "old_lock": json.loads(old_lock),
        "new_lock": json.loads(new_lock),
        "manifest": manifest,
        "done": {},
    }
    return Journal(key / JOURNAL, data)


@dataclass
class Journal:
    """An update's journal: ``data`` as in ``update.json``, its ``done`` steps merged from ``steps.json``."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, key: Path) -> Journal | None:
        path = key / JOURNAL
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            assert data.get("format") == JOURNAL_FORMAT
            steps = key / STEPS
            if steps.is_file():  # journals of earlier versions kept their steps inside: both are read
                done = json.loads(steps.read_text(encoding="utf-8"))
                assert isinstance(done, dict)
                data.setdefault("done", {}).update(done)
        except (OSError, ValueError, AssertionError):
            raise InputError(
                _("{path} is damaged: the interrupted update cannot be finished").format(path=path),
                hint=_("rebuild the key, or remove that file and .packbuilder/update/ and check it with packbuilder verify"),
            ) from None
        return cls(path, data)

    def save(self) -> None:
        atomic_write_bytes(self.path, json.dumps(self.data, sort_keys=True).encode())

    @property
    def steps_path(self) -> Path:
        return self.path.parent.parent / STEPS

    @property
    def new(self) -> Lock:
        return Lock.model_validate(self.data["new_lock"])

    @property
    def old(self) -> Lock:
        return Lock.model_validate(self.data["old_lock"])

    def step(self, name: str, value: Any = True) -> None:
        done = self.data.setdefault("done", {})
        done[name] = value
        atomic_write_bytes(self.steps_path, json.dumps(done, sort_keys=True).encode())
        fault(name)

    def done(self, name: str) -> bool:
        return name in self.data.get("done", {})


def fault(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
