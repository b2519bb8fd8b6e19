"""Business rules of the credits, as functions that return the rows breaking them.

Each function takes staged line-level rows (``staging/credits``: the columns of
:data:`warehouse.credits.files.LINE_SCHEMA` plus ``role``), a frame or a lazy scan
(``warehouse.credits.staged_lines.scan_staged_lines``), and returns a frame of the offending
rows: empty when the rule holds. On a scan, only the columns a rule needs are read,
and its filters and aggregations run in Polars' streaming engine before anything
is held whole. Amounts are euros,
``Decimal(18, 2)``. Source of the rules: ``shared/data/README.md`` ("Credits")
and README, "The tables".
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "lfi_plf_amd_mismatches",
    "t2_ht2_mismatches",
    "witness_differences",
]

_ZERO = pl.lit(0).cast(pl.Decimal(18, 2))
_PROGRAMME_KEY = ["exercice", "phase", "type_budget", "code_programme"]
#: Columns of a witness difference: the two sources, where, the key, the two amounts and their gap.
_DIFFERENCE_COLUMNS = [
    "source_id",
    "source_id_autorite",
    *_PROGRAMME_KEY,
    "cle",
    "ae_autorite",
    "ae_temoin",
    "cp_autorite",
    "cp_temoin",
    "ecart_ae",
    "ecart_cp",
]


_LINE = ["exercice", "type_budget", "code_programme", "code_action", "code_sous_action", "code_categorie"]
Lines = pl.DataFrame | pl.LazyFrame
#: Source lines joined at once by :func:`lfi_plf_amd_mismatches`.
_LINES_PER_JOIN = 500_000


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect(engine="streaming")


def t2_ht2_mismatches(lines: Lines) -> pl.DataFrame:
    """Lines where T2 + HT2 ≠ the published total, in AE or CP.

    Only where a file publishes all three (``AE T2 LFI``, ``AE HT2 LFI``,
    ``AE ( T2 + HT2) LFI``); not where the total is computed (LFI 2023, broken at
    source). Columns: source_id, source_ligne, phase, the line's codes
    (exercice, type_budget, code_programme … code_categorie), grandeur, t2, ht2,
    total, somme (t2 + ht2).
    """
    lines = lines.lazy()
    # First whether any line breaks the rule, reading only the amounts compared, one grandeur at a time (a 10 M-line
    # file: ~100 MiB of scan buffers, not ~350 for every column of the rows); the rows only where some line does.
    broken = [
        pl.col(f"{g}_publie").is_not_null()
        & ~pl.col("calcule")
        & (pl.col(f"{g}_t2").fill_null(_ZERO) + pl.col(f"{g}_ht2").fill_null(_ZERO) != pl.col(f"{g}_publie"))
        for g in ("ae", "cp")
    ]
    if not any(_collect(lines.filter(rule).select(pl.len()))[0, 0] for rule in broken):  # a grandeur at a time
        lines = lines.head(0)
    parts = []
    for grandeur in ("ae", "cp"):
        parts.append(
            lines.filter(pl.col(f"{grandeur}_publie").is_not_null() & ~pl.col("calcule"))
            .select(
                "source_id",
                "source_ligne",
                "phase",
                *_LINE,
                pl.lit(grandeur).alias("grandeur"),
                pl.col(f"{grandeur}_t2").fill_null(_ZERO).alias("t2"),
                pl.col(f"{grandeur}_ht2").fill_null(_ZERO).alias("ht2"),
                pl.col(f"{grandeur}_publie").alias("total"),
            )
            .with_columns(somme=pl.col("t2") + pl.col("ht2"))
            .filter(pl.col("somme") != pl.col("total"))
        )
    return _collect(pl.concat(parts).sort("source_id", "source_ligne"))


def lfi_plf_amd_mismatches(lines: Lines) -> pl.DataFrame:
    """Lines of a file where the published LFI ≠ PLF + AMD of the same line, in AE or CP.

    Only where the LFI is published, not computed. An absent AMD row is an
    amendment of zero. Columns: source_id, source_ligne, the line's codes
    (exercice, type_budget, code_programme … code_categorie), grandeur, plf, amd,
    attendu (plf + amd), lfi.
    """
    key = ["source_id", "source_ligne", *_LINE]
    money = {g: pl.Decimal(18, 2) for g in ("plf", "amd", "attendu", "lfi")}
    lines = lines.lazy()
    lfi = lines.filter((pl.col("phase") == "LFI") & ~pl.col("calcule"))
    sources = _collect(lfi.select("source_id").unique())["source_id"].to_list()
    if not sources:
        schema = lines.collect_schema()
        return pl.DataFrame(schema={**{k: schema[k] for k in key}, "grandeur": pl.String, **money})
    # The rows of one source line (source_id, source_ligne) carry the same codes in every phase: the amounts
    # are compared joined on the line alone (hash tables of a few columns), and the codes of the few lines
    # that differ are taken afterwards.
    line = ["source_id", "source_ligne"]
    last = _collect(lfi.select(pl.col("source_ligne").max()))["source_ligne"][0] or 0
    # Where the rows of each range of source lines lie among the staged rows (the first and last position of
    # its rows): a range is read from that stretch only, not from every row (the staged files carry no
    # statistics of source_ligne to skip by; a 10 M-line file, 20 ranges: 20 times 3 scans of 21 M rows).
    stretches = _collect(
        lines.with_row_index("_position")
        .filter(pl.col("source_id").is_in(sources))
        .select(pl.col("source_ligne") // _LINES_PER_JOIN, "_position")
        .group_by("source_ligne")
        .agg(debut=pl.col("_position").min(), fin=pl.col("_position").max())
    )
    stretch = {tranche: (debut, fin - debut + 1) for tranche, debut, fin in stretches.iter_rows()}
    parts = []
    # By ranges of source lines, so that the join's hash tables hold one range at a time (a 10 M-line file).
    for start in range(0, last + 1, _LINES_PER_JOIN):
        if start // _LINES_PER_JOIN not in stretch:
            continue
        window = lines.slice(*stretch[start // _LINES_PER_JOIN])
        in_range = pl.col("source_ligne").is_between(start, start + _LINES_PER_JOIN, closed="left")
        from_file = window.filter(pl.col("source_id").is_in(sources))
        plf = from_file.filter(in_range & (pl.col("phase") == "PLF")).select(*line, ae_plf="ae", cp_plf="cp")
        amd = from_file.filter(in_range & (pl.col("phase") == "AMD")).select(*line, ae_amd="ae", cp_amd="cp")
        published = window.filter((pl.col("phase") == "LFI") & ~pl.col("calcule") & in_range)
        joined = published.select(*line, ae_lfi="ae", cp_lfi="cp").join(plf, on=line, how="inner")
        joined = joined.join(amd, on=line, how="left")
        both = []
        for g in ("ae", "cp"):
            attendu = pl.col(f"{g}_plf") + pl.col(f"{g}_amd").fill_null(_ZERO)
            both.append(
                joined.select(
                    *line,
                    pl.lit(g).alias("grandeur"),
                    pl.col(f"{g}_plf").alias("plf"),
                    pl.col(f"{g}_amd").fill_null(_ZERO).alias("amd"),
                    attendu.cast(pl.Decimal(18, 2)).alias("attendu"),
                    pl.col(f"{g}_lfi").alias("lfi"),
                ).filter(pl.col("attendu") != pl.col("lfi"))
            )
        parts.append(_collect(pl.concat(both)))
    found = pl.concat(parts)
    codes = _collect(lfi.select(key).join(found.select(line).unique().lazy(), on=line, how="semi"))
    return (
        found.join(codes, on=line, how="left")
        .select(*key, "grandeur", "plf", "amd", "attendu", "lfi")
        .sort("source_id", "source_ligne", maintain_order=True)
    )


def witness_differences(lines: Lines) -> pl.DataFrame:
    """Programmes where a witness file states other AE or CP than the authoritative one.

    Compared by (exercice, phase, type_budget, code_programme), over the
    (exercice, phase, type_budget) the witness covers. A programme absent from one
    side counts as zero there, so a programme with only zero amounts on one side is
    not a difference. A partial witness (:func:`partial_witnesses`) is compared
    line by line on the business keys it states instead. Columns: source_id (the
    witness), source_id_autorite, the key, cle (the programme, or the line's codes
    for a partial witness), ae_autorite, ae_temoin, cp_autorite, cp_temoin,
    ecart_ae, ecart_cp.
    """
    lines = lines.lazy()
    # Only the scopes a witness covers are compared: the lines of the others (every line, where no file
    # witnesses another) are neither grouped nor joined, only their scope and role columns read.
    scopes = _collect(lines.filter(pl.col("role") == "W").select(_SCOPE).unique())
    lines = lines.join(scopes.lazy(), on=_SCOPE, how="semi", nulls_equal=True) if scopes.height else lines.head(0)
    partial = partial_witnesses(lines)
    line_level = _partial_differences(lines, partial)
    lines = lines.join(partial.lazy(), on=["source_id", *_SCOPE], how="anti", nulls_equal=True)
    totals = _collect(lines.group_by("source_id", "role", *_PROGRAMME_KEY).agg(pl.col("ae").sum(), pl.col("cp").sum()))
    authority = totals.filter(pl.col("role") == "A").drop("role")
    witnesses = totals.filter(pl.col("role") == "W").drop("role")
    scope = ["exercice", "phase", "type_budget"]
    covered = witnesses.select("source_id", *scope).unique()
    authority_scoped = covered.join(
        authority.rename({"source_id": "source_id_autorite"}),
        on=scope,
        how="inner",
        nulls_equal=True,
    )
    compared = authority_scoped.join(
        witnesses,
        on=["source_id", *_PROGRAMME_KEY],
        how="full",
        coalesce=True,
        nulls_equal=True,
        suffix="_temoin",
    ).rename({"ae": "ae_autorite", "cp": "cp_autorite"})
    compared = compared.with_columns(
        pl.col("source_id_autorite").fill_null(
            pl.col("source_id_autorite").drop_nulls().first().over("source_id", *scope)
        ),
        *[pl.col(c).fill_null(_ZERO) for c in ("ae_autorite", "cp_autorite", "ae_temoin", "cp_temoin")],
    ).with_columns(
        ecart_ae=pl.col("ae_temoin") - pl.col("ae_autorite"),
        ecart_cp=pl.col("cp_temoin") - pl.col("cp_autorite"),
    )
    programme_level = compared.filter((pl.col("ecart_ae") != 0) | (pl.col("ecart_cp") != 0)).with_columns(
        cle=pl.col("code_programme")
    )
    return (
        pl.concat([programme_level.select(line_level.columns), line_level], how="vertical_relaxed")
        .select(_DIFFERENCE_COLUMNS)
        .sort("exercice", "phase", "source_id", "code_programme")
    )


_SCOPE = ["exercice", "phase", "type_budget"]


def partial_witnesses(lines: Lines) -> pl.DataFrame:
    """The witnesses that cover only part of the authoritative file's scope: half as many
    (code_programme, code_action) pairs or fewer (the rule of ``warehouse.credits.roles.assign_roles``).

    Columns: source_id and the scope (exercice, phase, type_budget).
    """
    pairs = _collect(
        lines.lazy()
        .select("source_id", "role", *_SCOPE, "code_programme", "code_action")
        .unique()
        .group_by("source_id", "role", *_SCOPE)
        .agg(pl.len().alias("paires"))
    )
    authority = pairs.filter(pl.col("role") == "A").select(*_SCOPE, paires_autorite="paires")
    return (
        pairs.filter(pl.col("role") == "W")
        .join(authority, on=_SCOPE, nulls_equal=True)
        .filter(pl.col("paires") * 2 <= pl.col("paires_autorite"))
        .select("source_id", *_SCOPE)
    )


def _partial_differences(lines: pl.LazyFrame, partial: pl.DataFrame) -> pl.DataFrame:
    """A partial witness (a few lines exported from the portal) against the authoritative file,
    line by line on the business keys it states; cle: the key's codes joined by ``-``."""
    from schemas.credits import BUSINESS_KEY  # beside the Pandera model: imported when a rule runs

    key = [k for k in BUSINESS_KEY if k not in _SCOPE]
    sums = [pl.col("ae").sum(), pl.col("cp").sum()]
    witness = (
        lines.join(partial.lazy(), on=["source_id", *_SCOPE], nulls_equal=True)
        .group_by("source_id", *_SCOPE, *key)
        .agg(*sums)
    )
    scopes = partial.select(_SCOPE).unique().lazy()
    authority = lines.filter(pl.col("role") == "A").join(scopes, on=_SCOPE, nulls_equal=True)
    source = authority.group_by(_SCOPE).agg(pl.col("source_id").first().alias("source_id_autorite"))
    amounts = authority.group_by(*_SCOPE, *key).agg(*sums)
    joined = witness.join(amounts, on=[*_SCOPE, *key], how="left", nulls_equal=True, suffix="_autorite")
    return (
        joined.join(source, on=_SCOPE, how="left", nulls_equal=True)
        .with_columns(
            ae_temoin=pl.col("ae"),
            cp_temoin=pl.col("cp"),
            ae_autorite=pl.col("ae_autorite").fill_null(_ZERO),
            cp_autorite=pl.col("cp_autorite").fill_null(_ZERO),
            cle=pl.concat_str(key[:-1], separator="-", ignore_nulls=True),
        )
        .with_columns(
            ecart_ae=pl.col("ae_temoin") - pl.col("ae_autorite"), ecart_cp=pl.col("cp_temoin") - pl.col("cp_autorite")
        )
        .filter((pl.col("ecart_ae") != 0) | (pl.col("ecart_cp") != 0))
        .select(_DIFFERENCE_COLUMNS)
        .collect(engine="streaming")
    )
