"""JSON Schema export, for portals that are not written in Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts._applications import ApplicationEvent
from contracts._catalogue import Catalogue
from contracts._errors import ContractError
from contracts._operations import CONTRACT_VERSION, OPERATIONS
from contracts._payment import PaymentPaid
from contracts._profile import CitizenProfile

__all__ = ["export_json_schema"]


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def export_json_schema(directory: Path) -> list[Path]:
    """Write one schema per model and an ``operations.json`` index; returns the files written."""
    models_dir = directory / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    models: dict[str, type[BaseModel]] = {
        "ContractError": ContractError,
        "Catalogue": Catalogue,
        "PaymentPaid": PaymentPaid,
        "ApplicationEvent": ApplicationEvent,
        "CitizenProfile": CitizenProfile,
    }
    for op in OPERATIONS:
        models[op.input.__name__] = op.input
        models[op.output.__name__] = op.output
    written = [_write(models_dir / f"{name}.json", model.model_json_schema()) for name, model in sorted(models.items())]
    index = {
        "contract_version": CONTRACT_VERSION,
        "operations": [
            {
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
            for op in OPERATIONS
        ],
    }
    written.append(_write(directory / "operations.json", index))
    return written
