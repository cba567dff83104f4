"""`rulectl report` in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium through an explicit chromedriver path, so nothing is downloaded) opens the page
from file://. Per project shape: no console errors, every section and chart present, and the
numbers drawn and tabled equal numbers computed here straight from the DuckDB file with plain SQL.
A screenshot of each page is kept under pytest's tmp dir (its path is printed: `-s` shows it)."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import duckdb
import pytest

from engine.config.loader import load_project
from tests.conftest import REPO, PROJECT_PARTS, edit, run

SHAPES = Path(__file__).resolve().parent / "projects"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# flags that keep a headless Chromium off the network and out of the user's profile
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--window-size=1280,900",
)
# per shape: a rule edit that moves customers between segments (the second apply records it)
EDITS = {
    "example": ("rules/segments.yml", "total_arr >= 150000", "total_arr >= 100000"),
    "renamed": ("rules/rules.yml", "total_contract_value >= 30000", "total_contract_value >= 10000"),
    "minimal": ("rules/rules.yml", "weekly_visits >= 1", "weekly_visits >= 2"),
}


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no browser to test the report in: install Debian's chromium and chromium-driver (.ci/run does when apt-get is available)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="rulectl-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def shape_copy(shape: str, root: Path) -> Path:
    if shape == "example":
        root.mkdir()
        for part in PROJECT_PARTS:
            (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
    else:
        shutil.copytree(SHAPES / shape, root, ignore=shutil.ignore_patterns(".rulectl"))
    return root


def sql(root: Path, query: str) -> list[tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def labels_now(root: Path, loaded) -> dict[str, dict[str, int]]:
    """Segmentation → label → customers, from the deployed segments view (match: all unnested)."""
    view = f"{loaded.config.schemas.analytics}.CUSTOMER_SEGMENTS"
    counts = {}
    for located in loaded.segmentations:
        name = located.item.name
        column = f"unnest({name})" if located.item.match == "all" else name
        counts[name] = {str(label): n for label, n in sql(root, f"SELECT label, count(*) FROM (SELECT {column} AS label FROM {view}) GROUP BY ALL")}
    return counts


def keyed_labels(root: Path, loaded) -> dict[str, dict]:
    view = f"{loaded.config.schemas.analytics}.CUSTOMER_SEGMENTS"
    key = next(s.key for s in loaded.config.sources.values() if s.key)
    return {located.item.name: dict(sql(root, f"SELECT {key}, CAST({located.item.name} AS VARCHAR) FROM {view}")) for located in loaded.segmentations}


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval, written out here from the textbook formula."""
    z, p = 1.959963984540054, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


class Built:
    """A project applied, run, edited, applied and run again; its report and what the DB says."""

    def __init__(self, shape: str, root: Path, outcome: tuple[str, str, str] | None = None):
        self.shape, self.root = shape, root
        if outcome:  # an experiment outcome, so the page draws rates with Wilson intervals
            edit(root / outcome[0], *outcome[1:])
        assert run("load", project=root).exit_code == 0
        assert run("apply", "--yes", project=root).exit_code == 0
        run("run", project=root)
        self.loaded = load_project(root)
        self.before = labels_now(root, self.loaded)
        keys_before = keyed_labels(root, self.loaded)
        edit(root / EDITS[shape][0], *EDITS[shape][1:])
        assert run("apply", "--yes", project=root).exit_code == 0
        self.after = labels_now(root, self.loaded)
        keys_after = keyed_labels(root, self.loaded)
        self.moved = {name: sum(keys_before[name][k] != keys_after[name].get(k) for k in keys_before[name]) for name in keys_before}
        reported = run("report", "--out", str(root / "out"), project=root)
        assert reported.exit_code == 0, reported.output
        self.page = root / "out" / "report.html"


