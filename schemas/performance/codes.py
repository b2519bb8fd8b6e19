"""Normalisation of the performance codes: objectives, indicators and sub-indicator ids.

README, "Performance indicators" (``indicateurs``): ``code_indicateur`` is ``P352-1-1`` for a programme's
indicator and ``MTR-1-1`` for a mission's, whatever the source wrote (``P352.1.1``,
``1.1``, ``TR-P352-1-1``, ``MVA.4 (P147.3)`` for an objective); ``code_sous_indicateur``
is the source's numeric id as text (``30157``, not ``30157.0``). Objectives follow the
same form with one number (``P352-1``, ``MTR-1``; GLOSSARY.md, "Performance").
Sources: ``PLF_2019_PAP.csv`` (``P129.1.2``, ``MVA.4 (P147.3)``, ``MEC.2.1``) and
``Performance_Depense.csv`` (``P352-1-1``, ``MAA-1-1``, ``30157.0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.codes import CodeError, normalise_mission, normalise_programme

__all__ = [
    "CodeError",
    "PerformanceCode",
    "normalise_sous_indicateur_id",
    "parse_performance_code",
    "programme_reference",
]

_SEP = r"\s*[.\-]\s*"
_NUMBERS = rf"(?P<numbers>\d+(?:{_SEP}\d+)*)"
# An optional mission prefix (``TR-`` in ``TR-P352-1-1``), then the owner: ``P352`` or ``MTR``.
_OWNED = re.compile(
    rf"^(?:(?P<prefix>[A-Z]{{2}})-)?(?:P\s*0*(?P<programme>\d{{1,3}})|M(?P<mission>[A-Z]{{2}})){_SEP}{_NUMBERS}$"
)
_BARE = re.compile(rf"^{_NUMBERS}$")
_REFERENCE = re.compile(r"^(?P<main>[^()]*?)\s*\((?P<ref>[^()]*)\)\s*$")
_PROGRAMME_REF = re.compile(r"\bP\s*0*(\d{1,3})\b")
_ID = re.compile(r"^0*(\d+)(?:\.0+)?$")


@dataclass(frozen=True)
class PerformanceCode:
    """A parsed objective or indicator code.

    ``owner``: ``'P'`` (a programme's) or ``'M'`` (a mission's); ``code_programme``
    (3 digits) or ``code_mission`` (2 letters) accordingly; ``numbers``: objective,
    then indicator number. ``reference``: the bracketed code after it, if any
    (``MVA.4 (P147.3)`` → ``'P147.3'``).
    """

    owner: str
    code_programme: str | None
    code_mission: str | None
    numbers: tuple[int, ...]
    reference: str | None = None

    @property
    def code(self) -> str:
        """The warehouse form: ``P352-1-1``, ``MTR-1``."""
        head = f"P{self.code_programme}" if self.owner == "P" else f"M{self.code_mission}"
        return "-".join([head, *(str(n) for n in self.numbers)])


def parse_performance_code(
    value: str | None,
    parts: int,
    code_programme: str | None = None,
    code_mission: str | None = None,
) -> PerformanceCode | None:
    """Parse an objective (``parts = 1``) or indicator (``parts = 2``) code.

    ``P352.1``, ``P352-1``, ``TR-P352-1-1``, ``MTR-1-1``, ``MVA.4 (P147.3)``; a bare
    ``1.1`` belongs to ``code_programme`` if given, else to ``code_mission``. Returns
    None for an empty cell; raises :class:`CodeError` for text that is no such code,
    has another number of parts, or a bare code with no owner given.
    """
    if value is None or not str(value).strip():
        return None
    text = " ".join(str(value).split())
    reference = None
    bracketed = _REFERENCE.match(text)
    if bracketed and bracketed.group("main"):
        text, reference = bracketed.group("main"), bracketed.group("ref").strip()
    owned = _OWNED.match(text)
    if owned:
        numbers = tuple(int(n) for n in re.split(_SEP, owned.group("numbers")))
        programme = normalise_programme(owned.group("programme")) if owned.group("programme") else None
        mission = owned.group("mission")
        owner = "P" if programme else "M"
    else:
        bare = _BARE.match(text)
        if not bare:
            raise CodeError(f"not an objective or indicator code: {value!r}")
        if code_programme is None and code_mission is None:
            raise CodeError(f"code {value!r} names no programme or mission, and none is given")
        numbers = tuple(int(n) for n in re.split(_SEP, bare.group("numbers")))
        programme = normalise_programme(code_programme) if code_programme else None
        mission = None if programme else normalise_mission(code_mission)
        owner = "P" if programme else "M"
    if len(numbers) != parts:
        kind = "objective" if parts == 1 else "indicator"
        raise CodeError(f"not an {kind} code ({parts} number(s) expected): {value!r}")
    return PerformanceCode(owner, programme, mission, numbers, reference)


def programme_reference(*texts: str | None) -> str | None:
    """The programme a mission-level row repeats, from its references, as 3 digits.

    ``'(Indicateur du P105)'`` → ``'105'``; ``'P147.3'`` → ``'147'``; None if no text names one.
    """
    for text in texts:
        if text:
            found = _PROGRAMME_REF.search(text)
            if found:
                return normalise_programme(found.group(1))
    return None


def normalise_sous_indicateur_id(value: str | None) -> str | None:
    """A sub-indicator's numeric id as text: ``'30157.0'``, ``'30157'`` → ``'30157'``; empty → None.

    Raises :class:`CodeError` for anything that is not a whole number.
    """
    if value is None or not str(value).strip():
        return None
    match = _ID.match(str(value).strip())
    if not match:
        raise CodeError(f"not a sub-indicator id: {value!r}")
    return match.group(1)
