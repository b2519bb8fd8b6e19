"""Resources the assets use: where the sources are and where the outputs go."""

from pathlib import Path

import dagster as dg


class WarehousePaths(dg.ConfigurableResource):
    """Where the build reads its sources and writes its outputs (CONTRACT.md, "The command").

    ``sources_dir``: a local folder of source files, or None to download them from the
    official portals (into ``<out_dir>/telechargements``). ``out_dir``: the output folder.
    ``portal_url``: the base address downloads are rebased onto (a mirror, a test server),
    None for the catalogue's official addresses.
    """

    sources_dir: str | None = None
    out_dir: str = "output"
    portal_url: str | None = None

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    @property
    def sources(self) -> Path | None:
        return Path(self.sources_dir) if self.sources_dir else None

    @property
    def downloads(self) -> Path:
        return self.out / "telechargements"

    @property
    def staging_credits(self) -> Path:
        return self.out / "staging" / "credits"

    @property
    def staging_nomenclature(self) -> Path:
        return self.out / "staging" / "nomenclature"

    @property
    def parquet(self) -> Path:
        return self.out / "parquet"
