"""What a running mlgate process holds: settings, the database, the server secret, the blobs.

The HTTP app and the CLI build one ``Runtime`` from ``Settings`` and pass it down, so both
reach the same services the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlgate.config import Settings, load_or_create_secret
from mlgate.registry.blobstore import BlobStore, LocalBlobStore
from mlgate.store.database import Database

__all__ = ["Runtime"]


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    _secret: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            blobs=LocalBlobStore(settings.blob_dir),
        )

    @property
    def secret(self) -> bytes:
        """The server secret used to hash API keys: MLGATE_SECRET_KEY or <data_dir>/secret.key."""
        if self._secret is None:
            configured = self.settings.secret_key
            if configured is not None:
                self._secret = configured.get_secret_value().encode()
            else:
                self._secret = load_or_create_secret(self.secret_file)
        return self._secret

    @property
    def secret_file(self) -> Path:
        return self.settings.data_dir / "secret.key"

    @property
    def admin_key_file(self) -> Path:
        return self.settings.data_dir / "admin.key"

    def close(self) -> None:
        self.db.dispose()
