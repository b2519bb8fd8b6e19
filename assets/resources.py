"""Resources the assets use: where the sources are and where the outputs go."""

from pathlib import Path

import dagster as dg


class WarehousePaths(dg.ConfigurableResource):
    """Where the build reads its sources and writes its outputs (README, "Set up and build").

    ``sources_dir``: a local folder of source files, or None to download them from the
    official portals (into ``<out_dir>/telechargements``). ``out_dir``: the output folder.
    ``work_dir``: the working folder of the build (``<out>/releases/.building-<pid>``, see
    ``warehouse/publication/releases.py``), where the database copy and the Parquet files are written before
    they become a release. ``prune``: drop the data of sources no longer given (``--prune``).
    ``portal_url``: the base address downloads are rebased onto (a mirror, a test server),
    None for the catalogue's official addresses.
    """

    sources_dir: str | None = None
    out_dir: str = "output"
    portal_url: str | None = None
    work_dir: str | None = None
    prune: bool = False

    @property
    def work(self) -> Path:
        return Path(self.work_dir) if self.work_dir else self.out / "releases" / ".building-dagster"

    @property
    def database(self) -> Path:
        """The working copy of the warehouse this build writes."""
        return self.work / "budget.duckdb"

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
    def staging_performance(self) -> Path:
        """The reports of the performance files set aside as copies (``rapport.json``, statut ``doublon``): the
        files read have theirs in ``indicateur_fichiers``."""
        return self.out / "staging" / "performance"

    @property
    def parquet(self) -> Path:
        """Where this build writes its Parquet files (the working folder's ``parquet/``)."""
        return self.work / "parquet"
