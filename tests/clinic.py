"""A fourth project shape, a small clinic: patients keyed by `patient_ref` with float, integer and
number(12,3) columns, visits at visit grain, metrics in three currencies, a percent and plain
decimals, one prompt that reads every number, and (`with_notes`) visit notes in several languages.

Written by the tests that need it (none of the example's names). The expected prompt text of each
patient is written out by hand beside the data (HAND_TEXT), not computed by rulectl's rules.
"""

from __future__ import annotations

import csv
from pathlib import Path

RULECTL_YML = """\
name: clinic_notes
default_target: local
entity: patients
targets:
  local: {engine: duckdb, path: .rulectl/local.duckdb, llm: {provider: offline}}
  prod: {engine: snowflake, connection: prod, database: CLINIC, warehouse: CARE_WH}
schemas: {analytics: CARE, ai: CARE_AI}
sources:
  patients:
    table: RAW.PATIENTS
    key: patient_ref
    columns: {patient_ref: varchar, full_name: varchar, weight_kg: float, age: integer, balance: "number(12,3)"}
    sample: data/patients.csv
  visits:
    table: RAW.VISITS
    grain: [patient_ref, visit_no]
    columns: {patient_ref: varchar, visit_no: integer, fee: "number(10,2)", minutes: integer, rate: float}
    sample: data/visits.csv
"""

METRICS = """\
metrics:
  - name: total_fees
    source: visits
    expr: SUM(fee)
    format: currency
    currency: EUR
  - name: fees_chf
    source: visits
    expr: SUM(fee)
    format: currency
    currency: chf
  - name: fees_yen
    source: visits
    expr: SUM(fee) * 150
    format: currency
    currency: JPY
  - name: visit_count
    source: visits
    expr: COUNT(*)
  - name: avg_minutes
    source: visits
    expr: AVG(minutes)
  - name: mean_rate
    source: visits
    expr: AVG(rate)
  - name: precise_rate
    source: visits
    expr: AVG(rate)
    decimals: 4
  - name: visit_share
    expr: visit_count / 3.0
    format: percent
  - name: net_due
    expr: balance - total_fees
    format: currency
"""

SEGMENTS = """\
segmentations:
  - name: load
    rules:
      - {segment: Busy, when: visit_count >= 2}
    default: Quiet
"""

FIELDS = ("full_name", "weight_kg", "age", "balance", "total_fees", "fees_chf", "fees_yen", "visit_count",
          "avg_minutes", "mean_rate", "precise_rate", "visit_share", "net_due")

PROMPT = "name: visit_brief\ninput: customer_segments\nkey: patient_ref\nmodel: llama3.1-8b\noutput: VISIT_BRIEFS\ntemplate: |\n  " + " ".join(
    f"{field}={{{field}}}" for field in FIELDS
) + "\n  Write one sentence.\n"

PATIENTS = [  # patient_ref, full_name, weight_kg, age, balance
    ("P1", "Ana", "70.25", "34", "100.500"),
    ("P2", "Ben", "81.0", "50", "0"),
    ("P3", "Cleo", "", "7", "5.125"),
    ("P4", "Dan", "59.999", "41", "1000"),
]
VISITS = [  # patient_ref, visit_no, fee, minutes, rate
    ("P1", "1", "20.50", "10", "0.1"), ("P1", "2", "30.25", "15", "0.2"), ("P1", "3", "12.00", "16", "0.7"),
    ("P2", "4", "45.00", "30", "0.25"), ("P2", "5", "45.00", "30", "0.25"),
    ("P4", "6", "0.01", "1", "0.005"),
]

