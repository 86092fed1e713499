"""A demo workspace in one call: a real model, reviewed stage by stage, deployed and routed.

It trains a logistic regression on the iris data set that ships with scikit-learn, converts it
to ONNX, registers two versions with a model card, takes both through the default six-stage
review with one demo reviewer key per stage (separation of duties holds: six different people),
deploys version 2 to production, and creates route ``iris`` with version 1 as its fallback.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from mlgate.approvals import deployments
from mlgate.approvals import service as approvals
from mlgate.approvals.policy import DEFAULT_POLICY
from mlgate.auth import service as auth
from mlgate.auth.schemas import ApiKeyCreate, Principal, Scope
from mlgate.cards import service as cards
from mlgate.cards.schemas import ModelCard
from mlgate.errors import NotFound
from mlgate.gateway import service as routes
from mlgate.gateway.schemas import RouteCreate, TargetSpec
from mlgate.monitoring import service as monitoring
from mlgate.monitoring.schemas import DriftReferenceCreate
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from mlgate.scanning import posture
from mlgate.scanning import service as scanning

__all__ = ["DemoResult", "seed_demo"]

MODEL = "iris-demo"
ROUTE = "iris"
INPUT_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
}


@dataclass(frozen=True)
class DemoResult:
    created: bool
    route: str
    keys_file: Path

    @property
    def app_key_file(self) -> Path:
        return self.keys_file.with_name("demo-app.key")


def train_onnx(regularisation: float) -> tuple[bytes, float]:
    """A logistic regression on iris as ONNX bytes, and its accuracy on a held-out split."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    features, labels = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, random_state=0, stratify=labels
    )
    model = LogisticRegression(C=regularisation, max_iter=1000).fit(x_train, y_train)
    onnx_model = to_onnx(
        model, x_train[:1].astype("float32"), options={id(model): {"zipmap": False}}
    )
    return onnx_model.SerializeToString(), float(model.score(x_test, y_test))


