"""Synthetic credit files in the exact format of the LFI 2021 family (``LFI_2021_Credits.csv``).

The header is copied, byte for byte, from the repository's ``data/sources/LFI_2021_Credits.csv``
at run time; so are the pools of labels and missions (mission, its code, its budget type and its
ministère), so the labels hold the accented French characters that make Windows-1252 matter.
Each line has a unique business key (programme, action, sous-action, catégorie; the titre is the
catégorie's first digit, the mission follows from the programme): keys are drawn by sampling a
mixed-radix key space (900 programmes ``100``–``999`` × 99 actions ``01``–``99`` × 20 sous-actions
(none, ``01``–``19``) × 19 catégories) at strictly increasing positions, so the lines come sorted
by programme, action, sous-action and catégorie, as in the real file.

Amounts are whole euros written as the real file writes them: a space between thousands
(``533 092 043``), ``-`` for a negative. On every line they obey the rules the project checks:
``X T2 + X HT2 = X (T2 + HT2)`` for the LFI, and ``LFI = PLF + AMD`` for T2 and HT2 of AE and CP.
A line of a titre-2 catégorie (personnel) has its amounts in T2, any other line in HT2.

Generation is vectorised (numpy draws, Polars expressions for the text) and streamed to disk
chunk by chunk: 10 M lines never live in memory at once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from schemas.headers import fold_header

__all__ = ["FILE_NAME", "KEY_SPACE", "TEMPLATE", "SyntheticFile", "generate"]

ROOT = Path(__file__).resolve().parents[1]
#: The real file whose format the synthetic files copy.
TEMPLATE = ROOT / "data" / "sources" / "LFI_2021_Credits.csv"
#: The name under which the project recognises the file as the LFI 2021 credits.
FILE_NAME = "LFI_2021_Credits.csv"
ENCODING = "cp1252"

PROGRAMMES = 900  # codes 100..999
ACTIONS = 99  # codes 01..99
SOUS_ACTIONS = 20  # none, 01..19
CATEGORIES = (
    "11", "12", "21", "22", "23", "31", "32", "41", "42", "43", "51", "52", "53", "61", "62", "63", "64", "65", "71",
)  # fmt: skip
KEY_SPACE = PROGRAMMES * ACTIONS * SOUS_ACTIONS * len(CATEGORIES)
CHUNK = 250_000

#: The folded names of the 14 amount columns, in the template's order (checked against its header).
AMOUNT_COLUMNS = (
    "aet2plf", "aeht2plf", "cpt2plf", "cpht2plf",
    "aet2amd", "aeht2amd", "cpt2amd", "cpht2amd",
    "aet2lfi", "aeht2lfi", "aet2ht2lfi", "cpt2lfi", "cpht2lfi", "cpt2ht2lfi",
)  # fmt: skip
CODE_COLUMNS = (
    "mission", "codemission", "typemission", "programme", "libelleprogramme", "action", "libelleaction",
    "sousaction", "libellesousaction", "categorie", "codetitre", "codeministere", "libelleministere",
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticFile:
    """A generated file and what it holds.

    ``rows``: data lines (the header aside). ``credit_rows``: the rows the file gives the
    ``credits`` table (one per line for PLF, one per line for LFI, one per line whose amendment
    is not zero in AE or CP). Totals are in euros, exact.
    """

    path: Path
    rows: int
    credit_rows: int
    ae_lfi_total: Decimal
    cp_lfi_total: Decimal
    ae_plf_total: Decimal
    octets: int


def template_header(template: Path = TEMPLATE) -> bytes:
    """The first line of the template, as its bytes (Windows-1252), without its line end."""
    with template.open("rb") as handle:
        header = handle.readline().rstrip(b"\r\n")
    folded = [fold_header(name) for name in header.decode(ENCODING).split(";")]
    if tuple(folded) != CODE_COLUMNS + AMOUNT_COLUMNS:
        raise ValueError(f"{template}: header is not the LFI 2021 credits header: {folded}")
    return header


@dataclass(frozen=True)
class _Pools:
    missions: pl.DataFrame  # mission, code_mission, type_mission, code_ministere, libelle_ministere
    programme_labels: list[str]
    action_labels: list[str]
    sous_action_labels: list[str]


def _pools(template: Path) -> _Pools:
    with template.open(encoding=ENCODING, newline="") as handle:
        rows = [r for r in csv.reader(handle, delimiter=";") if len(r) == 27 and r[3]][1:]
    missions = sorted({(r[0], r[1], r[2], r[11], r[12]) for r in rows if r[0] and r[1] and r[2]})
    return _Pools(
        pl.DataFrame(
            missions,
            schema=["mission", "code_mission", "type_mission", "code_ministere", "libelle_ministere"],
            orient="row",
        ),
        sorted({r[4] for r in rows if r[4]}),
        sorted({r[6] for r in rows if r[6]}),
        sorted({r[8] for r in rows if r[8]}),
    )


def _euros(expr: pl.Expr) -> pl.Expr:
    """Whole euros (Int64, |x| < 10^12) as the file writes them: ``-1 234 567``."""
    a = expr.abs()
    three = lambda e: e.cast(pl.String).str.zfill(3)  # noqa: E731
    b, m, t, u = a // 1_000_000_000, (a // 1_000_000) % 1000, (a // 1000) % 1000, a % 1000
    text = (
        pl.when(a >= 1_000_000_000)
        .then(pl.format("{} {} {} {}", b, three(m), three(t), three(u)))
        .when(a >= 1_000_000)
        .then(pl.format("{} {} {}", m, three(t), three(u)))
        .when(a >= 1000)
        .then(pl.format("{} {}", t, three(u)))
        .otherwise(u.cast(pl.String))
    )
    return pl.when(expr < 0).then(pl.lit("-") + text).otherwise(text)


def _chunk(keys: np.ndarray, rng: np.random.Generator, pools: _Pools) -> tuple[pl.DataFrame, dict[str, int]]:
    """The 27 cells (text) of the lines whose key positions are ``keys``, and their sums (euros)."""
    n = len(keys)
    categorie = keys % len(CATEGORIES)
    rest = keys // len(CATEGORIES)
    sous_action = rest % SOUS_ACTIONS
    rest //= SOUS_ACTIONS
    action = rest % ACTIONS + 1
    programme = rest // ACTIONS  # 0..899
    mission = programme * pools.missions.height // PROGRAMMES  # contiguous programmes per mission
    titre2 = np.asarray([c[0] == "2" for c in CATEGORIES])[categorie]

    base = np.where(rng.random(n) < 0.1, 0, np.exp(rng.uniform(np.log(1e3), np.log(5e8), n))).astype(np.int64)
    cp_share = np.where(titre2, 1.0, rng.uniform(0.6, 1.0, n))
    ae_plf = base
    cp_plf = np.round(base * cp_share).astype(np.int64)
    amended = rng.random(n) < 0.15
    ae_amd = np.where(amended, np.round(base * rng.uniform(-0.1, 0.1, n)), 0).astype(np.int64)
    cp_amd = np.where(amended & (rng.random(n) < 0.8), ae_amd, 0).astype(np.int64)
    sums = {
        "ae_lfi": int(ae_plf.sum() + ae_amd.sum()),
        "cp_lfi": int(cp_plf.sum() + cp_amd.sum()),
        "ae_plf": int(ae_plf.sum()),
        "amd_rows": int(((ae_amd != 0) | (cp_amd != 0)).sum()),
    }
    # Each amount is formatted once; its T2 and HT2 cells are that text or "0" (by the line's titre).
    values = {
        "ae_plf": ae_plf, "cp_plf": cp_plf, "ae_amd": ae_amd, "cp_amd": cp_amd,
        "ae_lfi": ae_plf + ae_amd, "cp_lfi": cp_plf + cp_amd,
    }  # fmt: skip
    order = [
        ("ae_plf", "t2"), ("ae_plf", "ht2"), ("cp_plf", "t2"), ("cp_plf", "ht2"),
        ("ae_amd", "t2"), ("ae_amd", "ht2"), ("cp_amd", "t2"), ("cp_amd", "ht2"),
        ("ae_lfi", "t2"), ("ae_lfi", "ht2"), ("ae_lfi", "total"), ("cp_lfi", "t2"), ("cp_lfi", "ht2"),
        ("cp_lfi", "total"),
    ]  # fmt: skip
    labels = lambda pool, index: pl.Series(pool).gather(pl.Series(index % len(pool)))  # noqa: E731
    frame = pl.DataFrame(
        {
            "_mission": mission,
            "_programme": programme + 100,
            "_action": action,
            "_sous_action": sous_action,
            "_categorie": np.asarray(CATEGORIES)[categorie],
            "_lp": labels(pools.programme_labels, programme),
            "_la": labels(pools.action_labels, programme * 7 + action),
            "_lsa": labels(pools.sous_action_labels, programme * 13 + action * 3 + sous_action),
            "_titre2": titre2,
            **{f"_{k}": v for k, v in values.items()},
        }
    ).join(pools.missions.with_row_index("_mission", 0).cast({"_mission": pl.Int64}), on="_mission", how="left")
    text = frame.select(pl.col("_titre2"), **{k: _euros(pl.col(f"_{k}")) for k in values})
    zero = pl.lit("0")
    part = {
        "t2": lambda k: pl.when(pl.col("_titre2")).then(pl.col(k)).otherwise(zero),
        "ht2": lambda k: pl.when(pl.col("_titre2")).then(zero).otherwise(pl.col(k)),
        "total": lambda k: pl.col(k),
    }
    amount_cells = text.select(*[part[p](k).alias(f"{k}_{p}") for k, p in order])
    code2 = lambda c: pl.col(c).cast(pl.String).str.zfill(2)  # noqa: E731
    has_sa = pl.col("_sous_action") > 0
    cells = frame.select(
        pl.col("mission"),
        pl.col("code_mission"),
        pl.col("type_mission"),
        pl.col("_programme").cast(pl.String).alias("programme"),
        pl.col("_lp").alias("libelle_programme"),
        code2("_action").alias("action"),
        pl.col("_la").alias("libelle_action"),
        pl.when(has_sa).then(code2("_sous_action")).otherwise(pl.lit("")).alias("sous_action"),
        pl.when(has_sa).then(pl.col("_lsa")).otherwise(pl.lit("")).alias("libelle_sous_action"),
        pl.col("_categorie").alias("categorie"),
        pl.col("_categorie").str.slice(0, 1).alias("code_titre"),
        pl.col("code_ministere"),
        pl.col("libelle_ministere"),
    ).hstack(amount_cells)
    return cells, sums


def _key_positions(rows: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` distinct, increasing positions in the key space (one per stratum of equal width)."""
    if not 0 < rows <= KEY_SPACE:
        raise ValueError(f"rows must be between 1 and {KEY_SPACE}, got {rows}")
    stride = KEY_SPACE // rows
    starts = np.arange(rows, dtype=np.int64) * KEY_SPACE // rows
    return starts + rng.integers(0, stride, rows, dtype=np.int64)


