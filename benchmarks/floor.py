"""The floor: the least work that turns a credit file into typed Parquet with exact amounts.

The system ``iconv -f CP1252 -t UTF-8`` decodes the file to a temporary UTF-8 copy, then Polars
``scan_csv`` → ``sink_parquet`` (streaming) writes every column, the amount columns (those whose
header starts with ``AE`` or ``CP``) parsed to ``Decimal(18, 2)`` after removing the spaces that
separate thousands. No validation, no business rules: what any ingestion must at least do.

Run as ``python -m benchmarks.floor FILE.csv OUT_FOLDER`` (the benchmark runs it in a child process
to measure it); writes ``OUT_FOLDER/credits.parquet``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

__all__ = ["AMOUNT", "amount_columns", "floor"]

AMOUNT = pl.Decimal(18, 2)


def amount_columns(header: list[str]) -> list[str]:
    """The amount columns of a credit header: those that start with ``AE`` or ``CP``."""
    return [name for name in header if name.strip().upper().startswith(("AE ", "CP "))]


def floor(csv_file: Path, folder: Path) -> Path:
    """iconv ``csv_file`` (Windows-1252, ``;``) to UTF-8 in ``folder``, then stream it to
    ``folder/credits.parquet`` with the amounts as ``Decimal(18, 2)``; returns that path.

    Raises ``subprocess.CalledProcessError`` if iconv fails, ``polars`` errors if a cell
    does not parse.
    """
    folder.mkdir(parents=True, exist_ok=True)
    utf8 = folder / "credits.utf8.csv"
    subprocess.run(["iconv", "-f", "CP1252", "-t", "UTF-8", "-o", str(utf8), str(csv_file)], check=True)
    frame = pl.scan_csv(utf8, separator=";", infer_schema=False, quote_char=None)
    amounts = amount_columns(frame.collect_schema().names())
    parquet = folder / "credits.parquet"
    frame.with_columns(pl.col(amounts).str.replace_all(" ", "", literal=True).cast(AMOUNT)).sink_parquet(parquet)
    utf8.unlink()
    return parquet


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m benchmarks.floor FILE.csv OUT_FOLDER", file=sys.stderr)
        return 2
    print(floor(Path(argv[0]), Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
