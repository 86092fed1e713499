"""Settings for every part of mlgate, read once from flags, env MLGATE_*, mlgate.toml and defaults.

Precedence is CLI flag > environment > mlgate.toml > default. Nothing else in mlgate reads
``os.environ``; code receives a ``Settings`` object (``get_settings()`` builds and caches it).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mlgate.netaddr import Allowlist

__all__ = ["Settings", "get_settings", "load_or_create_secret"]

TOML_FILE = "mlgate.toml"


class Settings(BaseSettings):
    """Effective configuration. Secrets are ``SecretStr`` so they never print by accident."""

    model_config = SettingsConfigDict(
        env_prefix="MLGATE_",
        toml_file=TOML_FILE,
        extra="ignore",
        validate_default=True,
    )

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the store: SQLite (default: sqlite:///<data_dir>/mlgate.db)"
        " or postgresql+psycopg://…",
    )
    data_dir: Path = Field(default=Path("./var"), description="Blob store, keys and local state.")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server secret for key hashing; default: <data_dir>/secret.key (0600).",
    )
    host: str = Field(default="127.0.0.1", description="Address `mlgate serve` binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `mlgate serve` binds.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Reverse proxies whose X-Forwarded-Proto and -For headers `mlgate serve`"
        " believes (comma-separated addresses or networks, or *): behind a TLS proxy the web"
        " UI's cookie is Secure only when the proxy is listed here.",
    )
    role: Literal["all", "control", "gateway"] = Field(
        default="all", description="Which planes this process serves."
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis URL for state shared by gateway replicas."
    )
    redis_prefix: str = Field(
        default="mlgate",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Namespace of this deployment's keys in Redis (limits, breakers).",
    )
    incident_breaker_open_seconds: float = Field(
        default=60.0, gt=0, description="A breaker open this long opens an automatic incident."
    )
    incident_degraded_rate: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="A route answering degraded or 503 above this share of a minute's requests"
        " opens an automatic incident.",
    )
    drift_flush_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How often a gateway writes the drift counts it gathered (one row per route"
        " and version).",
    )
    drift_check_seconds: int = Field(
        default=3600,
        ge=0,
        description="How often the control plane checks every route's last 24 hours for drift"
        " and opens an incident per drifting version (0: never).",
    )
    max_upload_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="Largest upload body over HTTP; largest file for the CLI (413 above).",
    )
    api_docs: bool = Field(
        default=True,
        description="Serve the API's documentation without a key: /openapi.json, /docs, /redoc"
        " (the API's shape, never data); false: not served.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the server and CLI."
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="How `mlgate serve` writes log lines on stderr."
    )
    access_log: bool = Field(
        default=True,
        description="One log line per gateway client request (no payloads, no keys), at INFO.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Key the CLI acts with; without one it acts as the local operator (admin).",
    )
    key_grace_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        le=10 * 365 * 86400,  # as an API rotation's grace: beyond, the expiry date overflows
        description="How long a rotated API key keeps working.",
    )
    backup_dir: Path | None = Field(
        default=None, description="Where backups are written; default: <data_dir>/backups."
    )
    backup_key_file: Path | None = Field(
        default=None,
        description="File holding the 32-byte hex key that encrypts backups (AES-256-GCM);"
        " unset: backups are not encrypted.",
    )
    backup_schedule: bool = Field(
        default=True, description="The control-plane server takes backups on a schedule."
    )
    backup_interval_seconds: int = Field(
        default=24 * 3600, ge=60, description="How often the scheduled backup job runs."
    )
    backup_keep_daily: int = Field(default=7, ge=0, description="Daily backups kept by prune.")
    backup_keep_weekly: int = Field(default=4, ge=0, description="Weekly backups kept by prune.")
    backup_keep_monthly: int = Field(default=12, ge=0, description="Monthly backups kept by prune.")
    incident_postmortem_minutes: int = Field(
        default=60,
        ge=0,
        description="An incident lasting longer than this needs a postmortem before closing.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Master key (64 hex digits or base64 of 32 bytes) wrapping secret and"
        " subject data keys; unset: <data_dir>/master.key, or Vault transit when vault_url is set.",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="File holding the master key (created 0600 by `mlgate init`);"
        " default: <data_dir>/master.key.",
    )
    vault_url: str | None = Field(
        default=None, description="Vault address; set it to wrap data keys with Vault transit."
    )
    vault_token: SecretStr | None = Field(default=None, description="Token for Vault transit.")
    vault_transit_key: str = Field(
        default="mlgate", description="Name of the Vault transit key that wraps data keys."
    )
    keystore_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the subject key store, kept apart from the main store"
        " and its backups; default: sqlite:///<data_dir>/keystore.db.",
    )
    privacy_purge_interval_seconds: int = Field(
        default=3600, ge=60, description="How often the server purges expired request logs."
    )
    advisories_dir: Path | None = Field(
        default=None,
        description="Offline OSV advisory database (a directory or zip of PyPI advisories) that"
        " dependency audits read; unset: dependencies are reported unknown, never clean.",
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="Internal hosts webhooks may reach: comma-separated host names, addresses or"
        " networks (10.0.0.0/8), or * for any; unset: URLs whose host is or resolves to a"
        " loopback, private, link-local or other non-public address are refused.",
    )
    scan_budget_seconds: float = Field(
        default=120.0,
        gt=0,
        le=86_400,
        description="Time one artifact scan may take; what is not read by then is a HIGH"
        " finding (scan.time-budget), never clean.",
    )
    trusted_signing_keys: str = Field(
        default="",
        description="Fingerprints (sha256 of the public key, as `mlgate sign` prints) of the keys"
        " whose signatures count, comma-separated; unset: a signature by any key over the"
        " current bytes verifies.",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres(cls, value: str) -> str:
        # psycopg 3 is the driver we ship; accept the common spellings users paste.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        items = [item.strip() for item in value.split(",")]
        if items == [""]:  # believe no proxy
            return ""
        if items == ["*"]:
            return "*"
        for item in items:
            try:
                ipaddress.ip_network(item)  # strict, as uvicorn reads it
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an address or a network (e.g. 10.0.0.5 or 10.0.0.0/24,"
                    " no host bits after the /), and * may only stand alone"
                ) from None
        return ",".join(items)

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _webhook_hosts(cls, value: str) -> str:
        Allowlist.parse(value)  # a typo stops the start, not the first delivery
        return value

    @field_validator("trusted_signing_keys")
    @classmethod
    def _fingerprints(cls, value: str) -> str:
        keys = [item.strip().lower() for item in value.split(",") if item.strip()]
        for key in keys:
            if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
                raise ValueError(f"{key[:20]!r} is not a key fingerprint (64 hex digits)")
        return ",".join(keys)

    @property
    def trusted_keys(self) -> frozenset[str]:
        """The fingerprints of ``trusted_signing_keys``; empty, any signer counts."""
        return frozenset(filter(None, self.trusted_signing_keys.split(",")))

    @model_validator(mode="after")
    def _store_in_data_dir(self) -> Settings:
        # Unset, the store lives with the rest of the state: `--data-dir X` alone is a whole
        # workspace, as the key store, blobs and backups already follow it.
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'mlgate.db'}"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def backups_path(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def master_key_path(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def keystore_database_url(self) -> str:
        return self.keystore_url or f"sqlite:///{self.data_dir / 'keystore.db'}"

    def __repr_args__(self) -> Any:
        """What repr() shows: the masked values, so a repr in a log or traceback leaks nothing."""
        return list(self.masked().items())

    def masked(self) -> dict[str, Any]:
        """The settings as plain values with every secret replaced by ``'**********'``."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                shown[name] = "**********"
            elif name in ("database_url", "keystore_url") and value is not None:
                shown[name] = _mask_url_password(str(value))
            else:
                shown[name] = str(value) if isinstance(value, Path) else value
        return shown


def _mask_url_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as a placeholder, never echoed
        return "<unparsable url>"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use (never at import time)."""
    return Settings()


def load_or_create_secret(path: Path) -> bytes:
    """Read a 32-byte secret from ``path``, creating it (mode 0600) if it does not exist."""
    if path.exists():
        data = path.read_bytes().strip()
        if len(data) < 32:
            raise ValueError(f"secret file {path} is too short; delete it to create a new one")
        return data
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value
