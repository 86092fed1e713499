"""PII detection and redaction, envelope encryption and log scrubbing, and the privacy admin.

This package root re-exports the pure library (no SQL). The admin — secret store, request-log
payloads, retention, legal holds, subject requests, records of processing — is reached through
``mlgate.privacy.service`` (and ``routes``/``cli``), never imported from here.
"""

from mlgate.privacy.crypto import (
    Envelope,
    EnvelopeCipher,
    KeyFileMasterKey,
    MasterKeyProvider,
    StaticMasterKey,
    VaultTransitMasterKey,
)
from mlgate.privacy.payload import JsonPath, redact_json
from mlgate.privacy.pii import (
    Detector,
    Finding,
    PresidioRecognizer,
    Recognizer,
    default_detector,
    detect,
    resolve_overlaps,
)
from mlgate.privacy.redact import (
    DEFAULT,
    Encrypt,
    KeyedHash,
    Mask,
    Operator,
    Operators,
    Remove,
    Replace,
    apply_operators,
    decrypt_token,
    redact_text,
)
from mlgate.privacy.scrub import REDACTED, SecretScrubFilter

__all__ = [
    "DEFAULT",
    "REDACTED",
    "Detector",
    "Encrypt",
    "Envelope",
    "EnvelopeCipher",
    "Finding",
    "JsonPath",
    "KeyFileMasterKey",
    "KeyedHash",
    "Mask",
    "MasterKeyProvider",
    "Operator",
    "Operators",
    "PresidioRecognizer",
    "Recognizer",
    "Remove",
    "Replace",
    "SecretScrubFilter",
    "StaticMasterKey",
    "VaultTransitMasterKey",
    "apply_operators",
    "decrypt_token",
    "default_detector",
    "detect",
    "redact_json",
    "redact_text",
    "resolve_overlaps",
]
