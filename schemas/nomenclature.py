"""Pandera models of the nomenclature tables (CONTRACT.md, "missions, programmes, actions,
sous_actions" and "nomenclature_evenements"); codes as in GLOSSARY.md."""

import pandera.polars as pa
import polars as pl

__all__ = [
    "ActionsModel",
    "CategoriesModel",
    "EVENT_TYPES",
    "EvenementsModel",
    "MinisteresModel",
    "MissionsModel",
    "ProgrammesModel",
    "SousActionsModel",
    "TitresModel",
]

EVENT_TYPES = (
    "creation",
    "suppression",
    "renommage",
    "changement_code",
    "changement_mission",
    "transfert",
    "fusion",
    "scission",
)
_EXERCICE = {"ge": 2000, "le": 2100, "description": "fiscal year"}


class MissionsModel(pa.DataFrameModel):
    """``missions``: one row per mission and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_mission: str = pa.Field(str_matches=r"^[A-Z]{2}$", description="2 letters, e.g. TR")
    libelle_mission: str = pa.Field(nullable=True, description="label that year, cleaned")
    type_budget: str = pa.Field(nullable=True, isin=("BG", "BA", "CAS", "CCF", "CS"), description="BG, BA, CAS, CCF")

    class Config:
        unique = ["exercice", "code_mission"]


class ProgrammesModel(pa.DataFrameModel):
    """``programmes``: one row per programme and exercice, with its mission and ministère."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="3 digits, e.g. 352")
    libelle_programme: str = pa.Field(nullable=True, description="label that year, cleaned (no `352 - ` prefix)")
    code_mission: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$", description="its mission that year")
    code_ministere: str = pa.Field(nullable=True, str_matches=r"^\d{2}$", description="its ministère that year")
    libelle_ministere: str = pa.Field(nullable=True, description="label of the ministère that year")

    class Config:
        unique = ["exercice", "code_programme"]


class ActionsModel(pa.DataFrameModel):
    """``actions``: one row per action and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="3 digits")
    code_action: str = pa.Field(str_matches=r"^\d{2}$", description="2 digits within its programme")
    libelle_action: str = pa.Field(nullable=True, description="label that year, cleaned")

    class Config:
        unique = ["exercice", "code_programme", "code_action"]


class SousActionsModel(pa.DataFrameModel):
    """``sous_actions``: one row per sous-action and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="3 digits")
    code_action: str = pa.Field(str_matches=r"^\d{2}$", description="2 digits within its programme")
    code_sous_action: str = pa.Field(str_matches=r"^\d{2}$", description="2 digits within its action")
    libelle_sous_action: str = pa.Field(nullable=True, description="label that year, cleaned")

    class Config:
        unique = ["exercice", "code_programme", "code_action", "code_sous_action"]


class MinisteresModel(pa.DataFrameModel):
    """``ministeres``: one row per ministère and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_ministere: str = pa.Field(str_matches=r"^\d{2}$", description="2 digits")
    libelle_ministere: str = pa.Field(nullable=True, description="label that year")

    class Config:
        unique = ["exercice", "code_ministere"]


class CategoriesModel(pa.DataFrameModel):
    """``categories``: the catégories of the nature nomenclature, with their latest label."""

    code_categorie: str = pa.Field(unique=True, str_matches=r"^\d{2}$", description="2 digits, e.g. 31")
    libelle_categorie: str = pa.Field(nullable=True, description="latest label")
    code_titre: str = pa.Field(str_matches=r"^[1-7]$", description="the titre: first digit of the catégorie")


class TitresModel(pa.DataFrameModel):
    """``titres``: the titres 1 to 7, with their latest label."""

    code_titre: str = pa.Field(unique=True, str_matches=r"^[1-7]$", description="1 to 7")
    libelle_titre: str = pa.Field(nullable=True, description="latest label")


class EvenementsModel(pa.DataFrameModel):
    """``nomenclature_evenements``: what changed between consecutive exercices."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    niveau: str = pa.Field(isin=("mission", "programme", "action", "sous_action"), description="level")
    code_mission: str = pa.Field(nullable=True, description="the element's mission (mission and programme levels)")
    code_programme: str = pa.Field(nullable=True, description="the element's programme")
    code_action: str = pa.Field(nullable=True, description="the element's action")
    code_sous_action: str = pa.Field(nullable=True, description="the element's sous-action")
    type_evenement: str = pa.Field(isin=EVENT_TYPES, description="creation, suppression, renommage, …")
    ancien_libelle: str = pa.Field(nullable=True, description="label before")
    nouveau_libelle: str = pa.Field(nullable=True, description="label after")
    vers: str = pa.Field(nullable=True, description="code(s) the work went to (changement_code, transfert…)")
    origine: str = pa.Field(description="`derive` (found by comparing years) or the official source")
    score: float = pa.Field(nullable=True, ge=0, le=100, description="label similarity of a changement_code")
