"""JSON Schema export, for portals that are not written in Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts._applications import ApplicationEvent
from contracts._catalogue import Catalogue
from contracts._errors import ContractError
from contracts._operations import CONTRACT_VERSION, OPERATIONS, Operation
from contracts._payment import PaymentPaid
from contracts._profile import CitizenProfile

__all__ = ["export_json_schema"]


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def _operations(package: str | None) -> list[Operation]:
    if package is None:
        return [op for op in OPERATIONS if OPERATIONS.package_of(op.name) is None]
    if OPERATIONS.package(package) is None:
        known = ", ".join(p.namespace for p in OPERATIONS.packages) or "none is installed"
        raise ValueError(f"no contract package {package!r} is registered (packages: {known})")
    return [op for op in OPERATIONS if OPERATIONS.package_of(op.name) == package]


def export_json_schema(directory: Path, package: str | None = None) -> list[Path]:
    """Write one schema per model and an ``operations.json`` index; returns the files written.

    Without ``package``, the core contract (with the models every portal meets: errors, the catalogue, events);
    with it, that contract package's operations alone, at the package's version, so each is pinned and diffed
    on its own.
    """
    operations = _operations(package)
    models_dir = directory / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    models: dict[str, type[BaseModel]] = {"ContractError": ContractError}
    if package is None:
        models |= {
            "Catalogue": Catalogue,
            "PaymentPaid": PaymentPaid,
            "ApplicationEvent": ApplicationEvent,
            "CitizenProfile": CitizenProfile,
        }
    for op in operations:
        models[op.input.__name__] = op.input
        models[op.output.__name__] = op.output
    written = [_write(models_dir / f"{name}.json", model.model_json_schema()) for name, model in sorted(models.items())]
    found = OPERATIONS.package(package) if package is not None else None
    index: dict[str, Any] = {"contract_version": found.version if found is not None else CONTRACT_VERSION}
    if found is not None:
        index["package"] = found.namespace
    index["operations"] = [_entry(op) for op in operations]
    written.append(_write(directory / "operations.json", index))
    return written


def _entry(op: Operation) -> dict[str, Any]:
    return {
        "name": op.name,
        "version": op.version,
        "summary": op.summary,
        "subject": op.subject,
        "http_path": f"/v1/{op.name}",
        "input": f"models/{op.input.__name__}.json",
        "output": f"models/{op.output.__name__}.json",
        "error": "models/ContractError.json",
        "idempotent": op.idempotent,
        "personal_data": op.personal_data,
        "schema_hash": op.schema_hash,
    }
