"""The release's static page: ``<release>/site/index.html`` (issue 10, item 5).

One HTML file and the plotting library beside it (``site/plotly.min.js``, from the ``plotly``
package): no server, no network. It opens from the file system (``file://``) and from any
static host, and every link is relative to the page (``../parquet/credits.parquet``,
``../budget.duckdb``, ``../datapackage.json``).

The page holds, in French:

- the files of the release with their row counts, sha256 and download links (from
  ``manifest.json``), and the data dictionary (``dictionnaire.md``) and changelog
  (``changelog.md``) when the release has them, rendered from Markdown with raw HTML escaped;
- the coverage grid (table ``couverture``);
- charts (Plotly, embedded): AE and CP by mission per exercice and phase; a programme's history
  across the transfers of ``nomenclature_evenements`` (programme 352, then action 129-16);
  execution against the vote (view ``execution_credits``) where both phases exist, else a
  message saying so; an indicator's realisations and targets (sub-indicator 30157); the
  disagreements between sources (``ecarts_sources``) as counts per rule and a table of rows.

Every text cell goes through :func:`warehouse.reading.escaping.escape_html`. Amounts are read as
``DECIMAL(18,2)`` and shown in the tables exactly; the charts take them as floats (a display,
15 significant digits, never written back).
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

import duckdb
import plotly
import plotly.graph_objects as go
import plotly.io as pio
from markdown_it import MarkdownIt

from warehouse.reading.escaping import escape_html
from warehouse.store import MEMORY_LIMIT

__all__ = ["DEFAULT_INDICATOR", "DEFAULT_PROGRAMME", "SITE", "render_markdown", "write_site"]

SITE = "site"
PAGE = "index.html"
PLOTLY_JS = "plotly.min.js"
DEFAULT_PROGRAMME = "352"
#: Sub-indicator of programme 352 shown by default (``indicateur_valeurs.code_sous_indicateur``).
DEFAULT_INDICATOR = "30157"
#: Rows of ``ecarts_sources`` written into the page; the whole table is in the downloads.
MAX_DISAGREEMENT_ROWS = 300
#: Release files linked from the page when present (beside ``manifest.json``).
RELEASE_DOCUMENTS = {
    "datapackage.json": "Data Package (Frictionless) : schémas, licence, sources",
    "dictionnaire.md": "Dictionnaire des données (Markdown)",
    "changelog.md": "Journal des changements (Markdown)",
    "changelog.json": "Journal des changements (JSON)",
    "manifest.json": "Manifeste : fichiers, sha256, lignes, sources",
}
VALUE_TYPES = {"realisation": "réalisation", "prevision": "prévision", "prevision_actualisee": "prévision actualisée"}
PHASE_ORDER = ["PLF", "AMD", "LFI", "LFR", "EXEC"]
BILLION = Decimal(1_000_000_000)
MILLION = Decimal(1_000_000)
AMOUNT_AXIS = "milliards d'euros"


def write_site(release: Path) -> Path:
    """Write ``<release>/site/index.html`` and ``site/plotly.min.js``; return the page's path.

    ``release``: a release folder (or the working folder of one) holding ``budget.duckdb`` and
    ``manifest.json``; ``datapackage.json``, ``dictionnaire.md`` and ``changelog.md`` are shown
    when present. Reads the database read-only. Raises ``FileNotFoundError`` when the database
    or the manifest is missing.
    """
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    site = release / SITE
    site.mkdir(exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / PLOTLY_JS, site / PLOTLY_JS)
    with duckdb.connect(
        str(release / "budget.duckdb"), read_only=True, config={"memory_limit": MEMORY_LIMIT}
    ) as connection:
        sections = [
            _files_section(release, manifest),
            _markdown_section(release / "dictionnaire.md", "dictionnaire", "Dictionnaire des données")
            or _columns_section(connection, manifest),
            _markdown_section(release / "changelog.md", "changements", "Changements depuis la version précédente"),
            _coverage_section(connection),
            _missions_section(connection),
            _history_section(connection, DEFAULT_PROGRAMME),
            _execution_section(connection),
            _indicator_section(connection, DEFAULT_INDICATOR),
            _disagreements_section(connection),
        ]
    page = site / PAGE
    page.write_text(_page(manifest, [s for s in sections if s]), encoding="utf-8")
    return page


# --- the page ---------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 2rem;color:#1e1e1e}
h1{color:#000091}h2{border-bottom:2px solid #000091;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.sha{font-family:ui-monospace,monospace;font-size:.8rem;word-break:break-all}
.present{background:#d8f3dc}.absent{background:#ffe5d9}.en_erreur{background:#ffb3b3}
.graphique{min-height:450px;border:1px solid #eee;margin:.5rem 0}
.message{padding:1.5rem;background:#fff4d6;border:1px solid #e0b000;margin:.5rem 0;font-size:1.05rem}
nav a{margin-right:1rem}
.markdown h1,.markdown h2,.markdown h3{border:none;font-size:1.15rem;margin-top:1.2rem}
.defilement{max-height:480px;overflow:auto}
"""