def dom(driver, page: Path) -> dict:
    """Load the page and read everything the assertions need in one script."""
    driver.get(page.resolve().as_uri())
    return driver.execute_script("""
        const all = (sel, root) => Array.from((root || document).querySelectorAll(sel));
        const marks = sel => all(sel).map(e => ({label: e.dataset.label, x: e.dataset.x, value: parseFloat(e.dataset.value),
                                                 low: parseFloat(e.dataset.low), high: parseFloat(e.dataset.high)}));
        const tables = {};
        all('table[data-table]').forEach(t => { tables[t.dataset.table] = all('tbody tr', t).map(r => all('td', r).map(
            c => c.dataset.value !== undefined ? c.dataset.value : c.textContent)); });
        const charts = {};
        all('figure[data-chart]').forEach(f => { charts[f.dataset.chart] = {
            bars: all('.bar', f).map(e => ({label: e.dataset.label, x: e.dataset.x, value: parseFloat(e.dataset.value)})),
            points: all('.point', f).map(e => ({label: e.dataset.label, x: e.dataset.x, value: parseFloat(e.dataset.value)})),
            whiskers: all('.whisker', f).map(e => ({label: e.dataset.label, low: parseFloat(e.dataset.low), high: parseFloat(e.dataset.high)})),
            nodes: all('.node', f).map(e => e.dataset.id), edges: all('.edge', f).length,
            svg_title: (f.querySelector('svg title') || {}).textContent, has_table: !!f.querySelector('table') }; });
        const sections = {};
        all('section[data-section]').forEach(s => { sections[s.dataset.section] = s.textContent; });
        return {sections, charts, tables, findings: (document.querySelector('[data-findings]') || {dataset: {}}).dataset.findings,
                height: document.documentElement.scrollHeight};
    """)


def screenshot(driver, page: Path, height: int, keep: Path) -> Path:
    driver.set_window_size(1280, min(height + 40, 8000))
    keep.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(keep))
    driver.set_window_size(1280, 900)
    print(f"report screenshot: {keep}")
    return keep


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Built:
    # an input column, so the offline stand-in's replies still give rates between 0 and 1 and a z-test
    outcome = ("prompts/account_summary.yml", "  salt: account-summary-2026-11\n", "  salt: account-summary-2026-11\n  outcome: account_tier = 'Growth'\n")
    return Built("example", shape_copy("example", tmp_path_factory.mktemp("report") / "example"), outcome)


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> Built:
    return Built("renamed", shape_copy("renamed", tmp_path_factory.mktemp("report") / "renamed"))


@pytest.fixture(scope="module")
def minimal(tmp_path_factory) -> Built:
    return Built("minimal", shape_copy("minimal", tmp_path_factory.mktemp("report") / "minimal"))


def check_common(built: Built, seen: dict, driver) -> None:
    """What every shape's page must show, against the DuckDB file."""
    assert console_errors(driver) == []
    assert set(seen["sections"]) == {"segments", "history", "refreshes", "experiments", "lineage", "lint"}
    loaded, root = built.loaded, built.root
    size = loaded.config.display.size
    view = f"{loaded.config.schemas.analytics}.CUSTOMER_SEGMENTS"
    for located in loaded.segmentations:
        name, slug = located.item.name, located.item.name.lower().replace("_", "-")
        drawn = {bar["label"]: bar["value"] for bar in seen["charts"][f"seg-{slug}-customers"]["bars"]}
        assert drawn == {label: float(n) for label, n in built.after[name].items()}
        table = {row[0]: int(row[1]) for row in seen["tables"][f"seg-{slug}"]}
        assert table == built.after[name]
        if size:  # the size metric summed per segment, straight from the view
            column = f"unnest({name})" if located.item.match == "all" else name
            expected = {str(label): float(total or 0) for label, total in sql(root, f"SELECT label, sum(size) FROM (SELECT {column} AS label, {size.metric} AS size FROM {view}) GROUP BY ALL")}
            sized = {bar["label"]: bar["value"] for bar in seen["charts"][f"seg-{slug}-size"]["bars"]}
            assert sized == pytest.approx(expected)
    # history: the edited segmentation, before → after, drawn and tabled
    changed = [name for name in built.before if built.before[name] != built.after[name]]
    assert changed, "the edit must move customers"
    for name in changed:
        slug = name.lower().replace("_", "-")
        points = seen["charts"][f"hist-{slug}"]["points"]
        for label in set(built.before[name]) | set(built.after[name]):
            line = [p["value"] for p in points if p["label"] == label]
            assert line[0] == built.before[name].get(label, 0) and line[-1] == built.after[name].get(label, 0), label
        assert seen["charts"][f"hist-{slug}"]["has_table"]
    match_first = {s.item.name for s in loaded.segmentations if s.item.match == "first"}
    moved = {}
    for row in seen["tables"].get("moves", []):
        moved[row[2]] = moved.get(row[2], 0) + int(row[4])
    for name in changed:
        if name in match_first:  # one move per customer; match: all counts gains and losses per label
            assert moved[name] == built.moved[name]
    # lineage: every declared source, metric, segmentation and prompt is a node; one table row per edge
    graph = seen["charts"]["lineage-graph"]
    from engine.config.enrichments import sentiment_sources

    scores = sentiment_sources(loaded.config)  # a score table is drawn as the table its task fills
    declared = {f"source:{n}" for n in loaded.config.sources if n not in scores} | {f"metric:{m.item.name.lower()}" for m in loaded.metrics}
    declared |= {f"segmentation:{s.item.name.lower()}" for s in loaded.segmentations} | {f"prompt:{p.item.name}" for p in loaded.prompts}
    assert declared <= set(graph["nodes"]) and graph["edges"] == len(seen["tables"]["lineage"]) > 0
    # lint: the same findings as `rulectl lint --target`
    linted = json.loads(run("lint", "--target", "local", "--json", project=root).output)
    findings = linted["findings"] if isinstance(linted, dict) else linted
    assert int(seen["findings"]) == len(findings) == len(seen["tables"].get("lint", []))


