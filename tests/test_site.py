"""The release's static page (issue 10, item 5), opened from the file system in a real headless Chromium.

Debian's ``chromium`` (``make system-deps``) driven by Playwright; no browser is downloaded.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from warehouse.publication.site import render_markdown, write_site

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: A chart drawn by Plotly has axes, text, grid and traces: far more colours than a blank box.
MIN_CHART_COLOURS = 20
#: A message is text on a tinted box: its antialiased letters give several colours.
MIN_MESSAGE_COLOURS = 5
SECTIONS = ["fichiers", "couverture", "missions", "historique", "execution", "indicateur", "ecarts"]


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run `make system-deps` (as root)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Visit:
    """A page opened in the browser, with the console errors and page errors it raised."""

    def __init__(self, browser, page_path: Path):
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(page_path.resolve().as_uri(), wait_until="load")

    def colours(self, element) -> int:
        image = Image.open(io.BytesIO(element.screenshot())).convert("RGB")
        return len(image.getcolors(maxcolors=1 << 24))


@pytest.fixture(scope="module")
def page_path(built) -> Path:
    return built.out / "latest" / "site" / "index.html"


@pytest.fixture(scope="module")
def visit(browser, page_path):
    visit = Visit(browser, page_path)
    yield visit
    visit.page.close()


def test_the_release_holds_the_page(built, page_path):
    assert page_path.is_file()
    assert (page_path.parent / "plotly.min.js").is_file()
    assert page_path.resolve().parent.parent.parent.name == "releases"  # inside the release, not beside it


def test_page_loads_from_file_without_console_error(visit):
    assert visit.page.title().startswith("Entrepôt du budget de l'État")
    assert visit.page.evaluate("typeof Plotly") == "object"
    assert visit.errors == []
    for anchor in SECTIONS:
        assert visit.page.locator(f"section#{anchor} h2").count() == 1, anchor


def test_page_fetches_nothing_from_the_network(visit):
    sources = visit.page.eval_on_selector_all(
        "script[src], link[href], img[src]", "els => els.map(e => e.src || e.href)"
    )
    assert sources and all(s.startswith("file://") for s in sources), sources
    assert "https://cdn" not in visit.page.content()


def test_every_chart_renders(visit):
    charts = visit.page.locator("div.graphique").all()
    assert len(charts) == 5  # missions, history, execution (2024 has both phases), indicator, disagreements
    for chart in charts:
        name = chart.get_attribute("id")
        assert chart.locator(".main-svg").count() >= 1, name
        assert chart.locator("g.trace").count() >= 1 and chart.locator(".point").count() >= 1, name
        assert visit.colours(chart) > MIN_CHART_COLOURS, name


def test_every_download_link_resolves(visit, page_path):
    hrefs = visit.page.eval_on_selector_all("a[href]:not([href^='#'])", "els => els.map(a => a.href)")
    assert hrefs
    for href in hrefs:
        url = urlparse(href)
        assert url.scheme == "file", href
        assert Path(unquote(url.path)).is_file(), href
    release = page_path.resolve().parent.parent
    linked = {Path(unquote(urlparse(h).path)).resolve() for h in hrefs}
    for name in ["budget.duckdb", "manifest.json", "parquet/credits.parquet", "parquet/couverture.parquet"]:
        assert (release / name).resolve() in linked, name


def test_page_shows_checksums_and_real_figures(visit, page_path):
    import json

    manifest = json.loads((page_path.parent.parent / "manifest.json").read_text())
    text = visit.page.locator("body").inner_text()
    for entry in manifest["files"]:
        assert entry["sha256"] in text, entry["path"]
    history = visit.page.locator("section#historique").inner_text()
    assert "Programme 352 puis 129-16" in history
    assert "transfert" in history
    execution = visit.page.locator("section#execution").inner_text()
    assert "2024 (PLF)" in execution
    # 2024's reference is the bill (PLF), not a vote: its amounts are "prévues", never "votées".
    assert "AE prévues" in execution and "votées" not in execution and "votés" not in execution
    assert "P352-1-1 / 30157 (352)" in visit.page.locator("section#indicateur").inner_text()
    coverage = visit.page.locator("section#couverture table")
    assert coverage.locator("td.absent").count() > 0 and coverage.locator("td.present").count() > 0


@pytest.fixture(scope="module")
def release_copy(built, tmp_path_factory) -> Path:
    """A copy of the built release without EXEC credits, and with a dictionary and changelog of our making."""
    copy = tmp_path_factory.mktemp("release") / "release"
    shutil.copytree(built.out / "latest", copy, symlinks=False)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    with duckdb.connect(str(copy / "budget.duckdb")) as connection:
        connection.execute("DELETE FROM credits WHERE phase = 'EXEC'")
    (copy / "dictionnaire.md").write_text(
        "## credits\n\n| colonne | type | sens |\n|---|---|---|\n| ae | DECIMAL(18,2) | autorisations <script>alert(1)</script> |\n",
        encoding="utf-8",
    )
    (copy / "changelog.md").write_text("# Changements\n\n- credits : 3 lignes ajoutées\n", encoding="utf-8")
    write_site(copy)
    return copy


def test_page_without_both_phases_says_so(browser, release_copy):
    visit = Visit(browser, release_copy / "site" / "index.html")
    try:
        assert visit.errors == []
        message = visit.page.locator("section#execution .graphique-vide")
        assert message.count() == 1
        assert "Aucun exercice n'a à la fois le vote" in message.inner_text()
        assert visit.colours(message) > MIN_MESSAGE_COLOURS
        assert visit.page.locator("section#execution div.graphique").count() == 0
        assert len(visit.page.locator("div.graphique").all()) == 4
        dictionary = visit.page.locator("section#dictionnaire")
        assert dictionary.locator("table td", has_text="DECIMAL(18,2)").count() == 1
        assert "<script>alert(1)</script>" in dictionary.inner_text()  # shown as text, never run
        assert visit.page.locator("section#dictionnaire script").count() == 0
        assert "3 lignes ajoutées" in visit.page.locator("section#changements").inner_text()
        for href in visit.page.eval_on_selector_all("a[href]:not([href^='#'])", "els => els.map(a => a.href)"):
            assert Path(unquote(urlparse(href).path)).is_file(), href
    finally:
        visit.page.close()


def test_markdown_escapes_html_and_refuses_unsafe_links():
    html = render_markdown("<b>gras</b> [lien](javascript:alert(1)) [doc](https://www.budget.gouv.fr)\n")
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert 'href="javascript' not in html
    assert 'href="https://www.budget.gouv.fr"' in html


def test_the_list_changes_exercice_and_phase(visit):
    chart = visit.page.locator("#graphique-missions")
    assert chart.locator(".gtitle").text_content() == "AE et CP par mission : 2025, PLF"
    chart.locator(".updatemenu-header").click()
    chart.locator(".updatemenu-dropdown-button").filter(has_text="2024 EXEC").click()
    visit.page.wait_for_function(
        "document.querySelector('#graphique-missions .gtitle').textContent.includes('2024, EXEC')"
    )
    assert visit.colours(chart) > MIN_CHART_COLOURS
    assert visit.errors == []


def test_the_dictionary_or_the_columns_are_shown(visit, page_path):
    section = visit.page.locator("section#dictionnaire")
    if (page_path.parent.parent / "dictionnaire.md").is_file():
        assert section.locator("h2").first.inner_text() == "Dictionnaire des données"
        assert section.locator(".markdown").count() == 1
    else:
        assert section.locator("h2").inner_text() == "Tables et colonnes"
        section.locator("summary", has_text="credits").first.click()
        assert "DECIMAL(18,2)" in section.locator("details[open]").first.inner_text()


def test_the_list_changes_the_indicator(visit):
    chart = visit.page.locator("#graphique-indicateur")
    chart.locator(".updatemenu-header").click()
    chart.locator(".updatemenu-dropdown-button").filter(has_text="30886").click()
    visit.page.wait_for_function(
        "document.querySelector('#graphique-indicateur .gtitle').textContent.endsWith('/ 30886 (352)')"
    )
    assert visit.colours(chart) > MIN_CHART_COLOURS
    assert visit.errors == []


def test_a_chart_is_written_as_plotly_writes_it_with_the_white_template_and_the_page_layout():
    """``_figure`` puts the template in the figure's JSON itself (Plotly copies and checks a template each time it
    is set): the HTML is byte for byte what ``update_layout(template="plotly_white", ...)`` then ``to_html`` give."""
    import plotly.graph_objects as go

    from warehouse.publication.site import _figure

    def chart() -> go.Figure:
        figure = go.Figure()
        figure.add_bar(x=["101", "102"], y=[1.5, 2.25], name="AE", hovertext=["Mission A", "Mission B"])
        figure.update_layout(title={"text": "AE"}, barmode="group", yaxis_title="milliards d'euros")
        return figure

    expected = chart().update_layout(
        template="plotly_white", separators=", ", height=450, margin={"t": 60, "r": 20, "b": 60, "l": 80}
    )
    inner = expected.to_html(full_html=False, include_plotlyjs=False, div_id="trace-t", config={"displaylogo": False})
    assert _figure(chart(), "t") == f'<div class="graphique" id="graphique-t">{inner}</div>'
    assert '"template":{"data":{"barpolar"' in inner and '"height":450' in inner