def generate(rows: int, folder: Path, seed: int = 2021, template: Path = TEMPLATE) -> SyntheticFile:
    """Write ``folder/LFI_2021_Credits.csv`` with exactly ``rows`` data lines; return what it holds.

    ``folder`` is created; the file is overwritten. Windows-1252, ``;``, LF line ends, no quoting
    (no cell holds ``;``), the template's header. Raises ``ValueError`` when ``rows`` exceeds the
    key space (33,858,000) or the template's header is not the LFI 2021 credits header.
    """
    header = template_header(template)
    pools = _pools(template)
    rng = np.random.default_rng(seed)
    keys = _key_positions(rows, rng)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    sums = {"ae_lfi": 0, "cp_lfi": 0, "ae_plf": 0, "amd_rows": 0}
    with path.open("wb") as out:
        out.write(header + b"\n")
        for start in range(0, rows, CHUNK):
            cells, totals = _chunk(keys[start : start + CHUNK], rng, pools)
            text = cells.write_csv(include_header=False, separator=";", quote_style="never", line_terminator="\n")
            out.write(text.encode(ENCODING))
            for k, v in totals.items():
                sums[k] += v
    return SyntheticFile(
        path=path,
        rows=rows,
        credit_rows=2 * rows + sums["amd_rows"],
        ae_lfi_total=Decimal(sums["ae_lfi"]).quantize(Decimal("0.01")),
        cp_lfi_total=Decimal(sums["cp_lfi"]).quantize(Decimal("0.01")),
        ae_plf_total=Decimal(sums["ae_plf"]).quantize(Decimal("0.01")),
        octets=path.stat().st_size,
    )
