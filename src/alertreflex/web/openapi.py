"""The OpenAPI 3.1 document for the HTTP interface."""

from __future__ import annotations

from typing import Any

from alertreflex import __version__
from alertreflex.core.models import NotificationIn, RunState

_ERROR = {
    "type": "object",
    "required": ["status", "error"],
    "properties": {"status": {"const": "error"}, "error": {"type": "string"}},
}
_RUN_SUMMARY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "reflex": {"type": "string"},
        "team": {"type": "string"},
        "fingerprint": {"type": "string"},
        "starts_at": {"type": "string"},
        "trigger": {"enum": ["firing", "resolved", "restore"]},
        "state": {"enum": [str(s) for s in RunState]},
        "reason": {"type": "string"},
        "created_at": {"type": "number"},
        "not_before": {"type": "number"},
        "started_at": {"type": ["number", "null"]},
        "finished_at": {"type": ["number", "null"]},
        "attempts": {"type": "integer"},
        "notification_id": {"type": "string"},
        "expires_at": {
            "type": ["number", "null"],
            "description": "awaiting_approval: when it expires",
        },
        "approved_by": {"type": ["string", "null"]},
        "manual_by": {"type": ["string", "null"], "description": "A re-run: who asked"},
        "rerun_of": {"type": ["string", "null"], "description": "A re-run: the run it repeats"},
    },
}
_STEP = {
    "type": "object",
    "properties": {
        "index": {"type": "integer"},
        "name": {"type": "string"},
        "action": {"type": "string"},
        "attempt": {"type": "integer"},
        "params": {"type": "object"},
        "outcome": {"enum": ["succeeded", "failed", "timed_out", "cancelled"]},
        "summary": {"type": "string"},
        "exit_code": {"type": ["integer", "null"]},
        "output": {"type": "string"},
        "details": {"type": "object"},
        "started_at": {"type": "number"},
        "finished_at": {"type": "number"},
        "artifacts": {"type": "array", "items": {"$ref": "#/components/schemas/Artifact"}},
    },
}
_ARTIFACT = {
    "type": "object",
    "required": ["name", "content_type", "size", "truncated"],
    "properties": {
        "name": {"type": "string"},
        "content_type": {"type": "string"},
        "size": {"type": "integer", "description": "Bytes stored"},
        "truncated": {"type": "boolean", "description": "Cut off at settings.artifact_limit"},
        "created_at": {"type": "number"},
        "url": {"type": "string", "description": "Where to download it, relative to the server"},
    },
}


