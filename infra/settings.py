"""Every environment variable the CLI and the Lambda handlers read, in one place.

Terraform sets these on each function; a contract test holds the two together. Names are the
field names upper-cased with the MLOPS_ prefix (e.g. `data_bucket` -> MLOPS_DATA_BUCKET).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore", frozen=True)

    backend: Literal["local", "aws"] = "local"
    home: Path = Field(default=Path(".mlops"), description="Local backend state directory.")
    model_name: str = "model"
    serving_stage: str = Field(default="production", description="Stage the API serves.")
    model_refresh_seconds: float = Field(
        default=30.0, ge=0, description="How often the API checks whether its stage moved."
    )
    capture_sample_rate: float = Field(
        default=1.0, ge=0, le=1, description="Share of prediction requests captured for drift."
    )
    max_batch_records: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)

    # AWS adapters (MLOPS_BACKEND=aws); AWS_ENDPOINT_URL points them at an emulator.
    data_bucket: str = ""
    artifact_bucket: str = ""
    registry_table: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
