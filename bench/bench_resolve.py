"""Resolving a 500-app catalog for 6 profiles must take under 1 s.

The reference is the same work done without explanations: a bare filter over the
artifacts, to show what the reasons and preferences cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.common import best_of, report
from packbuilder.catalog import Catalog
from packbuilder.model import App, Pack, Profile
from packbuilder.plan.resolve import misfit, resolve

TARGET_S = 1.0
PROFILES = [
    ("windows-xp", "x86", ["sse2"], 512, None),
    ("windows-7", "x86", ["sse2", "pae"], 2048, None),
    ("windows-7", "x86_64", ["sse2", "pae"], 4096, None),
    ("windows-10", "x86_64", ["sse2", "pae"], 8192, None),
    ("linux", "x86", ["sse2"], 1024, "2.36"),
    ("linux", "x86_64", ["sse2"], 4096, "2.41"),
]
OS_FLOORS = ["windows>=5.1", "windows>=6.1", "windows>=10.0", "windows>=6.1,<10"]


def synthetic_catalog(n_apps: int = 500) -> Catalog:
    catalog = Catalog(root=Path("."))
    for n in range(n_apps):
        releases = []
        for r in range(4):
            artifacts = []
            for a, (platform, arch, kind) in enumerate(
                [
                    ("windows", "x86", "zip"),
                    ("windows", "x86_64", "zip"),
                    ("windows", "x86_64", "msi"),
                    ("linux", "x86_64", "appimage"),
                ]
            ):
                req: dict[str, object] = {"os": "linux-glibc>=2.28" if platform == "linux" else OS_FLOORS[(n + r + a) % 4]}
                if (n + a) % 7 == 0:
                    req["ram_mb"] = 4096
                if (n + r) % 5 == 0:
                    req["cpu"] = ["sse2"]
                artifacts.append(
                    {
                        "platform": platform,
                        "arch": arch,
                        "kind": kind,
                        "url": f"https://example.org/{n}/{r}/{a}",
                        "sha256": f"{n:016x}{r:016x}{a:032x}",
                        "checksum_source": "synthetic",
                        "size": 1000 + n,
                        "requires": req,
                    }
                )
            releases.append({"version": f"{10 - r}.{n % 13}.{r}", "artifacts": artifacts})
        app = App.model_validate(
            {
                "id": f"app{n}",
                "name": f"App {n}",
                "category": ["office", "graphics", "web", "management"][n % 4],
                "license": "GPL-3.0-or-later",
                "homepage": "https://example.org/",
                "source_code": "https://example.org/src",
                "summary": {"fr": "x", "en": "x"},
                "lighter_than": [f"app{n - 1}"] if n % 10 == 1 else [],
                "releases": releases,
            }
        )
        catalog.apps[app.id] = app
    for i, (os_name, arch, cpu, ram, glibc) in enumerate(PROFILES):
        profile = Profile.model_validate(
            {
                "id": f"p{i}",
                "name": {"fr": "p", "en": "p"},
                "os": os_name,
                "arch": arch,
                "cpu": cpu,
                "ram_mb": ram,
                "glibc": glibc,
                "firmware": ["bios"],
                "key_mb": 10**6,
            }
        )
        catalog.profiles[profile.id] = profile
    catalog.packs["all"] = Pack.model_validate(
        {
            "id": "all",
            "name": {"fr": "a", "en": "a"},
            "summary": {"fr": "a", "en": "a"},
            "apps": list(catalog.apps),
            "overlays": [],
        }
    )
    return catalog


def run() -> bool:
    catalog = synthetic_catalog()
    pack = catalog.packs["all"]

    def full() -> None:
        for profile in catalog.profiles.values():
            resolve(catalog, pack, profile)

    def bare() -> None:
        for profile in catalog.profiles.values():
            for app in catalog.apps.values():
                next((a for r in app.releases for a in r.artifacts if misfit(a, profile) is None), None)

    elapsed = best_of(full, repeat=3)
    reference = best_of(bare, repeat=3)
    return report(
        "resolve 500 apps x 6 profiles", elapsed, "s", "bare artifact filter", reference, f"< {TARGET_S} s", elapsed < TARGET_S
    )


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
