"""The bad-input corpus: every mistake gives exit 1, `file:line: message`, no traceback, nothing touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, run

METRICS_HEAD = "metrics:\n  - name: total_arr\n    source: products\n    expr: SUM(arr)\n"

# (case id, file to write, its whole content, expected line, words the message must contain)
CASES = [
    ("unknown key", "rules/metrics.yml", METRICS_HEAD + "    exprr: 1\n", 5, "unknown key `exprr`"),
    ("misspelled key suggests", "rules/metrics.yml", "metrics:\n  - name: a\n    sourse: products\n    expr: SUM(arr)\n", 3, "did you mean `source`"),
    ("wrong type", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: [SUM(arr)]\n", 4, "metric `a`: `expr` must be text, not a list"),
    ("missing expr", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n", 2, "metric `a`: `expr` is required"),
    ("unknown source", "rules/metrics.yml", "metrics:\n  - name: a\n    source: prodcts\n    expr: SUM(arr)\n", 3, "did you mean `products`"),
    ("unknown column", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(ar)\n", 4, "`ar` is not a column of source `products`; did you mean `arr`"),
    ("unknown column in filter", "rules/metrics.yml", METRICS_HEAD + "    filter: statuss = 'active'\n", 5, "did you mean `status`"),
    ("misspelled metric in derived", "rules/metrics.yml", METRICS_HEAD + "  - name: b\n    expr: total_ar * 2\n", 6, "did you mean `total_arr`"),
    ("cycle", "rules/metrics.yml", METRICS_HEAD + "  - name: a\n    expr: b + 1\n  - name: b\n    expr: a + 1\n", 6, "cycle"),
    ("aggregate in derived", "rules/metrics.yml", METRICS_HEAD + "  - name: b\n    expr: SUM(total_arr)\n", 6, "cannot contain an aggregate"),
    ("aggregate on key grain", "rules/metrics.yml", "metrics:\n  - name: a\n    source: customer\n    expr: MAX(population)\n", 4, "must not aggregate"),
    ("missing aggregate on module grain", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: arr * 2\n", 4, "wrap the expression in an aggregate"),
    ("bare column beside aggregate", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr) + seats\n", 4, "`seats` is outside any aggregate"),
    ("order-dependent aggregate", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: ANY_VALUE(status)\n", 4, "write MIN(status) or MAX(status)"),
    ("unordered listagg", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: LISTAGG(module, ',')\n", 4, "WITHIN GROUP (ORDER BY module)"),
    ("unknown function", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: MEDIAN_ARR(arr)\n", 4, "`MEDIAN_ARR` is not a function rulectl knows"),
    ("impossible date", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: COUNT_IF(renewal_date < '2026-02-30')\n", 4, "'2026-02-30' is not a real date"),
    ("window on a source metric", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: NTILE(4) OVER (ORDER BY arr)\n", 4, "define it as a metric without `source:`"),
    ("window that is not a score", "rules/metrics.yml", METRICS_HEAD + "  - name: b\n    expr: LAG(total_arr) OVER (ORDER BY total_arr)\n", 6, "of the window functions rulectl takes the customer scores"),
    ("nested aggregate", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(MAX(arr))\n", 4, "cannot be nested"),
    ("aggregate in filter", "rules/metrics.yml", METRICS_HEAD + "    filter: SUM(arr) > 0\n", 5, "cannot contain an aggregate"),
    ("duplicate metric", "rules/metrics.yml", METRICS_HEAD + "  - name: total_arr\n    source: products\n    expr: MAX(arr)\n", 5, "defined twice"),
    ("invalid identifier", "rules/metrics.yml", "metrics:\n  - name: total-arr\n    source: products\n    expr: SUM(arr)\n", 2, "not a valid identifier"),
    ("reserved word", "rules/metrics.yml", "metrics:\n  - name: select\n    source: products\n    expr: SUM(arr)\n", 2, "reserved SQL word"),
    ("two statements", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr); DROP TABLE x\n", 4, "single expression"),
    ("ddl", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: DROP TABLE GOLD.PRODUCTS\n", 4, "not a DROP statement"),
    ("dml", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: DELETE FROM GOLD.PRODUCTS\n", 4, "not a DELETE statement"),
    ("subquery", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM((SELECT MAX(arr) FROM GOLD.PRODUCTS))\n", 4, "subquery"),
    ("qualified column", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(p.arr)\n", 4, "without the `p.` prefix"),
    ("operator chain nested too deeply", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: " + " - ".join(["SUM(arr)"] * 400) + "\n", 4, "nested too deeply: 402 levels"),
    ("unparseable sql", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr\n", 4, "not valid SQL"),
    ("metric shadows column", "rules/metrics.yml", "metrics:\n  - name: state\n    source: products\n    expr: MAX(status)\n", 2, "same name as a column"),
    ("segment unknown metric", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_ar > 1\n", 5, "did you mean `total_arr`"),
    ("segment aggregate", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: SUM(total_arr) > 1\n", 5, "cannot contain an aggregate"),
    ("segment no rules", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules: []\n", 3, "at least 1 item"),
    ("segment bad match", "rules/segments.yml", "segmentations:\n  - name: tier\n    match: any\n    rules:\n      - {segment: A, when: total_arr > 1}\n", 3, "'first' or 'all'"),
    ("duplicate segment label", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - {segment: A, when: total_arr > 1}\n      - {segment: A, when: total_arr > 2}\n", 5, "appears twice"),
    ("yaml syntax", "rules/metrics.yml", "metrics:\n  - name: a\n    expr: [unclosed\n", 3, "the `[` here starts a YAML list that is never closed with `]`"),
    ("tabs", "rules/metrics.yml", "metrics:\n\t- name: a\n", 2, "tab"),
    ("binary garbage", "rules/metrics.yml", b"metrics:\n\x00\xff\xfe\x01garbage", 2, "binary data"),
    ("not utf-8", "rules/metrics.yml", b"metrics:\n  - name: caf\xe9\n", 2, "not UTF-8"),
    ("empty file", "rules/metrics.yml", "", 1, "empty"),
    ("only comments", "rules/segments.yml", "# nothing here yet\n", 1, "empty"),
    ("top level list", "rules/metrics.yml", "- name: a\n  expr: 1\n", 1, "must be a mapping"),
    ("top level scalar", "rules/metrics.yml", "just some words\n", 1, "must be a mapping"),
    ("duplicate key", "rules/metrics.yml", "metrics:\n  - name: a\n    name: b\n    source: products\n    expr: SUM(arr)\n", 3, "duplicate key `name`"),
    ("filter on the customer source", "rules/metrics.yml", "metrics:\n  - name: a\n    source: customer\n    expr: population\n    filter: state = 'IL'\n", 5, "write the condition into `expr`"),
    # how a metric is written into prompts (issue 26)
    ("metric currency without format", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr)\n    currency: EUR\n", 5, "only applies to `format: currency`; add `format: currency`"),
    ("metric format unknown", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr)\n    format: dollars\n", 5, "must be 'number', 'percent' or 'currency', not `dollars`"),
    ("metric decimals too many", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr)\n    decimals: 12\n", 5, "less than or equal to 9"),
    ("min_by inside an expression", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: MIN_BY(module, arr) || '!'\n", 4, "make `MIN_BY(module, arr)` a metric of its own"),
    ("max_by with a count", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: MAX_BY(module, arr, 2)\n", 4, "ARRAY_SLICE(ARRAY_AGG(module) WITHIN GROUP (ORDER BY arr DESC, module), 0, 2)"),
    ("format on a text metric", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: MAX(module)\n    format: percent\n", 5, "`format:` writes numbers, but `a` is text; remove `format:`"),
    ("metric currency code", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr)\n    format: currency\n    currency: EURO\n", 6, "`EURO` is not a currency code; write the three-letter ISO 4217 code"),
    # issue 13 "messages that point the wrong way": each says what is wrong and the fix that works
    ("text value in double quotes", "rules/metrics.yml", METRICS_HEAD + '    filter: status = "active"\n', 5, """`filter`: "active" in double quotes is a column name in SQL; write a text value in single quotes: 'active' (or a column without quotes: active)"""),
    ("number with k", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr >= 100k AND total_arr > 0\n", 5, "`when`: `100k` is not a SQL number; write numbers as plain digits without units, commas or currency signs: 100000"),
    ("number with k alone", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr >= 100k\n", 5, "`when`: `100k` is not a SQL number; write numbers as plain digits without units, commas or currency signs: 100000"),
    ("number with commas", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr >= 100,000\n", 5, "`when`: `100,000` is not a SQL number; write numbers as plain digits without units, commas or currency signs: 100000"),
    ("number with a currency sign", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr >= $150000\n", 5, "`when`: `$150000` is not a SQL number; write numbers as plain digits without units, commas or currency signs: 150000"),
    ("alias in an expression", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr) AS total\n", 4, "`expr`: `SUM(arr) AS total` names a result column; a rule expression needs no `AS` name"),
    ("segmentations read each other in a cycle", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - {segment: Big, when: \"focus = 'Key'\"}\n  - name: focus\n    rules:\n      - segment: Key\n        when: tier = 'Big' AND module_count >= 2\n", 8, "segmentations read each other's labels in a cycle (`tier` reads `focus`, `focus` reads `tier`), so none of them can be decided first"),
    ("rule reads its own segmentation", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - {segment: Big, when: total_arr >= 150000}\n      - {segment: Small, when: \"tier IS NULL\"}\n", 5, "reads `tier`, its own label"),
    ("rule reads a match: all segmentation", "rules/segments.yml", "segmentations:\n  - name: tags\n    match: all\n    rules:\n      - {segment: Big, when: total_arr >= 150000}\n  - name: focus\n    rules:\n      - {segment: Key, when: \"tags = 'Big'\"}\n", 8, "`tags` is a `match: all` segmentation (a list of labels per customer)"),
    ("rule compares a label the other segmentation lacks", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - {segment: Big, when: total_arr >= 150000}\n    default: Small\n  - name: focus\n    rules:\n      - segment: Key\n        when: tier <> 'big'\n", 9, "'big' is not a label of `tier` (labels: Big, Small), so this comparison never holds; did you mean `Big`?"),
    ("cron without a time zone", "prompts/account_summary.yml", None, None, "`schedule`: `USING CRON 0 7 * * MON` needs a time zone after the five cron fields; write `USING CRON 0 7 * * MON UTC` (or e.g. America/Chicago)"),
    ("rule test unknown source", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      custmer: [{customer_id: A}]\n    expect:\n      - {customer_id: A}\n", 4, "did you mean `customer`"),
    ("rule test unknown column", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      products:\n        - {customer_id: A, modul: GL}\n    expect:\n      - {customer_id: A}\n", 5, "`modul` is not a column of source `products`; did you mean `module`"),
    ("rule test unknown expectation", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      customer: [{customer_id: A}]\n    expect:\n      - customer_id: A\n        account_teir: Growth\n", 7, "did you mean `account_tier`"),
    ("rule test list for a first-match", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      customer: [{customer_id: A}]\n    expect:\n      - customer_id: A\n        account_tier: [Growth]\n", 7, "holds one value, not a list"),
    ("rule test match-all needs a list", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      customer: [{customer_id: A}]\n    expect:\n      - customer_id: A\n        opportunities: Renewal due\n", 7, "expect a list of labels"),
    ("rule test without the key", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      customer: [{customer_id: A}]\n    expect:\n      - account_tier: Growth\n", 6, "needs its key `customer_id`"),
    ("rule test unknown key", "tests/account_tier.yml", "tests:\n  - name: t\n    expected:\n      - {customer_id: A}\n", 3, "unknown key `expected`"),
    ("rule test bad today", "tests/account_tier.yml", "today: someday\ntests:\n  - name: t\n    expect:\n      - {customer_id: A}\n", 1, "`today` must be a date written YYYY-MM-DD, not `someday`"),
    # typed expressions: checked offline against the declared column types and the metrics' types
    ("threshold written as text", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr >= '100k' AND module_count >= 3\n", 5, "`when`: `total_arr >= '100k'` compares `total_arr` (a number) with the text '100k'; write the number without quotes: 100000"),
    ("date compared with a number", "rules/metrics.yml", METRICS_HEAD + "    filter: renewal_date > 5\n", 5, "`filter`: `renewal_date > 5` compares `renewal_date` (a date) with the number 5; count days instead, e.g. DATEDIFF('day', CURRENT_DATE, renewal_date) <= 5"),
    ("text column compared with a number", "rules/metrics.yml", "metrics:\n  - name: a\n    source: customer\n    expr: IFF(state = 5, 1, 0)\n", 4, "`expr`: `state = 5` compares `state` (text) with the number 5; write text values in single quotes: '5'"),
    ("text metric used as a condition", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: modules_owned AND total_arr > 1\n", 5, "`when`: `modules_owned` (text) is not a condition (true or false); compare it, e.g. modules_owned = 'some value' or modules_owned LIKE '%part%'"),
    ("number metric used as a rule", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr\n", 5, "`when`: `total_arr` (a number) is not a condition (true or false); compare it, e.g. total_arr >= 100000"),
    ("arithmetic with text", "rules/metrics.yml", "metrics:\n  - name: a\n    source: products\n    expr: SUM(arr) + '5'\n", 4, "`expr`: `SUM(arr) + '5'` does arithmetic with the text '5'; write the number without quotes: 5"),
    ("derived metric typed from the metrics it reads", "rules/metrics.yml", METRICS_HEAD + "  - name: b\n    expr: IFF(total_arr > 'lots', 1, 0)\n", 6, "`expr`: `total_arr > 'lots'` compares `total_arr` (a number) with the text 'lots'; compare it with a number written as plain digits, without quotes"),
    ("outcome is a number", "prompts/account_summary.yml", None, None, "`outcome`: `total_arr` is a number, but an outcome must be true or false per customer; define a metric that is a condition (e.g. `expr: total_arr > 0`) and name it here"),
    ("outcome is text", "prompts/account_summary.yml", None, None, "`outcome`: `state` is text, but an outcome must be true or false per customer; define a metric that is a condition (e.g. `expr: state = 'yes'`) and name it here"),
    ("project name with a colon", "rulectl.yml", None, None, "should match pattern"),
    ("entity is not a key-grain source", "rulectl.yml", None, None, "entity `products` must be a source with `key:`"),
    ("source without grain", "rulectl.yml", None, None, "exactly one of `key:`"),
    ("load check policy", "rulectl.yml", None, None, "'warn' or 'refuse'"),
    ("currency code", "rulectl.yml", None, None, "should match pattern"),
    ("unknown column type", "rulectl.yml", None, None, "not a Snowflake type"),
    ("unknown default target", "rulectl.yml", None, None, "default_target `nowhere`"),
    ("prompt placeholder", "prompts/account_summary.yml", None, None, "placeholder `{customer_nme}` is not a column of customer_segments; did you mean `customer_name`"),
    ("prompt weights", "prompts/account_summary.yml", None, None, "add up to 90"),
    ("prompt cron", "prompts/account_summary.yml", None, None, "hour `25` is outside 0-23"),
    ("prompt timezone", "prompts/account_summary.yml", None, None, "not a time zone"),
    ("prompt temperature", "prompts/account_summary.yml", None, None, "less than or equal to 1"),
    ("prompt unknown input", "prompts/account_summary.yml", None, None, "did you mean `customer_segments`"),
    ("prompt unknown key", "prompts/account_summary.yml", None, None, "unknown key `temprature` in options; did you mean `temperature`"),
    ("prompt key not a column", "prompts/account_summary.yml", None, None, "the key is `customer_id` (the key of the `customer` source), not `customer`"),
    ("display name unknown", "rulectl.yml", None, None, "`name`: `customer_nme` is not a column of the `customer` source or a metric; did you mean `customer_name`"),
    ("display size not a metric", "rulectl.yml", None, None, "`size.metric`: `total_ar` is not a metric; did you mean `total_arr`"),
    ("display column unknown", "rulectl.yml", None, None, "`columns`: `modules` is not a customer column, metric or segmentation"),
    ("display size format", "rulectl.yml", None, None, "'currency', 'number' or 'percent'"),
    ("outputs unknown type", "prompts/account_summary.yml", None, None, "'text', 'number', 'integer', 'boolean', 'label' or 'list'"),
    ("outputs label without labels", "prompts/account_summary.yml", None, None, "a label field needs `labels:`"),
    ("outputs setting of another type", "prompts/account_summary.yml", None, None, "`labels` does not apply to a text field (it takes max_length)"),
    ("outputs reuse a bookkeeping column", "prompts/account_summary.yml", None, None, "output field `response` is a column rulectl keeps itself"),
    ("outputs minimum above maximum", "prompts/account_summary.yml", None, None, "`minimum` 5.0 is above `maximum` 1.0"),
    ("outputs name Cortex refuses", "prompts/account_summary.yml", None, None, "is not a name Cortex structured outputs accept (letters, digits, `-` and `_`, at most 64 characters)"),
    ("outputs empty", "prompts/account_summary.yml", None, None, "`outputs:` needs at least one field"),
    ("outputs misspelled setting", "prompts/account_summary.yml", None, None, "unknown key `lables`"),
    ("output named like the insights view", "prompts/account_summary.yml", None, None, "CUSTOMER_INSIGHTS is the wide insights view rulectl builds"),
    ("output named like a prompt's latest view", "prompts/account_summary.yml", None, None, "LATEST_ACCOUNT_SUMMARY is the view rulectl builds for a prompt's latest output"),
    ("prompt duplicate variant", "prompts/account_summary.yml", None, None, "variant name `control` is used twice"),
    ("prompt variant placeholder", "prompts/account_summary.yml", None, None, "placeholder `{tier}` is not a column"),
    ("prompt max_rows zero", "prompts/account_summary.yml", None, None, "greater than or equal to 1"),
    ("prompt schedule nonsense", "prompts/account_summary.yml", None, None, "is not a task schedule"),
    ("api key from a snowflake variable", "rulectl.yml", None, None, "api_key_env `SNOWFLAKE_PASSWORD` names a Snowflake or rulectl setting"),
    ("api key from a rulectl variable", "rulectl.yml", None, None, "api_key_env `rulectl_home` names a Snowflake or rulectl setting"),
    ("api key variable is a key", "rulectl.yml", None, None, "is not an environment variable name"),
    ("prompt schedule singular hour", "prompts/account_summary.yml", None, None, "write `<n> MINUTES`, `<n> HOURS`, `<n> SECONDS`"),
    ("prompt schedule beyond eight days", "prompts/account_summary.yml", None, None, "up to 11520 minutes"),
    ("cron outside snowflake's subset", "prompts/account_summary.yml", None, None, "day of week `1#2` uses `#`"),
    ("cron sunday as seven", "rulectl.yml", None, None, "day of week `7` is outside 0-6 (Sunday is 0 or SUN)"),
    ("serverless tasks and a warehouse", "rulectl.yml", None, None, "contradict each other"),
    ("condition ends with and", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr > 300000 and\n", 5, "`and` at the end has nothing after it"),
    ("unclosed parenthesis", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: (total_arr > 300000\n", 5, "a `(` is not closed"),
    ("ampersands for and", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr > 1 && module_count > 1\n", 5, "`&&` is not SQL's AND; write AND"),
    ("number with underscores", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: Big\n        when: total_arr > 100_000\n", 5, "write numbers as plain digits without units, commas or currency signs: 100000"),
    ("division by a literal zero", "rules/metrics.yml", METRICS_HEAD + "  - name: b\n    expr: total_arr / 0\n", 6, "divides by zero for every customer"),
    ("strings without a comma", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - segment: West\n        when: state IN ('CA' 'NY')\n", 5, "'CA' and 'NY' stand side by side; put a comma between them"),
    # issue 23: rules that would deploy broken
    ("rule that can never match", "rules/segments.yml", "segmentations:\n  - name: tier\n    rules:\n      - {segment: Big, when: total_arr > 1}\n      - segment: Odd\n        when: adoption_rate >= 0.8 AND adoption_rate < 0.5\n", 6, "rule `Odd` can never match: `adoption_rate >= 0.8 AND adoption_rate < 0.5` is TRUE for no customer"),
    ("placeholder never closed", "prompts/account_summary.yml", None, None, "`{customer_name` opens a placeholder that is never closed"),
    ("outcome value not a label", "prompts/account_summary.yml", None, None, "`outcome`: 'very high' is not one of the labels of `risk` (low, medium, high), so the outcome is never true"),
    ("rule test label in the wrong case", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      customer: [{customer_id: A}]\n    expect:\n      - customer_id: A\n        account_tier: growth\n", 7, "`growth` is not a label of `account_tier` (Strategic, At Risk, Growth, Emerging), so the test could never pass; did you mean `Growth`?"),
    ("rule test value of the wrong type", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      customer: [{customer_id: A}]\n      products:\n        - {customer_id: A, module: GL, seats: twenty}\n    expect:\n      - {customer_id: A}\n", 6, "`given.products`: `seats` is a whole number (integer): `twenty` is not a whole number; write digits only"),
    ("rule test date written day first", "tests/account_tier.yml", "tests:\n  - name: t\n    given:\n      customer:\n        - {customer_id: A, customer_since: 10.04.2025}\n    expect:\n      - {customer_id: A}\n", 5, "`10.04.2025` is not a date; write dates as YYYY-MM-DD (e.g. 2025-04-10 if it means day 10 of month 4)"),
    ("search text not a field", "rulectl.yml", None, None, "`sumary` is not an output field of prompt `account_summary`; did you mean `summary`"),
    ("search text not a prompt", "rulectl.yml", None, None, "`acount_summary` in `acount_summary.summary` is not a prompt; did you mean `account_summary`"),
    ("search text not a column", "rulectl.yml", None, None, "`stat` is not a prompt, a customer column or a metric; did you mean `state`"),
    ("search model not a 768 model", "rulectl.yml", None, None, "`text-embedding-3-small` is not a 768-dimension Cortex AI_EMBED model"),
    ("search schedule nonsense", "rulectl.yml", None, None, "`schedule`:"),
    ("search without text", "rulectl.yml", None, None, "at least 1 item"),
    ("search text twice", "rulectl.yml", None, None, "`state` is listed twice"),
    ("embedding model without an endpoint", "rulectl.yml", None, None, "`embedding_model` is served by an endpoint"),
    ("local model missing", "rulectl.yml", None, None, "provider `local` needs `model`"),
    ("local model neither catalog nor gguf", "rulectl.yml", None, None, "model `qwen-tiny` is neither a catalog model (qwen2.5-coder-0.5b"),
    ("local model with base_url", "rulectl.yml", None, None, "provider `local` serves the model itself: remove `base_url`"),
    ("local model with model_map", "rulectl.yml", None, None, "remove `model_map`"),
    ("local threads zero", "rulectl.yml", None, None, "threads"),
    ("local context too small", "rulectl.yml", None, None, "context"),
    ("local parallel not a number", "rulectl.yml", None, None, "parallel"),
    ("threads without provider local", "rulectl.yml", None, None, "`threads`, `context` and `parallel` are settings of `provider: local`"),
    ("search unknown key", "rulectl.yml", None, None, "unknown key `modle` in search; did you mean `model`"),
    ("search demo query empty", "rulectl.yml", None, None, "`search.demo_query`: String should have at least 1 character"),
    ("search demo query not text", "rulectl.yml", None, None, "`search.demo_query` must be text, not a list"),
    ("semantic view on a local target", "rulectl.yml", None, None, "`semantic_view: true` needs a snowflake target (DuckDB has no semantic views)"),
    ("sentiment of an unknown column", "rulectl.yml", None, None, "`text`: `bodyy` is not a column of source `support_tickets`; did you mean `body`"),
    ("sentiment of a date column", "rulectl.yml", None, None, "`text`: column `opened_on` is date, not text; sentiment scores a varchar column"),
    ("sentiment schedule nonsense", "rulectl.yml", None, None, "`schedule`: `hourly` is not a task schedule"),
    ("sentiment unknown key", "rulectl.yml", None, None, "unknown key `txt`"),
    ("refresh when_changed unknown column", "prompts/account_summary.yml", None, None, "`when_changed`: `total_ar` is not a column of customer_segments; did you mean `total_arr`"),
    ("refresh ignore_changes not a placeholder", "prompts/account_summary.yml", None, None, "`ignore_changes`: `population` is not a placeholder of the prompt"),
    ("refresh input listed twice", "prompts/account_summary.yml", None, None, "`ignore_changes`: `days_to_renewal` is listed twice"),
    ("refresh both decision lists", "prompts/account_summary.yml", None, None, "give `when_changed` (the inputs that decide) or `ignore_changes` (the inputs that do not), not both"),
    ("refresh when_changed empty", "prompts/account_summary.yml", None, None, "at least 1 item"),
    ("refresh max_age zero", "prompts/account_summary.yml", None, None, "greater than or equal to 1"),
    ("refresh budget below one reply", "prompts/account_summary.yml", None, None, "`max_credits` 1e-05 is less than one reply may cost (600 max_tokens at 0.19 credits per million tokens on llama3.1-8b = 0.000114 credits)"),
    ("refresh budget not a number", "prompts/account_summary.yml", None, None, "max_credits"),
    # sources at their own grain and lookups (issue 23, issue 26 item 5)
    ("customer key of another type", "rulectl.yml", None, None, "`account_ref` is integer but the customer key `customer_id` of `customer` is varchar; its rows would match no customer: declare `account_ref` as varchar"),
    ("customer key not a column", "rulectl.yml", None, None, "`customer_key`: `acount_ref` is not a column of `tickets`; did you mean `account_ref`?"),
    ("grain without a customer key", "rulectl.yml", None, None, "source `tickets` has no column with the customer's key: its columns do not include `customer_id` (the key of `customer`); name the column that holds it, e.g. `customer_key: account_id`"),
    ("customer key beside a column named like the key", "rulectl.yml", None, None, "`tickets` has a column `customer_id` too, but its customer is in `account_ref`"),
    ("customer key on a key source", "rulectl.yml", None, None, "on a `key:` source the key is the customer key: remove `customer_key:`"),
    ("lookup key not a column", "rulectl.yml", None, None, "lookup key `currncy` is not one of the source's columns"),
    ("lookup with a grain", "rulectl.yml", None, None, "exactly one of `key:` (one row per customer), `grain:`"),
    ("join an unknown source", "rulectl.yml", None, None, "`rats` is not a source this one can join; did you mean `rates`?"),
    ("join on an unknown column", "rulectl.yml", None, None, "`curency` is not a column of `invoices`; did you mean `currency`?"),
    ("join on a column of another type", "rulectl.yml", None, None, "`amount` is float but the `currency` of `rates` is varchar; no row would ever match"),
    ("join that would repeat rows", "rulectl.yml", None, None, "`products` has several rows per customer_id and module, so joining it would repeat rows of `invoices`"),
    ("join adds a column the source has", "rulectl.yml", None, None, "source `invoices`, `join`: `rates` would add column `amount`, which the rows of `invoices` already have; leave `amount` out of the `columns:` of the source you do not read it from"),
    ("join on the customer list", "rulectl.yml", None, None, "`customer` lists the customers and is read as it is"),
]

# The example prompt's `outputs:` section, replaced whole by the outputs cases
OUTPUTS_BLOCK = "outputs:" + (REPO / "prompts" / "account_summary.yml").read_text().split("\noutputs:", 1)[1]

# a support-tickets source with a sentiment enrichment, inserted before `display:` (line 34: `sentiment:`)
TICKETS = (
    "  support_tickets:\n    table: SUPPORT.TICKETS\n    grain: [customer_id, ticket_id]\n"
    "    columns: {{customer_id: varchar, ticket_id: varchar, opened_on: date, body: varchar}}\n"
    "    enrich:\n      sentiment: {}\ndisplay:"
)

DISPLAY_END = "  columns: [state, modules_owned]                           # shown beside each insight\n"  # rulectl.yml's last line (32)

# a ticket source at its own grain, inserted before `display:` (line 29): customer_key on line 32
GRAIN_SOURCE = "  tickets:\n    table: SUPPORT.TICKETS\n    grain: [ticket_id]\n{}    columns: {{{}}}\ndisplay:"
# a rates lookup (lines 29-32) and an invoice source that joins it (its `join:` on line 37)
LOOKUP_SOURCES = (
    "  rates:\n    table: REF.RATES\n    lookup: {{key: {}}}\n    columns: {{currency: varchar, eur_per_unit: float{}}}\n"
    "  invoices:\n    table: BILLING.INVOICES\n    grain: [invoice_id]\n    columns: {{invoice_id: varchar, customer_id: varchar, currency: varchar, amount: float}}\n"
    "    join: {{{}}}\ndisplay:"
)

# Edits to the example project's own files: (case id) → (old text, new text, expected line)
EDITS = {
    "customer key of another type": ("display:", GRAIN_SOURCE.format("    customer_key: account_ref\n", "ticket_id: varchar, account_ref: integer"), 32),
    "customer key not a column": ("display:", GRAIN_SOURCE.format("    customer_key: acount_ref\n", "ticket_id: varchar, account_ref: varchar"), 32),
    "grain without a customer key": ("display:", GRAIN_SOURCE.format("", "ticket_id: varchar, body: varchar"), 31),
    "customer key beside a column named like the key": ("display:", GRAIN_SOURCE.format("    customer_key: account_ref\n", "ticket_id: varchar, account_ref: varchar, customer_id: varchar"), 32),
    "customer key on a key source": ("    key: customer_id\n", "    key: customer_id\n    customer_key: account_ref\n", 17),
    "lookup key not a column": ("display:", LOOKUP_SOURCES.format("currncy", "", "rates: currency"), 29),
    "lookup with a grain": ("display:", LOOKUP_SOURCES.format("currency", "", "rates: currency").replace("    lookup:", "    grain: [currency]\n    lookup:", 1), 29),
    "join an unknown source": ("display:", LOOKUP_SOURCES.format("currency", "", "rats: currency"), 37),
    "join on an unknown column": ("display:", LOOKUP_SOURCES.format("currency", "", "rates: curency"), 37),
    "join on a column of another type": ("display:", LOOKUP_SOURCES.format("currency", "", "rates: amount"), 37),
    "join that would repeat rows": ("display:", LOOKUP_SOURCES.format("currency", "", "products: customer_id"), 37),
    "join adds a column the source has": ("display:", LOOKUP_SOURCES.format("currency", ", amount: float", "rates: currency"), 37),
    "join on the customer list": ("    key: customer_id\n", "    key: customer_id\n    join: {products: customer_id}\n", 20),
    "currency code": ("format: currency, label: ARR}", "format: currency, currency: EURO, label: ARR}", 31),
    "load check policy": ("    sample: data/sample_inputs/products.csv\n", "    sample: data/sample_inputs/products.csv\n    checks: {orphans: sometimes}\n", 29),
    "entity is not a key-grain source": ("entity: customer ", "entity: products ", 4),
    "project name with a colon": ("name: customer_intelligence", "name: 'customer:intelligence'", 2),
    "source without grain": ("    grain: [customer_id, module]   # one row per customer per module\n", "", 23),
    "unknown column type": ('arr: "number(12,2)"', 'arr: "money please"', 26),
    "unknown default target": ("default_target: local", "default_target: nowhere", 3),
    "prompt placeholder": ("Customer: {customer_name} ({state}), a", "Customer: {customer_nme} ({state}), a", 9),
    "prompt weights": ("{name: control, weight: 50}", "{name: control, weight: 40}", 22),
    "prompt cron": ("USING CRON 0 6 * * * UTC", "USING CRON 0 25 * * * UTC", 15),
    "prompt timezone": ("USING CRON 0 6 * * * UTC", "USING CRON 0 6 * * * Mars/Olympus", 15),
    "prompt temperature": ("temperature: 0.2", "temperature: 1.7", 6),
    "prompt unknown input": ("input: customer_segments", "input: customer_segmnts", 3),
    "prompt unknown key": ("temperature: 0.2", "temprature: 0.2", 6),
    "prompt key not a column": ("key: customer_id", "key: customer", 4),
    "display name unknown": ("  name: customer_name ", "  name: customer_nme ", 30),
    "display size not a metric": ("{metric: total_arr,", "{metric: total_ar,", 31),
    "display column unknown": ("columns: [state, modules_owned]", "columns: [state, modules]", 32),
    "display size format": ("format: currency", "format: dollars", 31),
    "outputs unknown type": (OUTPUTS_BLOCK, "outputs: {risk: {type: category}}\n", 30),
    "outputs label without labels": (OUTPUTS_BLOCK, "outputs: {risk: {type: label}}\n", 30),
    "outputs setting of another type": (OUTPUTS_BLOCK, "outputs: {risk: {type: text, labels: [low, high]}}\n", 30),
    "outputs reuse a bookkeeping column": (OUTPUTS_BLOCK, "outputs: {response: {type: text}}\n", 30),
    "outputs minimum above maximum": (OUTPUTS_BLOCK, "outputs: {health: {type: number, minimum: 5, maximum: 1}}\n", 30),
    "outputs name Cortex refuses": (OUTPUTS_BLOCK, "outputs: {" + "a" * 65 + ": {type: text}}\n", 30),
    "outputs empty": (OUTPUTS_BLOCK, "outputs: {}\n", 30),
    "outputs misspelled setting": (OUTPUTS_BLOCK, "outputs: {risk: {type: label, lables: [low]}}\n", 30),
    "output named like the insights view": ("output: ACCOUNT_INSIGHTS", "output: CUSTOMER_INSIGHTS", 13),
    "output named like a prompt's latest view": ("output: ACCOUNT_INSIGHTS", "output: latest_account_summary", 13),
    "prompt duplicate variant": ("    - name: action_first\n", "    - name: control\n", 24),
    "prompt variant placeholder": ("Tier: {account_tier}. Opportunities: {opportunities}.\n        Modules", "Tier: {tier}. Opportunities: {opportunities}.\n        Modules", 27),
    "prompt max_rows zero": ("max_rows: 1000", "max_rows: 0", 17),
    "prompt schedule nonsense": ("USING CRON 0 6 * * * UTC", "every morning please", 15),
    "api key from a snowflake variable": ("llm: {provider: offline}", "llm: {provider: openai, base_url: 'http://h/v1', api_key_env: SNOWFLAKE_PASSWORD}", 9),
    "api key from a rulectl variable": ("llm: {provider: offline}", "llm: {provider: openai, base_url: 'http://h/v1', api_key_env: rulectl_home}", 9),
    "api key variable is a key": ("llm: {provider: offline}", "llm: {provider: openai, base_url: 'http://h/v1', api_key_env: sk-abc123}", 9),
    "outcome is a number": ("  salt: account-summary-2026-11\n", "  salt: account-summary-2026-11\n  outcome: total_arr\n", 22),
    "outcome is text": ("  salt: account-summary-2026-11\n", "  salt: account-summary-2026-11\n  outcome: state\n", 22),
    "cron without a time zone": ("USING CRON 0 6 * * * UTC", "USING CRON 0 7 * * MON", 15),
    "prompt schedule singular hour": ("USING CRON 0 6 * * * UTC", "1 HOUR", 15),
    "prompt schedule beyond eight days": ("USING CRON 0 6 * * * UTC", "20000 MINUTES", 15),
    "cron outside snowflake's subset": ("USING CRON 0 6 * * * UTC", "USING CRON 0 6 * * 1#2 UTC", 15),
    "cron sunday as seven": (DISPLAY_END, DISPLAY_END + "search:\n  text: [state]\n  schedule: USING CRON 0 6 * * 7 UTC\n", 35),
    "serverless tasks and a warehouse": ("    warehouse: AI_WH", "    warehouse: AI_WH\n    serverless_tasks: true", 10),
    "sentiment of an unknown column": ("display:", TICKETS.format("{text: bodyy}"), 34),
    "sentiment of a date column": ("display:", TICKETS.format("{text: opened_on}"), 34),
    "sentiment schedule nonsense": ("display:", TICKETS.format("{text: body, schedule: hourly}"), 34),
    "sentiment unknown key": ("display:", TICKETS.format("{txt: body}"), 34),
    "placeholder never closed": ("Customer: {customer_name} ({state}), a", "Customer: {customer_name ({state}), a", 9),
    "outcome value not a label": ("  salt: account-summary-2026-11\n", "  salt: account-summary-2026-11\n  outcome: risk = 'very high'\n", 22),
    "search text not a field": (DISPLAY_END, DISPLAY_END + "search:\n  text: [account_summary.sumary]\n", 34),
    "search text not a prompt": (DISPLAY_END, DISPLAY_END + "search:\n  text: [acount_summary.summary]\n", 34),
    "search text not a column": (DISPLAY_END, DISPLAY_END + "search:\n  text: [account_summary, stat]\n", 34),
    "search model not a 768 model": (DISPLAY_END, DISPLAY_END + "search:\n  text: [state]\n  model: text-embedding-3-small\n", 35),
    "search schedule nonsense": (DISPLAY_END, DISPLAY_END + "search:\n  text: [state]\n  schedule: nightly\n", 35),
    "search without text": (DISPLAY_END, DISPLAY_END + "search:\n  text: []\n", 34),
    "search text twice": (DISPLAY_END, DISPLAY_END + "search:\n  text: [state, account_tier, state]\n", 34),
    "embedding model without an endpoint": ("llm: {provider: offline}", "llm: {provider: offline, embedding_model: nomic-embed-text}", 9),
    "search unknown key": (DISPLAY_END, DISPLAY_END + "search:\n  text: [state]\n  modle: e5-base-v2\n", 35),
    "search demo query empty": (DISPLAY_END, DISPLAY_END + 'search:\n  text: [state]\n  demo_query: ""\n', 35),
    "search demo query not text": (DISPLAY_END, DISPLAY_END + "search:\n  text: [state]\n  demo_query: [budget, renewal]\n", 35),
    "local model missing": ("llm: {provider: offline}", "llm: {provider: local}", 9),
    "local model neither catalog nor gguf": ("llm: {provider: offline}", "llm: {provider: local, model: qwen-tiny}", 9),
    "local model with base_url": ("llm: {provider: offline}", "llm: {provider: local, model: qwen2.5-coder-0.5b, base_url: 'http://h/v1'}", 9),
    "local model with model_map": ("llm: {provider: offline}", "llm: {provider: local, model: qwen2.5-coder-0.5b, model_map: {snowflake-arctic: x}}", 9),
    "local threads zero": ("llm: {provider: offline}", "llm: {provider: local, model: qwen2.5-coder-0.5b, threads: 0}", 9),
    "local context too small": ("llm: {provider: offline}", "llm: {provider: local, model: qwen2.5-coder-0.5b, context: 100}", 9),
    "local parallel not a number": ("llm: {provider: offline}", "llm: {provider: local, model: qwen2.5-coder-0.5b, parallel: many}", 9),
    "threads without provider local": ("llm: {provider: offline}", "llm: {provider: offline, threads: 2}", 9),
    "refresh when_changed unknown column": ("ignore_changes: [days_to_renewal, tenure_years]", "when_changed: [account_tier, total_ar]", 18),
    "refresh ignore_changes not a placeholder": ("ignore_changes: [days_to_renewal, tenure_years]", "ignore_changes: [days_to_renewal, population]", 18),
    "refresh input listed twice": ("ignore_changes: [days_to_renewal, tenure_years]", "ignore_changes: [days_to_renewal, days_to_renewal]", 18),
    "refresh both decision lists": ("ignore_changes: [days_to_renewal, tenure_years]", "ignore_changes: [days_to_renewal]\n  when_changed: [account_tier]", 14),
    "refresh when_changed empty": ("ignore_changes: [days_to_renewal, tenure_years]", "when_changed: []", 18),
    "refresh max_age zero": ("max_age: 30", "max_age: 0", 19),
    "refresh budget below one reply": ("  max_rows: 1000\n", "  max_rows: 1000\n  max_credits: 0.00001\n", 18),
    "refresh budget not a number": ("  max_rows: 1000\n", "  max_rows: 1000\n  max_credits: lots\n", 18),
    "semantic view on a local target": ("    path: .rulectl/local.duckdb\n", "    path: .rulectl/local.duckdb\n    semantic_view: true\n", 6),
}


def write_case(project: Path, file: str, content, case_id: str) -> int:
    path = project / file
    if content is None:
        old, new, line = EDITS[case_id]
        text = path.read_text()
        assert old in text, f"{case_id}: {old!r} not in {file}"
        path.write_text(text.replace(old, new, 1))
        return line
    path.parent.mkdir(exist_ok=True)  # tests/ for rule tests
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return -1


@pytest.mark.parametrize("case_id, file, content, line, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_reported_with_file_and_line(project: Path, case_id, file, content, line, words):
    if file == "rules/segments.yml" and content is not None:
        (project / "prompts" / "account_summary.yml").unlink()  # the prompt reads the real segments
    edited_line = write_case(project, file, content, case_id)
    line = line if line is not None else edited_line
    before = sorted(p.name for p in project.rglob("*"))

    result = run("validate", project=project)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{file}:{line}: " in result.output, result.output
    assert words in result.output, result.output
    assert sorted(p.name for p in project.rglob("*")) == before  # nothing created or touched


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_all_problems_are_reported_at_once(project: Path):
    (project / "rules" / "metrics.yml").write_text(
        "metrics:\n  - name: a\n    source: prodcts\n    expr: SUM(arr)\n  - name: b\n    source: products\n    expr: SUM(nope)\n"
    )
    result = run("validate", project=project)
    assert result.exit_code == 1
    assert "rules/metrics.yml:3:" in result.output and "rules/metrics.yml:7:" in result.output
