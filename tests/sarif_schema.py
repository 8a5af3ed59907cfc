"""A test-only subset of the SARIF 2.1.0 JSON schema, written from the OASIS specification.

No PyPI package checked (sarif-om 1.0.4, sarif-tools 3.0.5, sarif-pydantic 0.6.2) ships the
official ``sarif-schema-2.1.0.json``, so this holds the properties the specification makes
required, and the enumerations and types of those this package writes (SARIF 2.1.0 sections
3.13 sarifLog, 3.14 run, 3.18 tool, 3.19 toolComponent, 3.20 invocation, 3.27 result, 3.28
location, 3.29 physicalLocation, 3.4 artifactLocation, 3.33 logicalLocation, 3.11 message,
3.49 reportingDescriptor, 3.58 notification).  ``additionalProperties`` is left open where
the specification allows property bags and further optional properties.
"""

from __future__ import annotations

from typing import Any

_LEVEL = {"enum": ["none", "note", "warning", "error"]}
_MESSAGE = {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
            "properties": {"text": {"type": "string"}, "id": {"type": "string"}}}
_MULTIFORMAT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
_ARTIFACT_LOCATION = {"type": "object", "properties": {"uri": {"type": "string", "format": "uri-reference"},
                                                       "index": {"type": "integer", "minimum": -1}}}
_LOCATION = {
    "type": "object",
    "properties": {
        "physicalLocation": {"type": "object", "anyOf": [{"required": ["address"]}, {"required": ["artifactLocation"]}],
                             "properties": {"artifactLocation": _ARTIFACT_LOCATION}},
        "logicalLocations": {"type": "array", "items": {
            "type": "object", "properties": {"name": {"type": "string"}, "fullyQualifiedName": {"type": "string"},
                                             "kind": {"type": "string"}}}},
    },
}
_DESCRIPTOR = {"type": "object", "required": ["id"],
               "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                              "shortDescription": _MULTIFORMAT, "fullDescription": _MULTIFORMAT}}
_NOTIFICATION = {"type": "object", "required": ["message"],
                 "properties": {"message": _MESSAGE, "level": _LEVEL,
                                "locations": {"type": "array", "items": _LOCATION}}}

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "SARIF 2.1.0 (required subset)",
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {"type": ["array", "null"], "items": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                   "informationUri": {"type": "string", "format": "uri"},
                                   "rules": {"type": "array", "uniqueItems": True, "items": _DESCRIPTOR}}}}},
                "invocations": {"type": "array", "items": {
                    "type": "object", "required": ["executionSuccessful"],
                    "properties": {"executionSuccessful": {"type": "boolean"}, "exitCode": {"type": "integer"},
                                   "toolExecutionNotifications": {"type": "array", "items": _NOTIFICATION}}}},
                "results": {"type": ["array", "null"], "items": {
                    "type": "object", "required": ["message"],
                    "properties": {"ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1},
                                   "level": _LEVEL, "message": _MESSAGE,
                                   "locations": {"type": "array", "items": _LOCATION},
                                   "properties": {"type": "object"}}}},
                "properties": {"type": "object"},
            },
        }},
    },
}