# By hand: fees 20.50 + 30.25 + 12.00 = 62.75; ¥ 62.75 × 150 = 9412.5 → 9413 (no minor unit, half away
# from zero); minutes 41 / 3 = 13.666… → 13.67; rates 1.0 / 3 → 0.33 (0.3333 at 4 decimals);
# share 2 / 3 → 66.7 %; Ben owes 0 − 90; Cleo has no visits (sums and averages n/a, count 0);
# Dan's 0.005 rounds up at 2 decimals, his 59.999 kg to 60, his ¥ 0.01 × 150 = 1.5 to 2.
HAND_TEXT = {
    "P1": dict(full_name="Ana", weight_kg="70.25", age="34", balance="100.5", total_fees="€62.75", fees_chf="62.75 CHF", fees_yen="¥9413",
               visit_count="3", avg_minutes="13.67", mean_rate="0.33", precise_rate="0.3333", visit_share="100%", net_due="$37.75"),
    "P2": dict(full_name="Ben", weight_kg="81", age="50", balance="0", total_fees="€90.00", fees_chf="90.00 CHF", fees_yen="¥13500",
               visit_count="2", avg_minutes="30", mean_rate="0.25", precise_rate="0.25", visit_share="66.7%", net_due="-$90.00"),
    "P3": dict(full_name="Cleo", weight_kg="n/a", age="7", balance="5.125", total_fees="n/a", fees_chf="n/a", fees_yen="n/a",
               visit_count="0", avg_minutes="n/a", mean_rate="n/a", precise_rate="n/a", visit_share="0%", net_due="n/a"),
    "P4": dict(full_name="Dan", weight_kg="60", age="41", balance="1000", total_fees="€0.01", fees_chf="0.01 CHF", fees_yen="¥2",
               visit_count="1", avg_minutes="1", mean_rate="0.01", precise_rate="0.005", visit_share="33.3%", net_due="$999.99"),
}


def data_block(patient: str) -> str:
    """The data block rulectl must send for `patient` (HAND_TEXT, one `field: value` line each)."""
    return "<data>\n" + "".join(f"{field}: {HAND_TEXT[patient][field]}\n" for field in FIELDS) + "</data>"


def write_clinic(root: Path, metrics: str = METRICS) -> Path:
    """Lay the clinic project out under `root`."""
    for folder in ("rules", "prompts", "data"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "rulectl.yml").write_text(RULECTL_YML)
    (root / "rules" / "metrics.yml").write_text(metrics)
    (root / "rules" / "segments.yml").write_text(SEGMENTS)
    (root / "prompts" / "visit_brief.yml").write_text(PROMPT)
    _write_csv(root / "data" / "patients.csv", ["patient_ref", "full_name", "weight_kg", "age", "balance"], PATIENTS)
    _write_csv(root / "data" / "visits.csv", ["patient_ref", "visit_no", "fee", "minutes", "rate"], VISITS)
    return root


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# Visit notes in four languages, scored by sentiment. By hand (VADER's compound, py3langid's guess):
# 5 of the 8 notes are German (3), French and Spanish, and 4 of those score neutral; the negative
# German note is scored (-0.83, for `die`, a word VADER knows), "Ticket closed" is too short to tell.
NOTES = [  # patient_ref, note_no, body
    ("P1", "1", "The nurse was wonderful and very kind."),
    ("P1", "2", "Wir sind sehr zufrieden mit der Behandlung in der Praxis."),
    ("P2", "3", "Très bon accueil, je recommande vivement cette clinique."),
    ("P2", "4", "Patient came in for a routine follow-up."),
    ("P3", "5", "El médico fue muy amable y explicó todo con paciencia."),
    ("P4", "6", "Ticket closed"),
    ("P4", "7", "Die Wartezeit war viel zu lang und das Personal unfreundlich."),
    ("P4", "8", "Der Arzt war super, fünf Sterne!"),
]
NOTES_LANGUAGE_NOTE = "5 of 8 text(s) look non-English (de 3, es 1, fr 1; 4 scored neutral)"
NOTES_SOURCE = """  notes:
    table: RAW.VISIT_NOTES
    grain: [patient_ref, note_no]
    columns: {patient_ref: varchar, note_no: integer, body: varchar}
    sample: data/notes.csv
    enrich:
      sentiment: {text: body}
"""


def with_notes(root: Path) -> Path:
    """Add the visit notes, scored by sentiment, and a metric over their scores."""
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text() + NOTES_SOURCE)
    metrics = root / "rules" / "metrics.yml"
    metrics.write_text(metrics.read_text() + "  - name: note_mood\n    source: notes_sentiment\n    expr: AVG(sentiment)\n")
    _write_csv(root / "data" / "notes.csv", ["patient_ref", "note_no", "body"], NOTES)
    return root