def iris_reference() -> DriftReferenceCreate:
    """The drift baseline of the demo's versions: the iris measurements they learnt from."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    columns = [str(name).removesuffix(" (cm)").replace(" ", "_") for name in iris.feature_names]
    return DriftReferenceCreate(columns=columns, rows=iris.data.tolist())


def demo_card(version: int, accuracy: float) -> ModelCard:
    return ModelCard.model_validate(
        {
            "model_details": {
                "name": MODEL,
                "overview": "Classifies iris flowers into three species from four measurements.",
                "version": str(version),
                "owners": [{"name": "mlgate demo", "contact": "demo@example.com"}],
                "model_type": "multiclass classifier",
                "architecture": "multinomial logistic regression (scikit-learn), exported to ONNX",
                "input_format": "rows of 4 numbers: sepal length/width, petal length/width (cm)",
                "output_format": "labels (0 setosa, 1 versicolor, 2 virginica) and probabilities",
                "licenses": ["BSD-3-Clause (data set)"],
            },
            "intended_use": {
                "primary_uses": ["demonstrating mlgate end to end"],
                "primary_users": ["people trying mlgate"],
                "out_of_scope_uses": ["any real botanical or commercial decision"],
            },
            "factors": {"relevant_factors": ["species"], "evaluation_factors": ["species"]},
            "metrics": {
                "performance_metrics": [
                    {"name": "accuracy", "value": round(accuracy, 4), "dataset": "iris-test"},
                ],
                "decision_thresholds": [
                    {"value": 0.5, "metric": "accuracy", "description": "argmax of probabilities"}
                ],
            },
            "evaluation_data": {
                "description": "A stratified 30% split of the iris data set.",
                "datasets": [{"name": "iris-test", "size": 45}],
                "preprocessing": "none",
            },
            "training_data": {
                "description": "The other 70% of the iris data set (Fisher, 1936).",
                "datasets": [{"name": "iris-train", "size": 105}],
                "preprocessing": "none",
            },
            "quantitative_analyses": {
                "unitary_results": f"accuracy {accuracy:.2f} on the held-out split",
            },
            "ethical_considerations": {
                "sensitive_data": {"declared": False},
                "potential_biases": ["150 flowers from one region"],
                "privacy_measures": ["no personal data"],
                "regulatory_requirements": ["none"],
            },
            "caveats_and_recommendations": {
                "known_limitations": ["only three species"],
                "failure_modes": ["measurements outside the training range"],
                "recommendations": ["do not use beyond the demo"],
            },
        }
    )


def _reviewers(session: Session, runtime: Runtime, actor: Principal) -> dict[str, Any]:
    """One reviewer key per default stage group, plus an application key for the gateway."""
    people = {
        "data": "dana",
        "ml": "mia",
        "fairness": "fay",
        "security": "sam",
        "compliance": "cole",
        "approvers": "fin",
    }
    issued: dict[str, Any] = {}
    for group, person in people.items():
        key = auth.create(
            session,
            secret=runtime.secret,
            actor=actor,
            key_in=ApiKeyCreate(
                name=f"demo-{person}",
                owner=person,
                scopes=[Scope.APPROVALS_REVIEW, Scope.REGISTRY_READ],
                groups=[group],
            ),
        )
        issued[group] = {
            "owner": person,
            "key": key.key.get_secret_value(),
            "principal": Principal(
                name=person,
                key_id=key.id,
                scopes=frozenset(key.scopes),
                groups=frozenset(key.groups),
            ),
        }
    app_key = auth.create(
        session,
        secret=runtime.secret,
        actor=actor,
        key_in=ApiKeyCreate(
            name="demo-app", owner="demo-app", scopes=[Scope.GATEWAY_INVOKE], allowed_routes=[ROUTE]
        ),
    )
    issued["app"] = {"owner": "demo-app", "key": app_key.key.get_secret_value()}
    return issued


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _write_keys(path: Path, issued: dict[str, Any]) -> None:
    shown = {group: {"owner": v["owner"], "key": v["key"]} for group, v in issued.items()}
    _write_private(path, json.dumps(shown, indent=2) + "\n")
    _write_private(path.with_name("demo-app.key"), issued["app"]["key"] + "\n")


def _review(session: Session, version: int, requester: Principal, people: dict[str, Any]) -> None:
    request = approvals.request_review(
        session,
        model_name=MODEL,
        version=version,
        requester=requester,
        comment="demo: please review",
    )
    for stage in DEFAULT_POLICY.stages:
        reviewer = people[stage.reviewer_groups[0]]["principal"]
        approvals.approve(
            session,
            request_id=request.id,
            reviewer=reviewer,
            stage=stage.name,
            comment=f"{stage.title}: checked for the demo",
        )


def seed_demo(runtime: Runtime, *, actor: Principal) -> DemoResult:
    """Create the demo workspace once; a second call changes nothing."""
    keys_file = runtime.settings.data_dir / "demo-keys.json"
    with runtime.db.unit_of_work() as session:
        try:
            routes.get_route(session, name=ROUTE)
            return DemoResult(created=False, route=ROUTE, keys_file=keys_file)
        except NotFound:
            pass
    trained = [train_onnx(0.05), train_onnx(1.0)]
    with runtime.db.unit_of_work() as session:
        registry.create_model(
            session,
            actor=actor,
            model_in=ModelCreate(
                name=MODEL, description="Iris species classifier (demo).", tags=["demo"]
            ),
        )
        people = _reviewers(session, runtime, actor)
        for number, (artifact, accuracy) in enumerate(trained, start=1):
            registry.register_version(
                session,
                blobs=runtime.blobs,
                model_name=MODEL,
                actor=actor,
                version_in=VersionCreate(
                    framework="onnx", input_schema=INPUT_SCHEMA, trainer="mlgate demo"
                ),
                uploads=[registry.ArtifactUpload(name="model.onnx", stream=io.BytesIO(artifact))],
                max_bytes=runtime.settings.max_upload_bytes,
            )
            cards.set_card(
                session,
                model_name=MODEL,
                version=number,
                card=demo_card(number, accuracy),
                actor=actor,
            )
            monitoring.set_reference(
                session,
                model_name=MODEL,
                version=number,
                reference_in=iris_reference(),
                actor=actor,
            )
            # The security stage gates on a clean security audit: scan, then audit, first.
            scanning.scan_version(
                session, blobs=runtime.blobs, model_name=MODEL, version=number, actor=actor
            )
            posture.audit_model(
                session,
                blobs=runtime.blobs,
                model_name=MODEL,
                version=number,
                actor=actor,
                trusted=runtime.settings.trusted_keys,
            )
            _review(session, number, actor, people)
        deployments.move_alias(
            session,
            model_name=MODEL,
            alias="production",
            version=2,
            actor=actor,
            comment="demo deploy",
        )
        routes.create_route(
            session,
            actor=actor,
            route_in=RouteCreate(
                name=ROUTE, model=MODEL, fallbacks=[TargetSpec(model=MODEL, version=1)]
            ),
        )
    runtime.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_keys(keys_file, people)
    return DemoResult(created=True, route=ROUTE, keys_file=keys_file)
