"""SARIF 2.1.0 rendering of a layout diff, for code-scanning views (GitHub, GitLab, Azure DevOps).

One ``run`` of the tool ``netmem-ffi``; one rule per change kind found; one
``result`` per change of each group of pairs with identical changes, at level
``error`` when it breaks the ABI and ``note`` when it does not.  Each result is
located in the old side when it is a snapshot file (the baseline a gate reads)
and logically at the member, struct or enum (``struct net_iov.owner``).  An unreadable input is
an error ``toolExecutionNotification`` and makes the invocation unsuccessful.
"""

from __future__ import annotations

import json

from netmem_ffi.abi.version import __version__
from netmem_ffi.abicheck.compare import Change
from netmem_ffi.abicheck.diff import DiffResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
INFORMATION_URI = "https://docs.kernel.org/networking/netmem.html"


def _rule(kind: str) -> dict[str, Any]:
    words = kind.replace("_", " ")
    return {"id": kind, "name": "".join(w.capitalize() for w in kind.split("_")),
            "shortDescription": {"text": f"netmem layout change: {words}"}}


def _logical(change: Change) -> dict[str, Any]:
    name = change.container + (f".{change.member}" if change.member else "")
    kind = "member" if change.member and change.container.startswith("struct ") else (
        "enumerator" if change.member else "type")
    return {"fullyQualifiedName": name, "kind": kind}


def _result(change: Change, where: str, arches: list[str], uri: str, rule_index: int) -> dict[str, Any]:
    location: dict[str, Any] = {"logicalLocations": [_logical(change)]}
    if uri.endswith(".json"):
        location["physicalLocation"] = {"artifactLocation": {"uri": uri}}
    return {
        "ruleId": change.kind,
        "ruleIndex": rule_index,
        "level": "error" if change.breaking else "note",
        "message": {"text": f"{where}: {change.describe()}"},
        "locations": [location],
        "properties": {"pair": where, "architectures": arches, "breaking": change.breaking,
                       "old": change.before, "new": change.after},
    }


def sarif_log(result: DiffResult) -> dict[str, Any]:
    """The SARIF log object of *result*."""
    groups = result.groups()
    kinds = list(dict.fromkeys(c.kind for g in groups for c in g.first.changes))
    index = {k: i for i, k in enumerate(kinds)}
    results = [_result(c, g.label, g.arches, result.old_label, index[c.kind]) for g in groups for c in g.first.changes]
    notifications = [{"level": "error", "message": {"text": e.message},
                      "locations": [{"physicalLocation": {"artifactLocation": {"uri": e.source}}}]}
                     for e in result.errors]
    return {
        "$schema": SCHEMA_URI,
        "version": VERSION,
        "runs": [{
            "tool": {"driver": {"name": "netmem-ffi", "version": __version__, "informationUri": INFORMATION_URI,
                                "rules": [_rule(k) for k in kinds]}},
            "invocations": [{"executionSuccessful": not result.errors, "exitCode": result.exit_code,
                             "toolExecutionNotifications": notifications}],
            "results": results,
            "properties": {"old": result.old_label, "new": result.new_label, "summary": result.summary()},
        }],
    }


def render_sarif(result: DiffResult) -> str:
    """*result* as SARIF 2.1.0 JSON text."""
    return json.dumps(sarif_log(result), indent=2) + "\n"