def _page(manifest: dict, sections: Sequence[str]) -> str:
    version = escape_html(manifest.get("version"))
    return f"""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Entrepôt du budget de l'État : version {version}</title>
<style>{_STYLE}</style>
<script src="{PLOTLY_JS}"></script>
</head>
<body>
<h1>Entrepôt du budget de l'État</h1>
<p>Version <strong>{version}</strong>, publiée le {escape_html(manifest.get("created"))}.
Empreinte du contenu (sha256) : <code>{escape_html(manifest.get("content_sha256"))}</code>.
Version précédente : {escape_html(manifest.get("previous") or "aucune")}.</p>
<p>Crédits (autorisations d'engagement, AE, et crédits de paiement, CP) en euros, nomenclature,
indicateurs de performance, couverture et écarts entre sources officielles, sous
Licence Ouverte 2.0.</p>
<nav><a href="#fichiers">Fichiers</a><a href="#dictionnaire">Dictionnaire</a><a href="#couverture">Couverture</a>
<a href="#missions">Missions</a>
<a href="#historique">Historique d'un programme</a><a href="#execution">Exécution</a>
<a href="#indicateur">Indicateur</a><a href="#ecarts">Écarts entre sources</a></nav>
{"".join(sections)}
</body>
</html>
"""


def _section(anchor: str, title: str, body: str) -> str:
    return f'\n<section id="{escape_html(anchor)}">\n<h2>{escape_html(title)}</h2>\n{body}\n</section>\n'


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """An HTML table; every cell escaped; columns at ``numeric`` right-aligned."""
    head = "".join(f"<th>{escape_html(h)}</th>" for h in headers)
    lines = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{_number(v)}</td>' if i in numeric else f"<td>{escape_html(v)}</td>"
            for i, v in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _number(value: object) -> str:
    """A number in French notation (thin spaces between thousands, decimal comma), escaped."""
    if value is None:
        return ""
    if isinstance(value, Decimal | int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    else:
        return escape_html(value)
    return escape_html(text.replace(",", "\u202f").replace(".", ","))


def render_markdown(text: str) -> str:
    """``text`` (CommonMark with tables) as HTML; raw HTML in it is escaped, unsafe links refused."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def _markdown_section(path: Path, anchor: str, title: str) -> str:
    if not path.is_file():
        return ""
    link = f'<p>Fichier : <a href="../{escape_html(path.name)}">{escape_html(path.name)}</a></p>'
    body = render_markdown(path.read_text(encoding="utf-8"))
    return _section(anchor, title, f'{link}<div class="markdown">{body}</div>')


#: The layout every chart gets, beside the ``plotly_white`` template.
_LAYOUT = {"margin": {"t": 60, "r": 20, "b": 60, "l": 80}, "separators": ", ", "height": 450}  # Plotly's order


@functools.cache
def _white_template() -> dict:
    """Plotly's ``plotly_white`` template as a figure's JSON holds it (the same keys in the same order), built
    once, by a bare layout: setting a template on a figure (``update_layout(template=...)``) copies and checks
    its thousand properties, each time (0.1 s, ten times the layout's)."""
    return go.Layout(template="plotly_white").to_plotly_json()["template"]


def _figure(figure: go.Figure, div_id: str) -> str:
    """The chart ``figure`` as an HTML ``div``, with the ``plotly_white`` template and :data:`_LAYOUT`: the
    figure's JSON with the template put in place of the default one (first in the layout, where Plotly puts
    it), then written without a second check of what Plotly checked as the figure was built."""
    spec = figure.to_dict()
    spec["layout"]["template"] = _white_template()
    spec["layout"].update(copy.deepcopy(_LAYOUT))
    inner = pio.to_html(
        spec,
        validate=False,
        full_html=False,
        include_plotlyjs=False,
        div_id=f"trace-{div_id}",
        config={"displaylogo": False},
    )
    return f'<div class="graphique" id="graphique-{escape_html(div_id)}">{inner}</div>'


def _message(text: str) -> str:
    return f'<div class="message graphique-vide">{escape_html(text)}</div>'


def _billions(value: Decimal | None, unit: Decimal = BILLION) -> float | None:
    """Euros as milliards (or ``unit``) d'euros, for a chart's axis (the tables keep the exact figure)."""
    return None if value is None else float(value / unit)


# --- files and coverage -----------------------------------------------------------------------


def _files_section(release: Path, manifest: dict) -> str:
    rows = [
        (f["path"], f.get("rows"), f.get("bytes"), f["sha256"])
        for f in sorted(manifest.get("files", []), key=lambda f: f["path"])
    ]
    lines = "".join(
        f'<tr><td><a href="../{escape_html(path)}" download>{escape_html(path)}</a></td>'
        f'<td class="n">{_number(count)}</td><td class="n">{_number(size)}</td>'
        f'<td class="sha">{escape_html(sha)}</td></tr>'
        for path, count, size, sha in rows
    )
    head = "".join(f"<th>{h}</th>" for h in ("fichier", "lignes", "octets", "sha256"))
    files = f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"
    documents = "".join(
        f'<li><a href="../{escape_html(name)}">{escape_html(name)}</a> : {escape_html(label)}</li>'
        for name, label in RELEASE_DOCUMENTS.items()
        if (release / name).is_file()
    )
    body = (
        "<p>Chaque table est un fichier Parquet ; la base DuckDB les contient toutes. "
        "Vérifier un fichier : <code>sha256sum credits.parquet</code>.</p>"
        f"<ul>{documents}</ul>{files}"
    )
    return _section("fichiers", "Fichiers et sommes de contrôle", body)


def _coverage_section(connection: duckdb.DuckDBPyConnection) -> str:
    rows = connection.execute(
        """SELECT domaine, exercice, statut, lignes,
                  coalesce(phase || ' ' || type_budget, phase, regexp_extract(document, '^\\S+'), '?') AS serie
           FROM couverture ORDER BY domaine, serie, exercice"""
    ).fetchall()
    years = sorted({r[1] for r in rows})
    series: dict[tuple[str, str], dict[int, tuple[str, int | None]]] = {}
    for domaine, exercice, statut, lignes, serie in rows:
        series.setdefault((domaine, serie), {})[exercice] = (statut, lignes)
    head = "".join(f"<th>{escape_html(y)}</th>" for y in years)
    body = []
    for (domaine, serie), cells in series.items():
        tds = []
        for year in years:
            statut, lignes = cells.get(year, (None, None))
            label = {"present": "présent", "absent": "absent", "en_erreur": "en erreur"}.get(statut, "")
            count = f"<br>{_number(lignes)} l." if statut == "present" and lignes is not None else ""
            tds.append(f'<td class="{escape_html(statut or "")}">{escape_html(label)}{count}</td>')
        body.append(f"<tr><th>{escape_html(domaine)}</th><th>{escape_html(serie)}</th>{''.join(tds)}</tr>")
    grid = f"<table><thead><tr><th>domaine</th><th>série</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    text = (
        "<p>Pour les crédits, une ligne par phase et type de budget ; pour la performance, une ligne par "
        "type de document (PAP, RAP). « absent » : le document manque dans la série ; rien n'est comblé.</p>"
    )
    return _section("couverture", "Couverture", text + grid)


# --- charts -----------------------------------------------------------------------------------


def _missions_section(connection: duckdb.DuckDBPyConnection) -> str:
    rows = connection.execute(
        """SELECT c.exercice, c.phase, coalesce(c.code_mission, '(sans mission)') AS mission,
                  any_value(m.libelle_mission) AS libelle, sum(c.ae) AS ae, sum(c.cp) AS cp
           FROM credits c LEFT JOIN missions m
             ON m.exercice = c.exercice AND m.code_mission = c.code_mission
           GROUP BY ALL ORDER BY c.exercice, c.phase, mission"""
    ).fetchall()
    keys = sorted({(r[0], r[1]) for r in rows}, key=lambda k: (k[0], _phase_rank(k[1])))
    if not keys:
        return _section("missions", "AE et CP par mission", _message("La table credits est vide."))
    figure = go.Figure()
    for index, (exercice, phase) in enumerate(keys):
        chosen = [r for r in rows if (r[0], r[1]) == (exercice, phase)]
        for column, name in ((4, "AE"), (5, "CP")):
            figure.add_bar(
                x=[r[2] for r in chosen],
                y=[_billions(r[column]) for r in chosen],
                name=name,
                hovertext=[r[3] or "" for r in chosen],
                visible=index == len(keys) - 1,
            )
    buttons = [
        {
            "label": f"{exercice} {phase}",
            "method": "update",
            "args": [
                {"visible": [i // 2 == index for i in range(2 * len(keys))]},
                {"title": {"text": f"AE et CP par mission : {exercice}, {phase}"}},
            ],
        }
        for index, (exercice, phase) in enumerate(keys)
    ]
    last = keys[-1]
    figure.update_layout(
        title={"text": f"AE et CP par mission : {last[0]}, {last[1]}"},
        barmode="group",
        yaxis_title=AMOUNT_AXIS,
        xaxis_title="mission",
        updatemenus=[{"buttons": buttons, "active": len(keys) - 1, "x": 1, "y": 1.18, "xanchor": "right"}],
    )
    text = "<p>Choisir l'exercice et la phase dans la liste. Survoler une barre donne le libellé de la mission.</p>"
    return _section("missions", "AE et CP par mission, par exercice et phase", text + _figure(figure, "missions"))


def _phase_rank(phase: str) -> int:
    return PHASE_ORDER.index(phase) if phase in PHASE_ORDER else len(PHASE_ORDER)


def programme_lineage(connection: duckdb.DuckDBPyConnection, code_programme: str) -> list[tuple[str, int | None]]:
    """The elements a programme's work went to, in order: ``[(element, first year), ...]``.

    Starts with ``(code_programme, None)``; follows the ``transfert``, ``changement_code`` and
    ``fusion`` events of ``nomenclature_evenements`` (``vers``: ``129`` or ``129-16``, the
    first code when several), at most 5 steps. ``352`` gives ``[("352", None), ("129-16", 2025)]``.
    """
    lineage: list[tuple[str, int | None]] = [(code_programme, None)]
    current = code_programme
    for _ in range(5):
        event = connection.execute(
            """SELECT vers, exercice FROM nomenclature_evenements
               WHERE niveau = 'programme' AND code_programme = ? AND vers IS NOT NULL
                 AND type_evenement IN ('transfert', 'changement_code', 'fusion')
               ORDER BY exercice LIMIT 1""",
            [current.split("-")[0]],
        ).fetchone()
        if event is None or "-" in current:
            break
        target = event[0].split(",")[0].strip()
        if any(element == target for element, _ in lineage):
            break
        lineage.append((target, event[1]))
        current = target
    return lineage


def _element_credits(connection: duckdb.DuckDBPyConnection, element: str, since: int | None) -> list[tuple]:
    programme, _, action = element.partition("-")
    return connection.execute(
        """SELECT exercice, phase, sum(ae), sum(cp) FROM credits
           WHERE code_programme = ? AND (? = '' OR code_action = ?) AND (? IS NULL OR exercice >= ?)
           GROUP BY ALL ORDER BY exercice""",
        [programme, action, action, since, since],
    ).fetchall()


def _history_section(connection: duckdb.DuckDBPyConnection, code_programme: str) -> str:
    lineage = programme_lineage(connection, code_programme)
    figure = go.Figure()
    notes = []
    for element, since in lineage:
        rows = _element_credits(connection, element, since)
        kind = "action" if "-" in element else "programme"
        notes.append(f"{kind} {element}" + (f" à partir de {since}" if since else ""))
        for phase in sorted({r[1] for r in rows}, key=_phase_rank):
            chosen = [r for r in rows if r[1] == phase]
            for column, name in ((2, "AE"), (3, "CP")):
                figure.add_scatter(
                    x=[r[0] for r in chosen],
                    y=[_billions(r[column], MILLION) for r in chosen],
                    mode="lines+markers",
                    name=f"{element} {phase} {name}",
                )
    if not figure.data:
        return _section(
            "historique", "Historique d'un programme", _message(f"Aucun crédit pour le programme {code_programme}.")
        )
    figure.update_layout(
        title={"text": "Programme " + " puis ".join(e for e, _ in lineage)},
        xaxis={"title": "exercice", "dtick": 1},
        yaxis_title="millions d'euros",
    )
    events = connection.execute(
        """SELECT exercice, type_evenement, code_programme, vers, origine FROM nomenclature_evenements
           WHERE code_programme IN (SELECT unnest(?)) AND niveau = 'programme' ORDER BY exercice""",
        [[e.split("-")[0] for e, _ in lineage]],
    ).fetchall()
    text = f"<p>Suivi à travers les renommages et transferts de la nomenclature : {escape_html(', '.join(notes))}.</p>"
    table = _table(["exercice", "événement", "programme", "vers", "origine"], events) if events else ""
    return _section("historique", "Historique d'un programme", text + _figure(figure, "historique") + table)


def _execution_section(connection: duckdb.DuckDBPyConnection) -> str:
    rows = connection.execute(
        """SELECT exercice, any_value(phase_reference), sum(ae_vote), sum(ae_execute), sum(cp_vote), sum(cp_execute)
           FROM execution_credits
           WHERE ae_vote IS NOT NULL AND ae_execute IS NOT NULL
           GROUP BY exercice ORDER BY exercice"""
    ).fetchall()
    phases = connection.execute(
        "SELECT phase, list(DISTINCT exercice ORDER BY exercice) FROM credits GROUP BY phase ORDER BY phase"
    ).fetchall()
    held = " ; ".join(f"{phase} : {', '.join(str(y) for y in years)}" for phase, years in phases) or "aucune"
    title = "Exécution et vote"
    if not rows:
        return _section(
            "execution",
            title,
            _message(
                "Aucun exercice n'a à la fois le vote (LFI, ou PLF à défaut) et l'exécution dans cette version : "
                f"la comparaison n'est pas possible. Phases présentes par exercice : {held}."
            ),
        )
    figure = go.Figure()
    labels = [f"{r[0]} ({r[1]})" for r in rows]
    # The reference is the vote (LFI) or, where the exercice has none, the bill (PLF): "prévues", not "votées".
    for column, name in ((2, "AE prévues"), (3, "AE exécutées"), (4, "CP prévus"), (5, "CP exécutés")):
        figure.add_bar(x=labels, y=[_billions(r[column]) for r in rows], name=name)
    figure.update_layout(
        title={"text": "Exécution et vote, lignes présentes des deux côtés"}, barmode="group", yaxis_title=AMOUNT_AXIS
    )
    table = _table(
        ["exercice", "référence", "AE prévues", "AE exécutées", "CP prévus", "CP exécutés"], rows, numeric=(2, 3, 4, 5)
    )
    text = (
        "<p>Somme des lignes (programme, action) présentes à la référence et à l'exécution ; la référence est la "
        "loi votée (LFI), ou à défaut le projet de loi (PLF), qui n'est pas un vote. "
        f"Phases présentes : {escape_html(held)}.</p>"
    )
    return _section("execution", title, text + _figure(figure, "execution") + table)


def _sub_indicators(connection: duckdb.DuckDBPyConnection, code_sous_indicateur: str) -> list[tuple]:
    """``code_sous_indicateur`` first, then the other sub-indicators of its programme with 2 numbers or more.

    Rows ``(code_sous_indicateur, code_programme, code_indicateur, libelle_indicateur,
    libelle_sous_indicateur, unite)``, the labels of the latest document; ``[]`` when it is unknown.
    """
    return connection.execute(
        """WITH chosen AS (SELECT any_value(code_programme) AS code_programme FROM indicateurs
                          WHERE code_sous_indicateur = ?),
                numbers AS (SELECT code_sous_indicateur FROM indicateur_valeurs
                            WHERE coalesce(valeur, valeur_max, valeur_min) IS NOT NULL
                            GROUP BY ALL HAVING count(*) >= 2)
           SELECT code_sous_indicateur, arg_max(code_programme, document), arg_max(code_indicateur, document),
                  arg_max(libelle_indicateur, document), arg_max(libelle_sous_indicateur, document),
                  arg_max(unite, document)
           FROM indicateurs JOIN numbers USING (code_sous_indicateur)
           WHERE code_programme = (SELECT code_programme FROM chosen)
           GROUP BY code_sous_indicateur
           ORDER BY code_sous_indicateur <> ?, arg_max(code_indicateur, document), code_sous_indicateur""",
        [code_sous_indicateur, code_sous_indicateur],
    ).fetchall()


def _indicator_section(connection: duckdb.DuckDBPyConnection, code_sous_indicateur: str) -> str:
    title = "Série d'un indicateur et ses cibles"
    indicators = _sub_indicators(connection, code_sous_indicateur)
    if not indicators or indicators[0][0] != code_sous_indicateur:
        return _section("indicateur", title, _message(f"Aucune valeur pour le sous-indicateur {code_sous_indicateur}."))
    rows = connection.execute(
        """SELECT code_sous_indicateur, annee, type_valeur, document,
                  coalesce(valeur, valeur_max, valeur_min) AS v, valeur_brute
           FROM indicateur_valeurs
           WHERE code_sous_indicateur IN (SELECT unnest(?)) AND coalesce(valeur, valeur_max, valeur_min) IS NOT NULL
           ORDER BY code_sous_indicateur, type_valeur, annee, document""",
        [[i[0] for i in indicators]],
    ).fetchall()
    figure = go.Figure()
    owners: list[int] = []
    for index, (code, *_) in enumerate(indicators):
        mine = [r for r in rows if r[0] == code]
        for kind in sorted({r[2] for r in mine}):
            chosen = [r for r in mine if r[2] == kind]
            figure.add_scatter(
                x=[r[1] for r in chosen],
                y=[r[4] for r in chosen],
                mode="lines+markers" if kind != "cible" else "markers",
                marker={"size": 10, "symbol": "star" if kind == "cible" else "circle"},
                name=VALUE_TYPES.get(kind, kind),
                hovertext=[f"{r[3]} : {r[5]}" for r in chosen],
                visible=index == 0,
            )
            owners.append(index)
    buttons = [
        {
            "label": f"{code} {(sous_libelle or libelle or '')[:40]}",
            "method": "update",
            "args": [
                {"visible": [owner == index for owner in owners]},
                {"title": {"text": f"{indicateur} / {code} ({programme})"}, "yaxis": {"title": {"text": unite or ""}}},
            ],
        }
        for index, (code, programme, indicateur, libelle, sous_libelle, unite) in enumerate(indicators)
    ]
    code, programme, indicateur, libelle, sous_libelle, unite = indicators[0]
    figure.update_layout(
        title={"text": f"{indicateur} / {code} ({programme})"},
        xaxis={"title": "année", "dtick": 1},
        yaxis={"title": {"text": unite or ""}},
        updatemenus=[{"buttons": buttons, "active": 0, "x": 1, "y": 1.18, "xanchor": "right"}],
    )
    text = (
        f"<p><strong>{escape_html(libelle)}</strong> : {escape_html(sous_libelle)} ({escape_html(unite)}). "
        f"Les autres sous-indicateurs du programme {escape_html(programme)} sont dans la liste. "
        "Chaque point est la valeur d'un document (PAP, RAP) ; survoler donne le document et la cellule publiée.</p>"
    )
    shown = [r[1:] for r in rows if r[0] == code]
    table = _table(["année", "type de valeur", "document", "valeur", "valeur publiée"], shown, numeric=(3,))
    details = f"<details><summary>Les valeurs du sous-indicateur {escape_html(code)}</summary>{table}</details>"
    return _section("indicateur", title, text + _figure(figure, "indicateur") + details)


def _columns_section(connection: duckdb.DuckDBPyConnection, manifest: dict) -> str:
    """The columns of each published table (name, type), when the release has no ``dictionnaire.md``."""
    tables = [Path(f["path"]).stem for f in manifest.get("files", []) if f["path"].startswith("parquet/")]
    rows = connection.execute(
        """SELECT table_name, column_name, data_type FROM duckdb_columns()
           WHERE database_name = current_database() AND schema_name = 'main' AND table_name IN (SELECT unnest(?))
           ORDER BY table_name, column_index""",
        [tables],
    ).fetchall()
    parts = []
    for table in sorted({r[0] for r in rows}):
        columns = _table(["colonne", "type"], [r[1:] for r in rows if r[0] == table])
        parts.append(f"<details><summary><code>{escape_html(table)}</code></summary>{columns}</details>")
    text = "<p>Cette version n'a pas de dictionnaire : voici les colonnes de chaque table et leur type.</p>"
    return _section("dictionnaire", "Tables et colonnes", text + "".join(parts))


def _disagreements_section(connection: duckdb.DuckDBPyConnection) -> str:
    counts = connection.execute("SELECT regle, count(*) FROM ecarts_sources GROUP BY regle ORDER BY 2 DESC").fetchall()
    title = "Écarts entre sources officielles"
    if not counts:
        return _section("ecarts", title, _message("Aucun écart entre sources dans cette version."))
    figure = go.Figure(go.Bar(x=[r[0] for r in counts], y=[r[1] for r in counts], name="écarts"))
    figure.update_layout(title={"text": "Nombre d'écarts par règle"}, xaxis_title="règle", yaxis_title="écarts")
    total = sum(r[1] for r in counts)
    columns = [
        "regle",
        "exercice",
        "phase",
        "type_budget",
        "cle",
        "valeur_attendue",
        "valeur_trouvee",
        "ecart",
        "source_attendue",
        "source_trouvee",
    ]
    rows = connection.execute(
        f"SELECT {', '.join(columns)} FROM ecarts_sources ORDER BY regle, exercice, phase, cle LIMIT ?",
        [MAX_DISAGREEMENT_ROWS],
    ).fetchall()
    shown = f"les {len(rows)} premiers" if total > len(rows) else f"les {total}"
    text = (
        f"<p>{_number(total)} écarts publiés ; {shown} ci-dessous, tous dans "
        '<a href="../parquet/ecarts_sources.parquet" download>ecarts_sources.parquet</a>.</p>'
    )
    table = f'<div class="defilement">{_table(columns, rows, numeric=(7,))}</div>'
    return _section("ecarts", title, text + _figure(figure, "ecarts") + table)