_BRAKE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reflex": {"type": "string", "description": "Only this reflex; omit for everything."},
        "reason": {"type": "string", "minLength": 1},
        "by": {"type": "string", "description": "Who acts, without settings.auth."},
    },
    "required": ["reason"],
    "additionalProperties": False,
}
_DECISION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "by": {"type": "string", "description": "Who acts, without settings.auth."},
    },
    "additionalProperties": False,
}
_RUN_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _decision(summary: str, done: str, reason_required: bool) -> dict[str, Any]:
    err = {"$ref": "#/components/schemas/Error"}
    body = {**_DECISION, "required": ["reason"]} if reason_required else _DECISION
    return {
        "post": {
            "summary": summary,
            "parameters": [_RUN_ID],
            "requestBody": _json(body, "Why, recorded with who and when"),
            "responses": {
                "200": _json({"type": "object"}, done),
                "400": _json(err, "No reason, or a malformed body"),
                "404": _json(err, "No such run"),
                "409": _json(err, "Not possible in the run's state, or while paused"),
                "415": _json(err, "The body is not application/json"),
            },
        }
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    err = {"$ref": "#/components/schemas/Error"}
    notification = NotificationIn.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = notification.pop("$defs", {})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "alertreflex",
            "version": __version__,
            "description": "Runs reflexes for Alertmanager webhook notifications.",
        },
        "paths": {
            "/webhook": {
                "post": {
                    "summary": "Receive an Alertmanager (v4) or Grafana (v1) notification",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Notification"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": [
                                    "status",
                                    "runs_created",
                                    "runs_skipped",
                                    "runs",
                                    "duplicate",
                                ],
                                "properties": {
                                    "status": {"const": "accepted"},
                                    "runs_created": {
                                        "type": "integer",
                                        "description": "New runs that go on: queued, "
                                        "scheduled or awaiting approval",
                                    },
                                    "runs_skipped": {
                                        "type": "integer",
                                        "description": "New runs stored skipped at once",
                                    },
                                    "runs": {
                                        "type": "object",
                                        "properties": {
                                            "queued": {"type": "integer"},
                                            "scheduled": {"type": "integer"},
                                            "awaiting_approval": {"type": "integer"},
                                            "skipped": {
                                                "type": "object",
                                                "description": "By reason: cooldown, "
                                                "dry_run, paused, time_interval, ...",
                                                "additionalProperties": {"type": "integer"},
                                            },
                                        },
                                    },
                                    "duplicate": {
                                        "type": "boolean",
                                        "description": "No new run and no alert changed",
                                    },
                                    "why": {
                                        "type": "string",
                                        "description": "When no run goes on: why",
                                    },
                                },
                            },
                            "Stored durably; what became of each new run",
                        ),
                        "400": _json(err, "Invalid JSON or payload; the message names the field"),
                        "401": _json(err, "Missing or wrong webhook credentials"),
                        "413": _json(err, "Body larger than max_body_size"),
                        "503": _json(err, "Run queue full or store unavailable; retry later"),
                    },
                }
            },
            "/api/v1/reflexes": {
                "get": {
                    "summary": "The reflexes of the running config",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "reflexes": {"type": "array", "items": {"type": "object"}}
                                },
                            },
                            "Reflexes",
                        )
                    },
                }
            },
            "/api/v1/runs": {
                "get": {
                    "summary": "Recent runs, newest first",
                    "parameters": [
                        {"name": "reflex", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "fingerprint",
                            "in": "query",
                            "description": "Only the runs of this alert",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {"enum": [str(s) for s in RunState]},
                        },
                        {
                            "name": "trigger",
                            "in": "query",
                            "schema": {"enum": ["firing", "resolved", "restore"]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 1000,
                                "default": 50,
                            },
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "runs": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/RunSummary"},
                                    }
                                },
                            },
                            "Runs",
                        ),
                        "400": _json(err, "Bad query parameter"),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
                }
            },
            "/api/v1/runs/{id}": {
                "get": {
                    "summary": "One run: its steps, rendered parameters, output, timings and alert",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Run"}, "The run"),
                        "404": _json(err, "No such run"),
                    },
                }
            },
            "/api/v1/controls": {
                "get": {
                    "summary": "The brakes in force: the global pause and disabled reflexes",
                    "responses": {"200": _json({"type": "object"}, "Controls")},
                }
            },
            "/api/v1/pause": {
                "post": {
                    "summary": "Pause everything, or disable one reflex ({reflex}); a reason "
                    "is required, recorded with who ({by}) and when",
                    "requestBody": _json(_BRAKE, "What to hold and why"),
                    "responses": {
                        "200": _json({"type": "object"}, "Held"),
                        "400": _json(err, "No reason, or a malformed body"),
                        "404": _json(err, "No such reflex"),
                    },
                }
            },
            "/api/v1/resume": {
                "post": {
                    "summary": "Resume everything, or enable one reflex again (also after "
                    "its circuit breaker)",
                    "requestBody": _json(_BRAKE, "What to release and why"),
                    "responses": {
                        "200": _json({"type": "object"}, "Released; was: what was in force"),
                        "400": _json(err, "No reason, or a malformed body"),
                        "404": _json(err, "No such reflex"),
                    },
                }
            },
            "/api/v1/runs/{id}/approve": _decision(
                "Approve a run awaiting approval: it runs at once", "Approved; queued", False
            ),
            "/api/v1/runs/{id}/reject": _decision(
                "Reject a run awaiting approval: it never runs", "Rejected", True
            ),
            "/api/v1/runs/{id}/rerun": _decision(
                "Run a finished run again: a new manual run linked to it (no cooldown, "
                "delay or approval)",
                "The new run, queued",
                True,
            ),
            "/api/v1/audit": {
                "get": {
                    "summary": "Who did what, when and why, newest first",
                    "parameters": [
                        {"name": "target", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {
                        "200": _json({"type": "object"}, "Audit entries"),
                        "400": _json(err, "Bad query parameter"),
                    },
                }
            },
            "/api/v1/status": {
                "get": {
                    "summary": "The running config: its files with their sha256, and the "
                    "number of reflexes",
                    "responses": {"200": _json({"type": "object"}, "Status")},
                }
            },
            "/api/v1/sync": {
                "post": {
                    "summary": "Run settings.sync now (a git host's push hook): 202 at "
                    "once; ?wait=1 answers with the result; ?force=1 delivers even an "
                    "unchanged commit",
                    "security": [{"bearer": []}],
                    "parameters": [{"name": "force", "in": "query", "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json({"type": "object"}, "Delivered, or nothing new (?wait=1)"),
                        "202": _json({"type": "object"}, "Started; the result goes to the log"),
                        "401": _json(err, "Missing or wrong bearer token"),
                        "404": _json(err, "settings.sync with a token_file is not configured"),
                        "422": _json({"type": "object"}, "The commit is invalid: problems"),
                        "503": _json({"type": "object"}, "Fetching, writing or a reload failed"),
                    },
                }
            },
            "/api/v1/runs/{id}/artifacts/{name}": {
                "get": {
                    "summary": "Download an artifact of a run (a thread dump)",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The artifact's bytes, with its content type",
                            "content": {"*/*": {"schema": {"type": "string"}}},
                        },
                        "404": _json(err, "No such run or artifact"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _ERROR,
                "Notification": notification,
                **nested,
                "RunSummary": _RUN_SUMMARY,
                "Artifact": _ARTIFACT,
                "Run": {
                    "allOf": [
                        {"$ref": "#/components/schemas/RunSummary"},
                        {
                            "type": "object",
                            "properties": {
                                "alert": {"type": "object"},
                                "notification": {"type": "object"},
                                "steps": {"type": "array", "items": _STEP},
                                "artifacts": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Artifact"},
                                },
                            },
                        },
                    ]
                },
            },
        },
    }
