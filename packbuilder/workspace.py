"""Where a command finds its catalog, overlays, signing keys and download cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.errors import PackbuilderError

if TYPE_CHECKING:
    from packbuilder.catalog import Catalog


@dataclass
class Workspace:
    """``--catalog`` and ``--cache`` (None: their environment variables, then the defaults)."""

    catalog_dir: Path | None = None
    cache_dir: Path | None = None
    _catalog: Catalog | None = field(default=None, repr=False)

    def use(self, catalog_dir: Path | None, cache_dir: Path | None) -> None:
        """Point at other folders (the global options of a new command): the loaded catalog is dropped."""
        self.catalog_dir, self.cache_dir, self._catalog = catalog_dir, cache_dir, None

    def catalog_root(self) -> Path:
        """--catalog, $PACKBUILDER_CATALOG, ./manifests or the shipped catalog."""
        from packbuilder.catalog import find_catalog

        return find_catalog(self.catalog_dir)

    def catalog(self) -> Catalog:
        """The catalog, loaded once (every error listed if it is broken)."""
        if self._catalog is None:
            from packbuilder.catalog import load_catalog

            self._catalog = load_catalog(self.catalog_root())
        return self._catalog

    def cache(self) -> Path:
        """The download cache: made if needed, and writable (else a clear error, exit 2)."""
        from packbuilder.fetch.cache import check_cache_dir, default_cache_dir

        return check_cache_dir(self.cache_dir or default_cache_dir())

    def keys_dir(self) -> Path | None:
        """The catalog's keys/ folder, for signature checks."""
        try:
            return self.catalog_root() / "keys"
        except PackbuilderError:
            return None

    def overlays_dir(self) -> Path | None:
        from packbuilder.catalog import overlays_root

        return overlays_root(self.catalog_root())
