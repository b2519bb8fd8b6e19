"""Pandera models of the nomenclature tables (README, "The nomenclature: what each code meant each year"
and "`nomenclature_evenements`"); codes as in GLOSSARY.md."""

import pandera.polars as pa
import polars as pl

from schemas.credits import BUDGET_TYPE_TEXT, BUDGET_TYPES

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
_EXERCICE = {"ge": 2000, "le": 2100, "description": "exercice budgétaire (année)"}


class MissionsModel(pa.DataFrameModel):
    """``missions``: one row per mission and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_mission: str = pa.Field(str_matches=r"^[A-Z]{2}$", description="code de la mission, 2 lettres (TR)")
    libelle_mission: str = pa.Field(nullable=True, description="libellé de l'exercice, nettoyé")
    type_budget: str = pa.Field(nullable=True, isin=BUDGET_TYPES, description=f"type de budget : {BUDGET_TYPE_TEXT}")

    class Config:
        unique = ["exercice", "code_mission"]


class ProgrammesModel(pa.DataFrameModel):
    """``programmes``: one row per programme and exercice, with its mission and ministère."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="code du programme, 3 chiffres (352)")
    libelle_programme: str = pa.Field(
        nullable=True, description="libellé de l'exercice, nettoyé (sans préfixe `352 - `)"
    )
    code_mission: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$", description="sa mission cet exercice")
    code_ministere: str = pa.Field(nullable=True, str_matches=r"^\d{2}$", description="son ministère cet exercice")
    libelle_ministere: str = pa.Field(nullable=True, description="libellé du ministère cet exercice")

    class Config:
        unique = ["exercice", "code_programme"]


class ActionsModel(pa.DataFrameModel):
    """``actions``: one row per action and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="code du programme, 3 chiffres")
    code_action: str = pa.Field(str_matches=r"^\d{2}$", description="code de l'action, 2 chiffres dans son programme")
    libelle_action: str = pa.Field(nullable=True, description="libellé de l'exercice, nettoyé")

    class Config:
        unique = ["exercice", "code_programme", "code_action"]


class SousActionsModel(pa.DataFrameModel):
    """``sous_actions``: one row per sous-action and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="code du programme, 3 chiffres")
    code_action: str = pa.Field(str_matches=r"^\d{2}$", description="code de l'action, 2 chiffres dans son programme")
    code_sous_action: str = pa.Field(
        str_matches=r"^\d{2}$", description="code de la sous-action, 2 chiffres dans son action"
    )
    libelle_sous_action: str = pa.Field(nullable=True, description="libellé de l'exercice, nettoyé")

    class Config:
        unique = ["exercice", "code_programme", "code_action", "code_sous_action"]


class MinisteresModel(pa.DataFrameModel):
    """``ministeres``: one row per ministère and exercice."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    code_ministere: str = pa.Field(str_matches=r"^\d{2}$", description="code du ministère, 2 chiffres")
    libelle_ministere: str = pa.Field(nullable=True, description="libellé de l'exercice")

    class Config:
        unique = ["exercice", "code_ministere"]


class CategoriesModel(pa.DataFrameModel):
    """``categories``: the catégories of the nature nomenclature, with their latest label."""

    code_categorie: str = pa.Field(
        unique=True, str_matches=r"^\d{2}$", description="code de la catégorie, 2 chiffres (31)"
    )
    libelle_categorie: str = pa.Field(nullable=True, description="dernier libellé connu")
    code_titre: str = pa.Field(str_matches=r"^[1-7]$", description="le titre : premier chiffre de la catégorie")


class TitresModel(pa.DataFrameModel):
    """``titres``: the titres 1 to 7, with their latest label."""

    code_titre: str = pa.Field(unique=True, str_matches=r"^[1-7]$", description="titre de dépense, 1 à 7")
    libelle_titre: str = pa.Field(nullable=True, description="dernier libellé connu")


class EvenementsModel(pa.DataFrameModel):
    """``nomenclature_evenements``: what changed between consecutive exercices."""

    exercice: pl.Int16 = pa.Field(**_EXERCICE)
    niveau: str = pa.Field(
        isin=("mission", "programme", "action", "sous_action"),
        description="niveau : mission, programme, action, sous_action",
    )
    code_mission: str = pa.Field(nullable=True, description="la mission de l'élément (niveaux mission et programme)")
    code_programme: str = pa.Field(nullable=True, description="le programme de l'élément")
    code_action: str = pa.Field(nullable=True, description="l'action de l'élément")
    code_sous_action: str = pa.Field(nullable=True, description="la sous-action de l'élément")
    type_evenement: str = pa.Field(isin=EVENT_TYPES, description=f"type d'événement : {', '.join(EVENT_TYPES)}")
    ancien_libelle: str = pa.Field(nullable=True, description="libellé avant")
    nouveau_libelle: str = pa.Field(nullable=True, description="libellé après")
    vers: str = pa.Field(nullable=True, description="code(s) où l'activité est passée (changement_code, transfert…)")
    origine: str = pa.Field(description="`derive` (trouvé en comparant les exercices) ou la source officielle")
    score: float = pa.Field(
        nullable=True, ge=0, le=100, description="similarité des libellés d'un changement_code (0–100)"
    )
