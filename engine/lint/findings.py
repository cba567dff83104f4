"""What lint reports: one finding per problem, located at file:line, with an example customer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WARNING, INFO = "warning", "info"


@dataclass(frozen=True)
class Finding:
    """One lint result. `example` maps each input the rule reads to a value (None = NULL)."""

    severity: str  # WARNING counts for --strict; INFO is shown only
    kind: str  # unsatisfiable | unreachable | overlap | gap | no-match | large-segment
    file: str
    line: int
    message: str
    example: dict[str, Any] = field(default_factory=dict)
    approximate: bool = False  # the example relies on a part the solver treats as opaque

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"

    def example_text(self) -> str:
        if not self.example:
            return ""
        values = ", ".join(f"{name} = {format_value(value)}" for name, value in self.example.items())
        note = " (approximate: part of the condition is beyond the solver)" if self.approximate else ""
        return f"e.g. a customer with {values}{note}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "example": self.example,
            "approximate": self.approximate,
        }


def format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # every digit the value has (up to 12 significant): 149999.98 must never print as 150000 beside
        # a threshold of 150000, or a rule that is false looks true
        return f"{value:.12g}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)
