""".ci/audit_deps.py (`make audit-deps`): a known vulnerability fails the run, whichever source
found it; what could not be audited is named; a run that audited nothing fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "audit_deps.py"


@pytest.fixture
def audit(monkeypatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "installed_version", lambda name: "1.0")
    return module


def fake(monkeypatch, audit: ModuleType, report: dict[str, Any] | None, pages: dict[str, Any]) -> None:
    monkeypatch.setattr(audit, "pip_audit", lambda service: report)
    monkeypatch.setattr(audit, "project_page", lambda name: pages.get(name))


def page(version: str, *vulns: str) -> dict[str, Any]:
    return {"info": {"version": version}, "vulnerabilities": [{"id": v, "fixed_in": ["9"]} for v in vulns]}


def test_a_vulnerability_pip_audit_finds_fails(monkeypatch, audit, capsys) -> None:
    report = {
        "dependencies": [{"name": "a", "version": "1.0", "vulns": [{"id": "PYSEC-1", "fix_versions": []}]}]
    }
    fake(monkeypatch, audit, report, {})
    assert audit.main() == 1
    assert "VULNERABLE   a 1.0: PYSEC-1" in capsys.readouterr().out


def test_the_project_page_audits_a_latest_release_pip_audit_could_not(monkeypatch, audit, capsys) -> None:
    skipped = {"name": "b", "skip_reason": "Dependency not found on PyPI"}
    fake(monkeypatch, audit, {"dependencies": [skipped]}, {"b": page("1.0", "GHSA-x")})
    assert audit.main() == 1
    fake(monkeypatch, audit, {"dependencies": [skipped]}, {"b": page("1.0")})
    assert audit.main() == 0
    assert "1 audited, 0 not audited, 0 vulnerable" in capsys.readouterr().out


def test_what_cannot_be_audited_is_named_and_nothing_audited_fails(monkeypatch, audit, capsys) -> None:
    skipped = {"name": "c", "skip_reason": "Dependency not found on PyPI"}
    fake(monkeypatch, audit, {"dependencies": [skipped]}, {"c": page("2.0", "GHSA-y")})
    assert audit.main() == 2
    assert "NOT AUDITED  c 1.0: per-release data unavailable; latest is 2.0" in capsys.readouterr().out
    fake(monkeypatch, audit, None, {})
    assert audit.main() == 2


def test_the_project_itself_is_not_confused_with_its_namesake(monkeypatch, audit, capsys) -> None:
    ours = {"name": "identity", "skip_reason": "editable"}
    other = {"name": "d", "version": "1.0", "vulns": []}
    fake(monkeypatch, audit, {"dependencies": [ours, other]}, {"identity": page("1.0", "GHSA-z")})
    assert audit.main() == 0
    assert "identity" not in capsys.readouterr().out
