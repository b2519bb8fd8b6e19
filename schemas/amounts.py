"""Parsing of amounts as published, into exact decimals (euros), decided per column.

Budget files write the same amount in many ways: ``1 234,50`` with a space, a
no-break space (U+00A0) or a narrow no-break space (U+202F) between thousands;
``1.299,99``; ``7300000.0``; ``− 1 000,25`` with a U+2212 minus; accounting
negatives ``(1 234,50)`` and ``1234-``; a currency sign before or after;
``12,5 M€`` or ``1,2 Md€`` in texts.

The thousands and decimal separators are a property of a **column**, decided
from all its values (:func:`decide_separators`), never of one cell: in a column
holding ``1.234.567``, ``12.500`` is 12 500; in a column holding ``7300000.0``,
``.`` is the decimal mark. A value that alone could be either (``1.234``: one
separator, three digits after it, at most three before) is decided by the other
values of the column, then by the other amount columns of the file where they show
it grouping thousands (another column's decimal mark decides nothing), then (for a
workbook, whose numbers are written by the reader as ``1234.5``) by the format;
otherwise it is an :class:`AmountError`, never a guess. A value in scientific
notation written as text (``1,23457E+11``, Excel's display of a number) has lost
digits and is refused. Sources: the project's cases ``shared/cases/B01``,
``B02``, ``B09``, ``B30``, ``B38``.

:func:`euros_expr` is the column form (a Polars expression); :func:`parse_amount`
and :func:`parse_euros` apply the same rules to one value (a column of one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

__all__ = [
    "AmountError",
    "CENT",
    "SeparatorEvidence",
    "Separators",
    "decide_separators",
    "disagreement_at",
    "euros_expr",
    "first_marks",
    "parse_amount",
    "parse_euros",
    "parse_euros_column",
    "parse_euros_columns",
    "separator_evidence",
    "separator_evidences",
]

CENT = Decimal("0.01")
_MAX_DIGITS = 16  # DECIMAL(18,2) holds 16 digits before the point
#: Significant digits from which a value with more than two decimals is a binary float's text (its noise in the
#: last digits, ``311029341.88000005``), rounded to the cent; below, the decimals beyond the cent are an error.
_FLOAT_DIGITS = 16

_SPACES = r"[\s\u00a0\u202f\u2009\u2007\u2008']+"
_MINUS = r"[\u2212\u2013\u2012]"
_PLACEHOLDERS = ["-", "--", "\u2014"]  # a lone dash: no amount stated
_CURRENCY = r"€|euros?|eur"
#: A cleaned cell: text before the number, the number (digits and separators), an exponent, text after.
_SHAPE = r"^(?P<avant>[^0-9.,]*)(?P<corps>[0-9.,]*[0-9][0-9.,]*)(?P<exposant>e[-+]?[0-9]+)?(?P<apres>[^0-9]*)$"
_BEFORE = rf"^(?P<s1>[-+])?(?:{_CURRENCY})?(?P<s2>-)?(?P<ouvre>\()?(?:{_CURRENCY})?(?P<s3>-)?$"
_AFTER = (
    rf"^(?P<multiple>mds?|milliards?|millions?|milliers?|m|k)?(?P<devise>{_CURRENCY})?"
    rf"(?P<ferme>\))?(?P<s4>-)?(?P<devise2>{_CURRENCY})?(?P<s5>-)?$"
)
#: Thousands grouped by spaces (or apostrophes) irregularly: a group after the first not of three digits, or a first
#: group of more than three (``4 11 91 06 1``, ``12 34 5``, ``1234 567``). A group of thousands has three digits.
_IRREGULAR = rf"[0-9]{{4,}}{_SPACES}[0-9]|[0-9]{_SPACES}[0-9]{{4,}}|[0-9]{_SPACES}[0-9]{{1,2}}(?:[^0-9]|$)"
_SPACES_RE, _MINUS_RE, _IRREGULAR_RE = re.compile(_SPACES), re.compile(_MINUS), re.compile(_IRREGULAR)
_SHAPE_RE, _BEFORE_RE, _AFTER_RE = re.compile(_SHAPE), re.compile(_BEFORE), re.compile(_AFTER)
_GROUP_HEAD = re.compile(r"^[1-9][0-9]{0,2}$")
_TINY_FLOAT = re.compile(r"^[0-9](\.[0-9]+)?$")
_POWER = {"md": 9, "mds": 9, "milliard": 9, "milliards": 9, "million": 6, "millions": 6, "m": 6}
_POWER |= {"millier": 3, "milliers": 3, "k": 3}
_NEEDS_CURRENCY = ["m", "million", "millions", "k", "millier", "milliers"]


class AmountError(ValueError):
    """A cell (or a column) that should hold amounts holds something else, or is ambiguous."""


@dataclass(frozen=True)
class SeparatorEvidence:
    """What the values of one column say about its separators.

    ``thousands`` / ``decimal``: characters some value proves to be the thousands
    separator (``1.234.567``, ``1.234,5``) or the decimal mark (``12,5``, ``7300000.0``);
    ``ambiguous``: characters some value uses in a way that could be either (``12.500``).
    """

    thousands: frozenset[str] = frozenset()
    decimal: frozenset[str] = frozenset()
    ambiguous: frozenset[str] = frozenset()

    def conflict(self) -> str | None:
        """Why the evidence contradicts itself, or None."""
        if len(self.thousands) > 1 or len(self.decimal) > 1 or self.thousands & self.decimal:
            return (
                f"separators disagree: thousands {sorted(self.thousands)}, decimal mark {sorted(self.decimal)} "
                "in the same column"
            )
        return None


@dataclass(frozen=True)
class Separators:
    """The separators of one column: ``thousands`` and ``decimal`` are ``'.'``, ``','`` or None (not used)."""

    thousands: str | None = None
    decimal: str | None = None


def _clean(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(_SPACES, "").str.replace_all(_MINUS, "-").str.to_lowercase()


def _shape(expr: pl.Expr) -> pl.Expr:
    """A struct of the parts of each cell: ``texte`` (cleaned), ``vide``, ``avant``, ``corps``,
    ``exposant``, ``apres``."""
    text = _clean(expr)
    return (
        pl.struct(texte=text)
        .struct.with_fields(
            vide=pl.field("texte").is_null() | pl.field("texte").is_in(["", *_PLACEHOLDERS]),
            parts=pl.field("texte").str.extract_groups(_SHAPE),
        )
        .struct.with_fields(
            avant=pl.field("parts").struct.field("avant"),
            corps=pl.field("parts").struct.field("corps"),
            exposant=pl.field("parts").struct.field("exposant"),
            apres=pl.field("parts").struct.field("apres"),
        )
    )


def _classify(body: str) -> tuple[str, str] | None:
    """What one number body (``1.234,5``) says: ``(kind, mark)`` with kind ``thousands``,
    ``decimal``, ``both`` (mark = the decimal mark, the other one groups thousands) or
    ``ambiguous``; None for a body without a mark."""
    dots, commas = body.count("."), body.count(",")
    if not dots and not commas:
        return None
    last = "." if body.rfind(".") > body.rfind(",") else ","
    if dots and commas:
        return "both", last
    if dots > 1 or commas > 1:
        return "thousands", last
    head, _, after = body.partition(last)
    if len(after) == 3 and _GROUP_HEAD.match(head):
        return "ambiguous", last
    return "decimal", last


def _evidence(bodies: Iterable[str]) -> SeparatorEvidence:
    thousands, decimal, ambiguous = set(), set(), set()
    for body in bodies:
        said = _classify(body)
        if said is None:
            continue
        kind, mark = said
        if kind == "both":
            decimal.add(mark)
            thousands.add("," if mark == "." else ".")
        elif kind == "thousands":
            thousands.add(mark)
        elif kind == "decimal":
            decimal.add(mark)
        else:
            ambiguous.add(mark)
    return SeparatorEvidence(frozenset(thousands), frozenset(decimal), frozenset(ambiguous))


def _body(text: str) -> str | None:
    """The number body of one published value (``1.234,5`` of ``(1 234,5 €)``), or None."""
    found = _SHAPE_RE.match(_MINUS_RE.sub("-", _SPACES_RE.sub("", text)).lower())
    return found.group("corps") if found else None


def signatures_expr(column: str) -> pl.Expr:
    """The distinct separator signatures of a text column, as a list (one row): what a value says depends on
    where its digits and separators are, and on whether its integer part starts with 0, so values are
    decided on those signatures (``1.234,5`` -> ``9.999,9``), few. Only a value with a separator says anything."""
    text = pl.col(column).cast(pl.String)
    return (
        text.filter(text.str.contains("[.,]"))
        .str.replace(r"^([^0-9]*)0", "${1}Z")
        .str.replace_all("[0-9]", "9")
        .unique()
        .implode()
        .alias(column)
    )


def evidence_of(signatures: Iterable[str]) -> SeparatorEvidence:
    """The separator evidence of a column from its signatures (:func:`signatures_expr`)."""
    return _evidence(filter(None, (_body(v.replace("Z", "0")) for v in signatures)))


def first_marks(frame: pl.DataFrame | pl.LazyFrame, column: str, order: str) -> dict[tuple[str, str], int]:
    """Where each separator role shows first in ``column`` (published amounts, text) of ``frame``: ``(role, mark)``
    (role ``thousands`` or ``decimal``, as :class:`SeparatorEvidence` has them) -> the least value of ``order`` (a
    line number) among the values saying it. One query over the values' signatures (:func:`signatures_expr`), each
    classified once."""
    text = pl.col(column).cast(pl.String)
    signature = text.str.replace(r"^([^0-9]*)0", "${1}Z").str.replace_all("[0-9]", "9")
    found = (
        frame.lazy().filter(text.str.contains("[.,]")).group_by(signature.alias("s")).agg(pl.col(order).min()).collect()
    )
    first: dict[tuple[str, str], int] = {}
    for value, line in found.iter_rows():
        evidence = evidence_of([value])
        for role, marks in (("thousands", evidence.thousands), ("decimal", evidence.decimal)):
            for mark in marks:
                first[(role, mark)] = min(line, first.get((role, mark), line))
    return first


def disagreement_at(first: Mapping[tuple[str, str], int]) -> int | None:
    """The first line (of :func:`first_marks`) where a column's separators disagree (:meth:`SeparatorEvidence.conflict`:
    two decimal marks, two thousands separators, or one mark in both roles), or None."""
    pairs = [
        (("decimal", "."), ("decimal", ",")),
        (("thousands", "."), ("thousands", ",")),
        (("thousands", "."), ("decimal", ".")),
        (("thousands", ","), ("decimal", ",")),
    ]
    lines = [max(first[a], first[b]) for a, b in pairs if a in first and b in first]
    return min(lines) if lines else None


def separator_evidences(frame: pl.DataFrame | pl.LazyFrame, columns: Sequence[str]) -> dict[str, SeparatorEvidence]:
    """The separator evidence of each of ``columns`` (published amounts, text) of ``frame``, in one query."""
    if not columns:
        return {}
    found = frame.lazy().select(signatures_expr(c) for c in columns).collect().row(0, named=True)
    return {c: evidence_of(found[c]) for c in columns}


def separator_evidence(values: pl.Series) -> SeparatorEvidence:
    """The separator evidence of a column of published amounts (text)."""
    return separator_evidences(pl.DataFrame({"v": values.cast(pl.String)}), ["v"])["v"]


def _resolve(char: str, evidence: SeparatorEvidence) -> str | None:
    """``'thousands'`` or ``'decimal'`` for an ambiguous ``char``, as ``evidence`` decides, else None."""
    if evidence.conflict():
        return None
    if char in evidence.thousands or evidence.decimal - {char}:
        return "thousands"
    if char in evidence.decimal or evidence.thousands - {char}:
        return "decimal"
    return None


def decide_separators(
    values: pl.Series | SeparatorEvidence,
    others: Iterable[SeparatorEvidence] = (),
    default_decimal: str | None = None,
) -> Separators:
    """Decide the thousands and decimal separators of a column from all its values.

    ``values``: the column's published text (or its :func:`separator_evidence`).
    An ambiguous use (``12.500`` alone) is decided by the column's own other values,
    then by ``others`` (the evidence of the file's other amount columns, merged) where they
    show the mark grouping thousands (``1.234.567``, or ``,`` as their decimal mark), never
    where it is their decimal mark, then by ``default_decimal`` (``'.'`` for a workbook's numbers).
    Raises :class:`AmountError` when the values contradict each other
    (``1.234,5`` and ``1,234.5``) or nothing decides an ambiguous use.
    """
    evidence = values if isinstance(values, SeparatorEvidence) else separator_evidence(values)
    problem = evidence.conflict()
    if problem:
        raise AmountError(problem)
    others = list(others)
    merged = SeparatorEvidence(
        frozenset().union(*(o.thousands for o in others)), frozenset().union(*(o.decimal for o in others))
    )
    thousands = next(iter(evidence.thousands), None)
    decimal = next(iter(evidence.decimal), None)
    for char in sorted(evidence.ambiguous):
        role = _resolve(char, evidence)
        if role is None and _resolve(char, merged) == "thousands":
            # Another column only ever says the mark groups thousands: that it is another column's
            # decimal mark says nothing of this one (formats differ per column; `1.000` beside
            # `0.00` read as 1 € would be another figure). A euro amount has two decimals, not three.
            role = "thousands"
        if role is None and default_decimal == char:
            role = "decimal"
        if role is None:
            raise AmountError(
                f"ambiguous separator {char!r}: a value such as '1{char}234' could be 1234 or 1{char}234, "
                "and no other value of the column or the file decides"
            )
        if role == "thousands":
            thousands = char
        else:
            decimal = char
    if thousands is not None and thousands == decimal:
        raise AmountError(f"{thousands!r} is both the thousands separator and the decimal mark")
    return Separators(thousands, decimal)


def _fits(separators: Separators) -> str:
    """Regular expression a number body must match under ``separators``."""
    digits = r"[0-9]+"
    if separators.thousands:
        t = re.escape(separators.thousands)
        digits = rf"(?:[0-9]{{1,3}}(?:{t}[0-9]{{3}})+|[0-9]+)"
    if separators.decimal:
        d = re.escape(separators.decimal)
        return rf"^(?:{digits}(?:{d}[0-9]*)?|{d}[0-9]+)$"
    return rf"^{digits}$"


def euros_expr(
    column: str | pl.Expr, separators: Separators, float_text: bool = False, shortest: bool = False
) -> pl.Expr:
    """The amounts of a text column, parsed under ``separators``, as a struct expression.

    Fields read by callers (the others are intermediate): ``euros`` (``Decimal(18, 2)``,
    rounded half up to the cent; null for an empty cell or a lone dash), ``nombre`` (the exact number as plain text,
    ``-1234.5``, before rounding) and ``erreur`` (null, or why the cell is not an
    amount: not a number, scientific notation, a value that does not fit the
    column's separators, out of ``DECIMAL(18,2)``). ``float_text``: the column holds
    numbers a workbook reader wrote (``1.4210854715202004e-14``): such scientific
    notation is exact there, and rounds to 0.00 or is out of range. ``shortest``: those numbers are known to be the
    shortest decimal form of each double (Python ``repr``, a workbook's number cells): a third decimal within 15
    significant digits (``1234.567``) was typed, an error as in text; only a float's noise (16 or 17 digits) rounds.
    """
    expr = pl.col(column) if isinstance(column, str) else column
    raw = expr.cast(pl.String)
    before = pl.field("avant").str.extract_groups(_BEFORE)
    after = pl.field("apres").str.extract_groups(_AFTER)
    sign_count = pl.sum_horizontal(
        pl.field("b").struct.field("s1").eq("-").fill_null(False).cast(pl.Int8),
        pl.field("b").struct.field("s2").is_not_null().cast(pl.Int8),
        pl.field("b").struct.field("s3").is_not_null().cast(pl.Int8),
        pl.field("b").struct.field("ouvre").is_not_null().cast(pl.Int8),
        pl.field("a").struct.field("s4").is_not_null().cast(pl.Int8),
        pl.field("a").struct.field("s5").is_not_null().cast(pl.Int8),
    )
    # A leading `+` is a sign too: with a minus (`+-5`) the value says two things, and is not an amount.
    plus = pl.field("b").struct.field("s1").eq("+").fill_null(False).cast(pl.Int8)
    multiple = pl.field("a").struct.field("multiple")
    well_formed = (
        pl.field("corps").is_not_null()
        & pl.field("avant").str.contains(_BEFORE)
        & pl.field("apres").str.contains(_AFTER)
        & (pl.field("b").struct.field("ouvre").is_null() == pl.field("a").struct.field("ferme").is_null())
        & ~(multiple.is_in(_NEEDS_CURRENCY).fill_null(False) & pl.field("a").struct.field("devise").is_null())
        & ~(pl.field("a").struct.field("devise").is_not_null() & pl.field("a").struct.field("devise2").is_not_null())
    )
    thousands, decimal = separators.thousands, separators.decimal
    if decimal:
        d = re.escape(decimal)
        integer = pl.field("corps").str.extract(rf"^([^{d}]*)")
        fraction = pl.field("corps").str.extract(rf"{d}([0-9]*)$").fill_null("")
    else:
        integer = pl.field("corps")
        fraction = pl.lit("")
    if thousands:
        integer = integer.str.replace_all(thousands, "", literal=True)
    power = multiple.replace_strict(_POWER, default=0, return_dtype=pl.Int32).fill_null(0)
    shifted_int = pl.field("entier")
    shifted_frac = pl.field("fraction")
    for k in (3, 6, 9):
        padded = pl.field("fraction").str.pad_end(k, "0")
        shifted_int = (
            pl.when(pl.field("puissance") == k).then(pl.field("entier") + padded.str.slice(0, k)).otherwise(shifted_int)
        )
        shifted_frac = pl.when(pl.field("puissance") == k).then(padded.str.slice(k)).otherwise(shifted_frac)
    float_tiny = (
        pl.lit(float_text)
        & pl.field("exposant").str.starts_with("e-").fill_null(False)
        & pl.field("corps").str.contains(r"^[0-9](\.[0-9]+)?$")
    )
    frac2 = pl.field("frac").str.pad_end(3, "0")
    cents = (
        pl.field("int").cast(pl.Int64, strict=False) * 100
        + frac2.str.slice(0, 2).cast(pl.Int64)
        + (frac2.str.slice(2, 1) >= "5").cast(pl.Int64)
    )
    error = (
        pl.when(pl.field("vide"))
        .then(pl.lit(None, pl.String))
        .when(~pl.field("forme"))
        .then(pl.format("not an amount: '{}'", pl.field("brut")))
        .when(pl.field("exposant").is_not_null() & ~pl.field("minuscule") & pl.lit(float_text))
        # A workbook's number written by the reader (repr): exact; repr writes e+ from 1e16 on, out of range.
        .then(pl.format("amount out of DECIMAL(18,2) range: '{}' (an exact number of the workbook)", pl.field("brut")))
        .when(pl.field("exposant").is_not_null() & ~pl.field("minuscule"))
        .then(pl.format("scientific notation '{}': digits were lost, the exact amount is unknown", pl.field("brut")))
        .when(pl.field("brut").str.contains(_IRREGULAR))
        .then(pl.format("irregular grouping '{}': a group of thousands has three digits", pl.field("brut")))
        .when(~pl.field("corps").str.contains(_fits(separators)) & ~pl.field("minuscule"))
        .then(
            pl.format(
                "'{}' does not fit the separators of its column (thousands {}, decimal mark {})",
                pl.field("brut"),
                pl.lit(repr(thousands) if thousands else "none"),
                pl.lit(repr(decimal) if decimal else "none"),
            )
        )
    )
    out_of_range = (
        pl.when((pl.field("int").str.len_chars() > _MAX_DIGITS) | (pl.field("centimes") >= 10 ** (_MAX_DIGITS + 2)))
        .then(pl.format("amount out of DECIMAL(18,2) range: '{}'", pl.field("brut")))
        .otherwise(pl.lit(None, pl.String))
    )
    # A third decimal that is not 0: digits rounding would lose, in text as in a workbook's number known by its
    # shortest decimal form (`shortest`, repr: `1234.567` is what was typed). A binary float's noise
    # (`311029341.88000005`, a sum's, 16 or 17 significant digits) rounds to the cent.
    digits = pl.concat_str(pl.field("int"), pl.field("frac")).str.strip_chars_start("0").str.len_chars()
    too_precise = (
        pl.when(
            (~pl.lit(float_text) | pl.lit(shortest))
            & pl.field("frac").str.slice(2).str.contains("[1-9]")
            & (digits < _FLOAT_DIGITS)
        )
        .then(pl.format("more than two decimals '{}': an amount has at most two decimals", pl.field("brut")))
        .otherwise(pl.lit(None, pl.String))
    )
    negative_text = pl.when(pl.field("negatif")).then(pl.lit("-")).otherwise(pl.lit(""))
    return (
        _shape(expr)
        .struct.with_fields(brut=raw, b=before, a=after)
        .struct.with_fields(
            forme=pl.field("vide") | well_formed.fill_null(False),
            negatif=sign_count > 0,
            signes=sign_count + plus,
            entier=integer,
            fraction=fraction,
            puissance=power,
            minuscule=float_tiny,
        )
        .struct.with_fields(forme=pl.field("forme") & ((pl.field("signes") <= 1) | pl.field("vide")))
        .struct.with_fields(int=shifted_int.str.replace(r"^0+", ""), frac=shifted_frac)
        .struct.with_fields(
            int=pl.when(pl.field("minuscule")).then(pl.lit("")).otherwise(pl.field("int")),
            frac=pl.when(pl.field("minuscule")).then(pl.lit("")).otherwise(pl.field("frac")),
        )
        .struct.with_fields(int=pl.when(pl.field("int") == "").then(pl.lit("0")).otherwise(pl.field("int")))
        .struct.with_fields(centimes=cents)
        .struct.with_fields(erreur_forme=error)
        .struct.with_fields(
            erreur=pl.coalesce(
                pl.field("erreur_forme"),
                pl.when(~pl.field("vide")).then(out_of_range),
                pl.when(~pl.field("vide")).then(too_precise),
            )
        )
        .struct.with_fields(
            nombre=pl.when(pl.field("vide") | pl.field("erreur_forme").is_not_null())
            .then(pl.lit(None, pl.String))
            .otherwise(
                pl.concat_str(
                    negative_text,
                    pl.field("int"),
                    pl.when(pl.field("frac") != "").then(pl.lit(".") + pl.field("frac")).otherwise(pl.lit("")),
                )
            ),
            euros=pl.when(pl.field("vide") | pl.field("erreur").is_not_null())
            .then(pl.lit(None, pl.String))
            .otherwise(
                pl.concat_str(
                    pl.when(pl.field("negatif") & (pl.field("centimes") != 0)).then(pl.lit("-")).otherwise(pl.lit("")),
                    (pl.field("centimes") // 100).cast(pl.String),
                    pl.lit("."),
                    (pl.field("centimes") % 100).cast(pl.String).str.zfill(2),
                )
            )
            .cast(pl.Decimal(18, 2)),
        )
    )


def _plain(separators: Separators) -> str:
    """A value that casts directly: digits, at most one decimal mark (the column's) and two decimals."""
    if separators.decimal:
        return rf"^-?[0-9]{{1,16}}(?:{re.escape(separators.decimal)}[0-9]{{1,2}})?$"
    return r"^-?[0-9]{1,16}$"


#: Joins the cells of a line for :func:`parse_euros_columns`' one pattern (a cell holding it is not plain).
_JOIN = "\x1f"


def _plain_spaced(separators: Separators) -> str:
    """:func:`_plain`'s pattern (unanchored) on a value before its spaces are removed: spaces around the value,
    after its minus, and between groups of three digits (``45 000``; ``4 11 91`` is not plain: an error, found by
    :func:`euros_expr`)."""
    digits = "(?:[0-9]{1,3}(?: +[0-9]{3}){1,4}|[0-9]{1,16})"
    if separators.decimal:
        return rf" *(?:- *)?{digits}(?:{re.escape(separators.decimal)}[0-9]{{1,2}})? *"
    return rf" *(?:- *)?{digits} *"


def _plain_raw(separators: Separators) -> str:
    """:func:`_plain_spaced`, anchored: a value (spaces not removed) that casts directly once they are."""
    return f"^(?:{_plain_spaced(separators)})$"


def parse_euros_column(
    values: pl.Series, separators: Separators, float_text: bool = False, shortest: bool = False
) -> pl.DataFrame:
    """:func:`euros_expr` on a whole column, faster: a frame of ``euros`` and ``erreur``, row for row.

    Plain values (digits, spaces, at most one decimal mark and two decimals) are cast
    directly; the others go through :func:`euros_expr`. Same results either way.
    """
    plain = _plain_raw(separators)
    values = values.cast(pl.String)
    text = values.str.replace_all(" ", "", literal=True)  # spaces between thousands: a value without is the same
    if values.str.contains(plain).fill_null(True).all():  # the common case: plain values only
        return pl.DataFrame(
            {
                "euros": (text.str.replace(",", ".", literal=True) if separators.decimal == "," else text).cast(
                    pl.Decimal(18, 2)
                ),
                "erreur": None,
            },
            schema={"euros": pl.Decimal(18, 2), "erreur": pl.String},
        )
    frame = (
        pl.DataFrame({"v": values, "_c": text})
        .with_row_index("_i")
        .with_columns(_plain=pl.col("v").str.contains(plain).fill_null(True))
    )
    fast = frame.filter(pl.col("_plain")).select(
        "_i",
        euros=pl.when(pl.col("_c") != "")
        .then(pl.col("_c").str.replace(",", ".", literal=True))
        .cast(pl.Decimal(18, 2)),
        erreur=pl.lit(None, pl.String),
    )
    slow = frame.filter(~pl.col("_plain"))
    if not slow.height:
        return fast.drop("_i")
    parsed = (
        slow.lazy()
        .select("_i", _p=euros_expr("v", separators, float_text, shortest))
        .select("_i", euros=pl.col("_p").struct.field("euros"), erreur=pl.col("_p").struct.field("erreur"))
        .collect()
    )
    return pl.concat([fast, parsed]).sort("_i").drop("_i")


def parse_euros_columns(
    frame: pl.DataFrame,
    columns: Mapping[str, tuple[str, Separators]],
    float_text: bool = False,
    plain: set[str] | None = None,
    shortest: bool = False,
) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """:func:`parse_euros_column` on several text columns of ``frame`` at once, in one query where every
    value is plain (the common case).

    ``columns``: output name -> (source column, its separators). Returns a frame of the outputs
    (``Decimal(18, 2)``, row for row) and, for each output some of whose cells do not parse, its
    ``erreur`` column (null where the cell parsed). ``plain``: where given, the outputs whose every cell is
    plain (see :func:`parse_euros_column`: digits, spaces, a minus, the decimal mark and two decimals) are
    added to it.
    """
    if not columns:
        return pl.DataFrame(), {}
    exprs, plains = {}, {}
    for target, (source, separators) in columns.items():
        text = pl.col(source).cast(pl.String).str.replace_all(" ", "", literal=True)
        decimal = text.str.replace(",", ".", literal=True) if separators.decimal == "," else text
        exprs[target] = decimal.cast(pl.Decimal(18, 2), strict=False)
        raw = pl.col(source).cast(pl.String)
        plains[f"{target}__plain"] = raw.str.contains(_plain_raw(separators)).fill_null(True).all()
    # Whether every cell of every column is plain, by one pattern over each line's cells joined (a tenth of the
    # parse's CPU, against a pattern per column); only where some cell is not are the columns looked at one by one.
    # An empty cell (null) is plain: as "0".
    cells = [pl.col(source).cast(pl.String).fill_null("0") for source, _ in columns.values()]
    every = "^" + _JOIN.join(f"(?:{_plain_spaced(s)})" for _, s in columns.values()) + "$"
    joined = pl.concat_str(cells, separator=_JOIN).str.contains(every).all()
    found = frame.lazy().select(**exprs, _tout_simple=joined).collect()
    if not found.height or found["_tout_simple"][0]:
        simple = dict.fromkeys(plains, True)
    else:
        simple = frame.lazy().select(**plains).collect().row(0, named=True)
    parsed, errors = {}, {}
    for target, (source, separators) in columns.items():
        if simple[f"{target}__plain"]:
            parsed[target] = found[target]
            if plain is not None:
                plain.add(target)
            continue
        slow = parse_euros_column(frame[source], separators, float_text, shortest)
        parsed[target] = slow["euros"].alias(target)
        if slow["erreur"].null_count() < slow.height:
            errors[target] = slow["erreur"]
    return pl.DataFrame(parsed, schema=dict.fromkeys(columns, pl.Decimal(18, 2))), errors


def _parse_text(raw: str, separators: Separators, float_text: bool = False) -> tuple[str | None, str | None]:
    """One value under ``separators``: ``(number as plain text, error)``; the rules of :func:`euros_expr`."""
    text = _MINUS_RE.sub("-", _SPACES_RE.sub("", raw)).lower()
    if text in ("", *_PLACEHOLDERS):
        return None, None
    shape = _SHAPE_RE.match(text)
    before = _BEFORE_RE.match(shape.group("avant")) if shape else None
    after = _AFTER_RE.match(shape.group("apres")) if shape else None
    if (
        not shape
        or not before
        or not after
        or (before.group("ouvre") is None) != (after.group("ferme") is None)
        or (after.group("multiple") in _NEEDS_CURRENCY and after.group("devise") is None)
        or (after.group("devise") is not None and after.group("devise2") is not None)
    ):
        return None, f"not an amount: '{raw}'"
    signs = (before.group("s1") == "-") + sum(
        x is not None
        for x in (before.group("s2"), before.group("s3"), before.group("ouvre"), after.group("s4"), after.group("s5"))
    )
    if signs + (before.group("s1") == "+") > 1:  # `+-5`: two signs, as euros_expr
        return None, f"not an amount: '{raw}'"
    body, exponent = shape.group("corps"), shape.group("exposant")
    tiny = float_text and exponent is not None and exponent.startswith("e-") and bool(_TINY_FLOAT.match(body))
    if exponent is not None and not tiny and float_text:
        return None, f"amount out of DECIMAL(18,2) range: '{raw}' (an exact number of the workbook)"
    if exponent is not None and not tiny:
        return None, f"scientific notation '{raw}': digits were lost, the exact amount is unknown"
    if tiny:
        return "0", None
    if _IRREGULAR_RE.search(raw):
        return None, f"irregular grouping '{raw}': a group of thousands has three digits"
    if not re.match(_fits(separators), body):
        return None, (
            f"'{raw}' does not fit the separators of its column (thousands "
            f"{repr(separators.thousands) if separators.thousands else 'none'}, decimal mark "
            f"{repr(separators.decimal) if separators.decimal else 'none'})"
        )
    integer, fraction = body, ""
    if separators.decimal:
        integer, _, fraction = body.partition(separators.decimal)
    if separators.thousands:
        integer = integer.replace(separators.thousands, "")
    power = _POWER.get(after.group("multiple") or "", 0)
    if power:
        padded = fraction.ljust(power, "0")
        integer, fraction = integer + padded[:power], padded[power:]
    integer = integer.lstrip("0") or "0"
    sign = "-" if signs else ""
    number = f"{sign}{integer}.{fraction}" if fraction else f"{sign}{integer}"
    if len(integer) > _MAX_DIGITS:
        return number, f"amount out of DECIMAL(18,2) range: '{raw}'"
    return number, None


def _separators_of(text: str, decimal: str | None = None) -> Separators:
    body = _body(text)
    return decide_separators(_evidence([body] if body else []), default_decimal=decimal)


def parse_amount(value: object, decimal: str | None = None) -> Decimal | None:
    """Parse one published amount into an exact :class:`Decimal`, at full precision.

    The rules of a column of one value (:func:`euros_expr`): ``'1.299,99'`` →
    ``Decimal('1299.99')``; ``'(1 234,50)'`` and ``'1234,50-'`` → ``Decimal('-1234.50')``;
    ``'12,5 M€'`` → ``Decimal('12500000.0')``; ``''``, ``'-'`` and ``None`` → ``None``.
    Raises :class:`AmountError` for text that states no amount (``'n.d.'``, ``'abc'``),
    scientific notation written as text, and a value whose separators nothing decides
    (``'12.500'`` alone). ``decimal``: the decimal mark where the context states it (``','``
    in French prose: ``'1,234 Md€'`` is 1 234 000 000), deciding a lone ambiguous value.
    """
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value)
    number, error = _parse_text(text, _separators_of(text, decimal))
    if number is None and error is not None:
        raise AmountError(error)
    return None if number is None else Decimal(number)


def parse_euros(value: object) -> Decimal | None:
    """Parse an amount in euros rounded to the cent (half up), as stored in ``DECIMAL(18,2)``.

    Binary floats from Excel (``311029341.88000005``) round to the cent. Raises
    :class:`AmountError` as :func:`parse_amount` does, and for an amount too large
    for ``DECIMAL(18,2)``.
    """
    if value is None:
        return None
    numeric = isinstance(value, (Decimal, int, float))
    if numeric:
        value = format(parse_amount(value), "f")
    text = str(value)
    number, error = _parse_text(text, _separators_of(text))
    if error is not None:
        raise AmountError(error)
    if number is None:
        return None
    rounded = Decimal(number).quantize(CENT, rounding=ROUND_HALF_UP)
    significant = len(number.lstrip("-").replace(".", "").lstrip("0"))
    if not numeric and rounded != Decimal(number) and significant < _FLOAT_DIGITS:  # a third decimal would be lost
        raise AmountError(f"more than two decimals '{text}': an amount has at most two decimals")
    if abs(rounded) >= Decimal(10) ** _MAX_DIGITS:
        raise AmountError(f"amount out of DECIMAL(18,2) range: '{text}'")
    return rounded
