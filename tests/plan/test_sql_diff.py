"""The plan's SQL diff shows only the parts of a statement that changed, pretty-printed."""

from __future__ import annotations

from engine.plan.sql_diff import sql_diff, top_level_parts

BEFORE = "CREATE VIEW A.S AS SELECT m.id, CASE WHEN m.x IN (1, 2) THEN 'a, b' ELSE 'c' END AS s1, m.q, CASE WHEN m.y > 1 THEN 'd' END AS s2 FROM A.M AS m"


def test_parts_are_cut_only_at_top_level_commas():
    assert top_level_parts(BEFORE) == [
        "CREATE VIEW A.S AS SELECT m.id",
        "CASE WHEN m.x IN (1, 2) THEN 'a, b' ELSE 'c' END AS s1",
        "m.q",
        "CASE WHEN m.y > 1 THEN 'd' END AS s2 FROM A.M AS m",
    ]


def test_commas_inside_literals_identifiers_and_comments_do_not_cut():
    # what sqlglot's tokenizer cuts the same: every kind of quoting Snowflake SQL has
    sql = """SELECT 'it''s, ok' AS a, 'back\\'s, x' AS b, "odd,""name" AS c, $$x, y$$ AS d, ARRAY_CONSTRUCT(1, [2, 3], {'k': 4}) AS e -- f, g
    , /* h, i */ m.j FROM t"""
    assert top_level_parts(sql) == [
        "SELECT 'it''s, ok' AS a", "'back\\'s, x' AS b", '"odd,""name" AS c', "$$x, y$$ AS d",
        "ARRAY_CONSTRUCT(1, [2, 3], {'k': 4}) AS e -- f, g", "/* h, i */ m.j FROM t",
    ]


def test_a_changed_column_is_its_own_named_hunk_and_nothing_else_is_shown():
    diff = sql_diff(BEFORE, BEFORE.replace("m.y > 1", "m.y > 2"))
    assert diff.splitlines() == [
        "--- deployed",
        "+++ planned",
        "@@ s2 @@",
        "-  CASE WHEN m.y > 1 THEN 'd' END AS s2",
        "+  CASE WHEN m.y > 2 THEN 'd' END AS s2",
        " FROM A.M AS m",
    ]
    assert "s1" not in diff


def test_added_and_removed_columns():
    added = sql_diff(BEFORE, BEFORE.replace("m.q,", "m.q, m.r AS r,"))
    assert "+  m.r AS r" in added and "-" not in added.replace("--- deployed", "")
    removed = sql_diff(BEFORE, BEFORE.replace(" m.q,", ""))
    assert "-  m.q" in removed


def test_identical_statements_have_no_diff():
    assert sql_diff(BEFORE, BEFORE) is None


def test_a_name_inside_a_string_literal_names_no_column():
    from engine.plan.impact import named_parts
    from engine.plan.sql_diff import output_name

    assert output_name("CASE WHEN m.a > 1 THEN 'moved AS tier FROM gold' END AS note") == "note"
    sql = "CREATE VIEW A.S AS SELECT m.id, CASE WHEN m.x > 1 THEN 'a' END AS tier, CASE WHEN m.y > 1 THEN 'x AS TIER FROM g' END AS note FROM A.M AS m"
    assert named_parts(sql)["tier"] == "CASE WHEN m.x > 1 THEN 'a' END AS tier"
    assert named_parts(sql.replace(" AS note", " AS tier"))["tier"] is None  # two parts, no one text