def check_prompts(built: Built, seen: dict) -> None:
    loaded, root = built.loaded, built.root
    runs = sql(root, "SELECT prompt, enriched, failed FROM _RULECTL.RUN_LOG ORDER BY started_at")
    for located in loaded.prompts:
        prompt, slug = located.item.name, located.item.name.lower().replace("_", "-")
        mine = [(e, f) for p, e, f in runs if p == prompt]
        bars = seen["charts"][f"runs-{slug}"]["bars"]
        assert [b["value"] for b in bars if b["label"] == "enriched"] == [float(e) for e, _ in mine]
        assert [b["value"] for b in bars if b["label"] == "failed calls"] == [float(f) for _, f in mine]
        output = f"{loaded.config.schemas.ai}.{located.item.output}"
        tokens_in, tokens_out, replies = sql(root, f"SELECT sum(input_tokens), sum(output_tokens), count(*) FROM {output} WHERE prompt_name = '{prompt}'")[0]
        spend = seen["tables"][f"spend-{slug}"]
        assert sum(int(r[2]) for r in spend) == replies and sum(int(r[3]) for r in spend) == tokens_in and sum(int(r[4]) for r in spend) == tokens_out
        experiment = located.item.experiment
        if experiment is None:
            continue
        counts = dict(sql(root, f"SELECT variant, count(*) FROM {output} WHERE prompt_name = '{prompt}' GROUP BY 1"))
        table = {row[0]: row for row in seen["tables"][f"exp-{slug}"]}
        assert {v: int(row[1]) for v, row in table.items()} == {v.name: counts.get(v.name, 0) for v in experiment.variants}
        chart = seen["charts"][f"exp-{slug}"]
        if experiment.outcome:  # rate and Wilson interval per variant, computed here from the rows
            key, view = located.item.key, f"{loaded.config.schemas.analytics}.{located.item.input}"
            hits = dict(sql(root, f"SELECT o.variant, count(*) FILTER (WHERE {experiment.outcome}) FROM {output} o JOIN {view} s ON o.{key} = s.{key} WHERE o.prompt_name = '{prompt}' GROUP BY 1"))
            for whisker in chart["whiskers"]:
                low, high = wilson(hits.get(whisker["label"], 0), counts[whisker["label"]])
                assert (whisker["low"], whisker["high"]) == (pytest.approx(low), pytest.approx(high))
            assert {p["label"]: p["value"] for p in chart["points"]} == pytest.approx({v: hits.get(v, 0) / n for v, n in counts.items()})
            first, *others = [v.name for v in experiment.variants]
            for other in others:  # the pooled two-proportion z-test against the first variant
                s1, n1, s2, n2 = hits.get(other, 0), counts[other], hits.get(first, 0), counts[first]
                pooled = (s1 + s2) / (n1 + n2)
                z = (s1 / n1 - s2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
                assert float(table[other][-1]) == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
                assert f"{other} " in seen["sections"]["experiments"] and "at the 5% level" in seen["sections"]["experiments"]
        else:
            assert {b["label"]: b["value"] for b in chart["bars"]} == {v: float(n) for v, n in counts.items()}


@pytest.mark.slow
def test_report_on_the_example_in_a_browser(example: Built, browser, tmp_path_factory):
    seen = dom(browser, example.page)
    check_common(example, seen, browser)
    check_prompts(example, seen)
    assert seen["charts"]["exp-account-summary"]["whiskers"]  # the outcome's rate per variant, with its interval
    screenshot(browser, example.page, seen["height"], tmp_path_factory.getbasetemp() / "report-screenshots" / "example.png")


@pytest.mark.slow
def test_report_on_the_renamed_shape_in_a_browser(renamed: Built, browser, tmp_path_factory):
    seen = dom(browser, renamed.page)
    check_common(renamed, seen, browser)
    check_prompts(renamed, seen)
    screenshot(browser, renamed.page, seen["height"], tmp_path_factory.getbasetemp() / "report-screenshots" / "renamed.png")


def test_report_without_prompts_says_so_rather_than_drawing_empty_charts(minimal: Built, browser, tmp_path_factory):
    seen = dom(browser, minimal.page)
    check_common(minimal, seen, browser)
    assert "has no prompts" in seen["sections"]["refreshes"] and "has no prompts" in seen["sections"]["experiments"]
    assert not [chart for chart in seen["charts"] if chart.startswith(("runs-", "spend-", "exp-"))]
    screenshot(browser, minimal.page, seen["height"], tmp_path_factory.getbasetemp() / "report-screenshots" / "minimal.png")


@pytest.mark.snowflake
def test_report_on_snowflake_reads_the_same_state_through_the_recording_double(project: Path, monkeypatch):
    """The report's queries in Snowflake's dialect (run by the double on DuckDB): segment sizes, the
    recorded history of an edit, the run log; sizes equal a count over the double's own rows."""
    from engine.backends.snowflake import SnowflakeBackend
    from tests.doubles.recording import RecordingConnection

    loaded = load_project(project)
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(loaded.config.sources)
    for name, source in loaded.config.sources.items():
        if source.sample:
            connection.duck.execute(f"INSERT INTO {source.table} SELECT * FROM read_csv('{project / source.sample}', header = true)")
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_INTEL")))
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    edit(project / EDITS["example"][0], *EDITS["example"][1:])
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    start = len(connection.statements)
    reported = run("report", "--target", "prod", "--out", str(project / "out"), project=project)
    assert reported.exit_code == 0, reported.output
    assert not [s for s in connection.statements[start:] if s.split()[0].upper() in ("CREATE", "INSERT", "MERGE", "UPDATE", "DELETE", "DROP", "ALTER")]
    page = (project / "out" / "report.html").read_text()
    tiers = dict(connection.duck.execute("SELECT account_tier, count(*) FROM ANALYTICS.CUSTOMER_SEGMENTS GROUP BY 1").fetchall())
    for label, customers in tiers.items():
        assert f'data-label="{label}" data-value="{customers}"' in page
    assert "Growth → Strategic" in page and "target <strong>prod</strong> (snowflake)" in page


def test_report_before_anything_is_applied_says_so_and_a_wrong_target_is_an_error(tmp_path: Path):
    root = shape_copy("renamed", tmp_path / "renamed")
    written = run("report", "--out", str(tmp_path / "out"), project=root)
    assert written.exit_code == 0, written.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("Nothing is deployed on target local yet") == 4  # segments, history, refreshes, experiments
    assert 'data-chart="lineage-graph"' in page  # the lineage is the YAML's: drawn all the same
    assert not (root / ".rulectl" / "local.duckdb").exists()  # read-only: no database made
    wrong = run("report", "--target", "nope", "--out", str(tmp_path / "out2"), project=root)
    assert wrong.exit_code == 1 and "unknown target `nope`" in wrong.output and not (tmp_path / "out2").exists()


def test_analyst_text_is_escaped_everywhere_on_the_page():
    """Labels, names and messages come from YAML and data: none may open a tag or an attribute."""
    from datetime import datetime

    from engine.features.lineage import Lineage, Node
    from engine.features.report_data import ReportData
    from engine.features.report_html import render_report
    from engine.features.segment_sizes import SegmentSize
    from engine.lint.findings import Finding

    hostile = '<script>alert("x")</script>\'"&'
    data = ReportData(
        project="p", target="local", engine="duckdb", generated_at=datetime(2026, 12, 6), size_label=hostile, size_format="number", deployed=True,
        segments=[SegmentSize(hostile, hostile, 3, 1.5)], lineage=Lineage((Node(f"metric:{hostile}", "metric", hostile),), ()),
        findings=[Finding("warning", "gap", hostile, 1, hostile)],
    )
    page = render_report(data)
    assert "<script" not in page and 'alert("x")' not in page and "&lt;script&gt;" in page
