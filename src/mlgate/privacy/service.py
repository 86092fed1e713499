"""The privacy admin's service functions in one place, for routes and the CLI.

Each idea lives in its own module (``secrets``, ``holds``, ``retention``, ``rights``,
``report``); ``jobs`` owns the work that spans the main store and the key store.
"""

from mlgate.privacy.holds import add_hold, list_holds, remove_hold
from mlgate.privacy.jobs import erase_job, export_job, purge_job, rotate_master_job
from mlgate.privacy.report import PrivacyReport, build_report, set_purposes
from mlgate.privacy.retention import purge_expired
from mlgate.privacy.rights import erase_subject, export_subject
from mlgate.privacy.secrets import (
    delete_secret,
    get_secret,
    list_secrets,
    resolve_secret,
    rotate_master,
    set_secret,
)

__all__ = [
    "PrivacyReport",
    "add_hold",
    "build_report",
    "delete_secret",
    "erase_job",
    "erase_subject",
    "export_job",
    "export_subject",
    "get_secret",
    "list_holds",
    "list_secrets",
    "purge_expired",
    "purge_job",
    "remove_hold",
    "resolve_secret",
    "rotate_master",
    "rotate_master_job",
    "set_purposes",
    "set_secret",
]
