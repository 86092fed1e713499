"""What the server wires in: log scrubbing, the payload sink and the upstream-secret resolver.

The periodic purge is ``jobs.purge_job``, run by the app's scheduler.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr
from sqlalchemy.orm import Session

from mlgate.errors import Conflict, Invalid
from mlgate.gateway.requestlog import RecordSink
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.logscrub import install_log_scrubbing, register_settings_secrets
from mlgate.privacy.requestlogs import PayloadSink
from mlgate.privacy.secrets import resolve_secret
from mlgate.runtime import Runtime

__all__ = ["payload_sinks", "privacy_for", "secret_resolver"]


def privacy_for(runtime: Runtime) -> PrivacyKeys:
    """Install log scrubbing with every secret known now, and return the process's keys."""
    scrubber = install_log_scrubbing()
    register_settings_secrets(scrubber, runtime.settings)
    scrubber.register(runtime.secret.decode(errors="replace"))
    return PrivacyKeys(runtime)


def payload_sinks(runtime: Runtime, keys: PrivacyKeys) -> list[RecordSink]:
    return [PayloadSink(keys)]


def secret_resolver(keys: PrivacyKeys) -> Callable[[Session, str], SecretStr]:
    """Resolves an upstream's secret for the route table; each value joins the log scrubber."""

    def resolve(session: Session, name: str) -> SecretStr:
        try:
            value = resolve_secret(session, name, cipher=keys.cipher)
        except Invalid as error:
            raise Conflict(f"secret '{name}' cannot be opened: {error.detail}") from None
        install_log_scrubbing().register(value)
        return value

    return resolve
