"""The published tables' metadata, in one place: model, primary key, foreign keys, units.

The list of tables is ``assets/publish.py`` ``PUBLISHED`` (the tests check both agree);
column descriptions come from the Pandera models (``schemas/``, ``pa.Field(description=...)``),
and, for the few columns a table holds beyond its model, from :data:`EXTRA_DESCRIPTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.polars as pa

from schemas import nomenclature as nomenclature_models
from schemas.couverture import CouvertureModel
from schemas.credits import BUSINESS_KEY, CreditsModel
from schemas.documents.models import DeclarationsModel, DocumentsModel, RapprochementsModel
from schemas.ecarts import EcartsModel
from schemas.performance.models import (
    IndicateurAtteintesPublieesModel,
    IndicateurCorrespondancesModel,
    IndicateurFichiersModel,
    IndicateursModel,
    IndicateurValeursModel,
    UnitesModel,
)
from schemas.sources import SourcesModel

__all__ = ["EURO", "EXTRA_DESCRIPTIONS", "TABLES", "ForeignKey", "TableMeta", "column_description", "column_unit"]

EURO = "euros"
#: The unit of a value that is in its indicator's unit (``indicateurs.unite``).
INDICATOR_UNIT = "unité de l'indicateur (indicateurs.unite)"
_INDICATOR = ["document", "niveau", "code_mission", "code_programme", "code_sous_indicateur"]


@dataclass(frozen=True)
class ForeignKey:
    """``fields`` of this table reference ``reference`` (same names) of table ``table``."""

    fields: tuple[str, ...]
    table: str
    reference: tuple[str, ...] | None = None

    @property
    def reference_fields(self) -> tuple[str, ...]:
        return self.reference or self.fields


@dataclass(frozen=True)
class TableMeta:
    """A published table: its title (French), model, primary key (empty: none natural) and foreign keys."""

    title: str
    model: type[pa.DataFrameModel]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    units: dict[str, str] = field(default_factory=dict)

    @property
    def key_is_primary(self) -> bool:
        """Whether ``primary_key`` is a Table Schema ``primaryKey``: no field of it may be null (its Pandera
        model says so). Table Schema makes every ``primaryKey`` field required (no null); a key with a field
        that may be null (``credits.code_sous_action``, ``couverture.document``...) is published as a
        ``uniqueKeys`` entry instead, whose uniqueness leaves out the rows with a null in it (as in SQL)."""
        columns = self.model.to_schema().columns
        return all(not columns[c].nullable for c in self.primary_key)


def _fk(fields: str, table: str, reference: str | None = None) -> ForeignKey:
    return ForeignKey(tuple(fields.split()), table, tuple(reference.split()) if reference else None)


_MONEY = {"ae": EURO, "cp": EURO, "ae_fdc_adp": EURO, "cp_fdc_adp": EURO}
_SOURCE = _fk("source_id", "sources")

TABLES: dict[str, TableMeta] = {
    "credits": TableMeta(
        "Crédits (AE et CP) par destination et par nature",
        CreditsModel,
        tuple(BUSINESS_KEY),
        (
            _fk("exercice code_mission", "missions"),
            _fk("exercice code_programme", "programmes"),
            _fk("exercice code_programme code_action", "actions"),
            _fk("code_categorie", "categories"),
            _fk("code_titre", "titres"),
            _SOURCE,
        ),
        _MONEY,
    ),
    "sources": TableMeta("Provenance : les fichiers sources lus", SourcesModel, ("source_id",)),
    "missions": TableMeta("Missions, par exercice", nomenclature_models.MissionsModel, ("exercice", "code_mission")),
    "programmes": TableMeta(
        "Programmes, par exercice",
        nomenclature_models.ProgrammesModel,
        ("exercice", "code_programme"),
        (_fk("exercice code_mission", "missions"), _fk("exercice code_ministere", "ministeres")),
    ),
    "actions": TableMeta(
        "Actions, par exercice",
        nomenclature_models.ActionsModel,
        ("exercice", "code_programme", "code_action"),
        (_fk("exercice code_programme", "programmes"),),
    ),
    "sous_actions": TableMeta(
        "Sous-actions, par exercice",
        nomenclature_models.SousActionsModel,
        ("exercice", "code_programme", "code_action", "code_sous_action"),
        (_fk("exercice code_programme code_action", "actions"),),
    ),
    "ministeres": TableMeta(
        "Ministères, par exercice", nomenclature_models.MinisteresModel, ("exercice", "code_ministere")
    ),
    "categories": TableMeta(
        "Catégories de dépense (nomenclature par nature)",
        nomenclature_models.CategoriesModel,
        ("code_categorie",),
        (_fk("code_titre", "titres"),),
    ),
    "titres": TableMeta(
        "Titres de dépense (nomenclature par nature)", nomenclature_models.TitresModel, ("code_titre",)
    ),
    "nomenclature_evenements": TableMeta(
        "Évènements de la nomenclature d'un exercice à l'autre", nomenclature_models.EvenementsModel
    ),
    "indicateurs": TableMeta("Indicateurs de performance (PAP, RAP)", IndicateursModel, tuple(_INDICATOR)),
    "indicateur_valeurs": TableMeta(
        "Valeurs des indicateurs de performance",
        IndicateurValeursModel,
        (*_INDICATOR, "annee", "type_valeur"),
        (ForeignKey(tuple(_INDICATOR), "indicateurs"), _SOURCE),
        {"valeur": INDICATOR_UNIT, "valeur_min": INDICATOR_UNIT, "valeur_max": INDICATOR_UNIT},
    ),
    "indicateur_atteintes_publiees": TableMeta(
        "Atteinte des cibles, telle que publiée",
        IndicateurAtteintesPublieesModel,
        (*_INDICATOR, "annee"),
        (ForeignKey(tuple(_INDICATOR), "indicateurs"),),
    ),
    "indicateur_correspondances": TableMeta(
        "Correspondances des sous-indicateurs d'un document à l'autre",
        IndicateurCorrespondancesModel,
        tuple(
            f"{c}_{side}"
            for side in ("a", "b")
            for c in ("document", "niveau", "code_mission", "code_programme", "code_sous_indicateur")
        ),
    ),
    "unites": TableMeta("Unités des indicateurs", UnitesModel, ("unite",)),
    "indicateur_fichiers": TableMeta(
        "Fichiers de performance lus", IndicateurFichiersModel, ("source_id",), (_SOURCE,)
    ),
    "documents": TableMeta(
        "Documents lus (PAP, RAP, commentaires)",
        DocumentsModel,
        ("document", "code_programme", "source_id"),
        (_SOURCE,),
    ),
    "declarations": TableMeta(
        "Chiffres déclarés par les documents",
        DeclarationsModel,
        ("document", "code_programme", "source_id", "debut", "grandeur"),
        (_fk("document code_programme source_id", "documents"),),
        {"valeur": "euros, ou l'unité de la colonne unite", "precision": "euros, ou l'unité de la colonne unite"},
    ),
    "rapprochements": TableMeta(
        "Chiffres déclarés rapprochés des données",
        RapprochementsModel,
        ("document", "code_programme", "source_id", "debut", "grandeur"),
        (),
        {"valeur_declaree": EURO, "valeur_donnees": EURO, "ecart": EURO, "precision": EURO},
    ),
    "ecarts_sources": TableMeta("Écarts entre les sources officielles", EcartsModel, (), (), {"ecart": EURO}),
    "couverture": TableMeta(
        "Couverture : ce que l'entrepôt contient et ce qui lui manque",
        CouvertureModel,
        ("domaine", "document", "phase", "type_budget", "exercice"),
    ),
}

#: Descriptions of the columns a table holds beyond its Pandera model.
EXTRA_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "sources": {
        "type_fichier": "type de fichier reconnu à son contenu (csv, xlsx, …)",
        "encodage": "encodage du texte lu (CSV)",
        "exercice": "exercice du fichier, s'il en a un",
        "phases": "phases que le fichier contient",
        "role": "rôle du fichier : A (source faisant autorité, chargée), W (témoin, comparé), ou A+W",
        "roles": "rôle par phase et type de budget (`LFI/BG:A`)",
        "lignes_ecartees_par_motif": "lignes de données écartées, par motif",
        "montants_vides": "lignes dont un montant était vide (compté 0)",
        "titres_corriges": "lignes dont le titre publié n'est pas le premier chiffre de la catégorie",
        "controle_totaux": "`ok`, ou chaque ligne de total qui diffère de la somme des lignes qu'elle totalise",
        "entete": "l'en-tête du fichier tel que lu",
    }
}


def column_description(table: str, column: str) -> str | None:
    """The description of ``table.column``: its Pandera model's, else :data:`EXTRA_DESCRIPTIONS`'."""
    columns = TABLES[table].model.to_schema().columns
    if column in columns and columns[column].description:
        return columns[column].description
    return EXTRA_DESCRIPTIONS.get(table, {}).get(column)


def column_unit(table: str, column: str) -> str | None:
    """The unit of ``table.column`` (``euros`` for amounts), or None when it has none."""
    return TABLES[table].units.get(column)
