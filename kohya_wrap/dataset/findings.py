"""Finding: one problem (or note) about a dataset file or folder, with a severity and a fix hint."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

ERROR = "error"  # would stop or spoil the run: blocks the launch
WARNING = "warning"  # training runs, but not the way the user probably expects
INFO = "info"  # worth knowing, nothing to fix

SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass
class Finding:
    severity: str
    code: str
    path: str | None
    message: str
    hint: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def error(code: str, path, message: str, hint: str = "") -> Finding:
    return Finding(ERROR, code, _text(path), message, hint)


def warning(code: str, path, message: str, hint: str = "") -> Finding:
    return Finding(WARNING, code, _text(path), message, hint)


def info(code: str, path, message: str, hint: str = "") -> Finding:
    return Finding(INFO, code, _text(path), message, hint)


def _text(path) -> str | None:
    return None if path is None else str(path)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.code, f.path or ""))


def count_by_severity(findings: list[Finding]) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {level: counts.get(level, 0) for level in (ERROR, WARNING, INFO)}


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)


def summarise(findings: list[Finding]) -> list[dict]:
    """One row per (severity, code): how many, the first path, the message and hint of the first."""
    rows: dict[tuple[str, str], dict] = {}
    for finding in sort_findings(findings):
        key = (finding.severity, finding.code)
        if key not in rows:
            rows[key] = {"severity": finding.severity, "code": finding.code, "count": 0,
                         "example": finding.path, "message": finding.message, "hint": finding.hint}
        rows[key]["count"] += 1
    return list(rows.values())
