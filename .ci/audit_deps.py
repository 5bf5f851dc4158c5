"""`make audit-deps`: fail on a known vulnerability in the installed environment (issue 15).

1. pip-audit audits every installed distribution (the project itself, editable, is skipped):
   with OSV first, then with PyPI's vulnerability service when OSV cannot be reached.
2. A distribution pip-audit could not audit (PyPI's per-release JSON page did not answer) is
   checked against PyPI's project page, whose `vulnerabilities` are those of the latest release:
   that is this release's answer when the installed version is the latest one.
3. Any known vulnerability fails the run (exit 1), unless its id is in IGNORED with a reason.
   Whatever could not be audited is listed by name, with the reason, and counted in the closing
   line; a run that could audit nothing at all fails (exit 2): no silent pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
TIMEOUT = 30
# Vulnerability id -> why it does not apply here (reviewed; keep this short and dated).
IGNORED: dict[str, str] = {}
# This project, installed editable; a different project of the same name exists on PyPI.
OURS = "identity"


def pip_audit(service: str) -> dict[str, Any] | None:
    pip_audit_bin = Path(sys.executable).with_name("pip-audit")
    command = [
        str(pip_audit_bin),
        "--format=json",
        "--progress-spinner=off",
        "--skip-editable",
        f"--vulnerability-service={service}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit with {service}: no report ({last[:300]})", file=sys.stderr)
        return None


def audited_by(report: dict[str, Any]) -> int:
    return sum(1 for dep in report["dependencies"] if "skip_reason" not in dep)


def installed_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def project_page(name: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(PYPI_PROJECT.format(name=name), timeout=TIMEOUT) as answer:  # noqa: S310
            return json.load(answer)
    except (urllib.error.URLError, TimeoutError, ValueError):
        return None


def main() -> int:
    report = None
    for service in ("osv", "pypi"):
        report = pip_audit(service)
        if report is not None and audited_by(report) > 0:
            print(f"pip-audit: {audited_by(report)} distributions audited with {service}")
            break
    if report is None:
        print("audit-deps: pip-audit could not run at all", file=sys.stderr)
        return 2
    found: list[str] = []
    not_audited: list[str] = []
    audited = 0
    for dep in report["dependencies"]:
        name = dep["name"]
        if name == OURS:
            continue
        version = dep.get("version") or installed_version(name)
        if "skip_reason" not in dep:
            audited += 1
            found += [f"{name} {version}: {v['id']} (fixed in {v.get('fix_versions')})" for v in dep["vulns"]]
            continue
        page = project_page(name)
        if page is None:
            not_audited.append(f"{name} {version}: {dep['skip_reason']}")
            continue
        latest = page["info"]["version"]
        if latest != version:
            not_audited.append(f"{name} {version}: per-release data unavailable; latest is {latest}")
            continue
        audited += 1
        live = [v for v in page.get("vulnerabilities", []) if not v.get("withdrawn")]
        found += [f"{name} {version}: {v['id']} (fixed in {v.get('fixed_in')})" for v in live]
    reported = [line for line in found if line.split(": ")[1].split(" ")[0] not in IGNORED]
    for line in not_audited:
        print(f"NOT AUDITED  {line}")
    for line in reported:
        print(f"VULNERABLE   {line}")
    print(f"audit-deps: {audited} audited, {len(not_audited)} not audited, {len(reported)} vulnerable")
    if reported:
        return 1
    return 2 if audited == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
