"""The import policy: an allowlist of data-only globals; dangerous callables are critical."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.scanning.policy import classify_global
from mlgate.scanning.resolve import FENCE_ALLOWS
from mlgate.scanning.schemas import Severity


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch", "_utils._rebuild_parameter"),
        ("torch", "FloatStorage"),
        ("torch.nn.modules.linear", "Linear"),
        ("collections", "OrderedDict"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "dtype"),
        ("sklearn.ensemble._forest", "RandomForestClassifier"),
        ("sklearn.tree._tree", "Tree"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("__builtin__", "set"),
        ("copy_reg", "_reconstructor"),
        ("pathlib", "PosixPath"),
        ("argparse", "Namespace"),
    ],
)
def test_data_only_globals_are_allowed(module: str, name: str) -> None:
    assert classify_global(module, name) is None


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("subprocess", "Popen"),
        ("__builtin__", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("builtins", "open"),
        ("runpy", "run_path"),
        ("socket", "create_connection"),
        ("shutil", "rmtree"),
        ("sys", "modules"),
        ("importlib", "import_module"),
        ("_pickle", "loads"),
        ("pickle", "loads"),
        ("webbrowser", "open"),
        ("requests.api", "get"),
        ("httpx", "get"),
        ("urllib.request", "urlopen"),
        ("torch", "load"),
        ("numpy", "load"),
        ("sklearn.datasets", "fetch_openml"),
        ("numpy", "os.system"),
        ("torch.nn.modules.module", "Module.__reduce_ex__"),
        ("pathlib", "Path.write_text"),
        ("pathlib", "PosixPath.open"),
    ],
)
def test_dangerous_callables_are_critical(module: str, name: str) -> None:
    verdict = classify_global(module, name)
    assert verdict is not None
    assert verdict.severity is Severity.CRITICAL


def test_unlisted_globals_are_flagged_by_how_familiar_their_library_is() -> None:
    unknown = classify_global("mypkg.models", "Net")
    unlisted_ml_class = classify_global("numpy.random.bit_generator", "SeedSequence")
    unlisted_ml_function = classify_global("sklearn.metrics", "get_scorer")
    assert unknown is not None
    assert unknown.severity is Severity.HIGH
    assert unlisted_ml_class is not None
    assert unlisted_ml_class.severity is Severity.MEDIUM
    assert unlisted_ml_function is not None
    assert unlisted_ml_function.severity is Severity.HIGH


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.callback._transport", "Client"),  # multiprocessing.connection.Client
        ("numpy.testing", "runstring"),  # exec
        ("numpy.testing._private.utils", "runstring"),
        ("numpy.f2py", "run_main"),
        ("numpy", "save"),
        ("numpy.lib.format", "read_array"),
    ],
)
def test_names_re_exported_or_testing_helpers_under_ml_roots_are_critical(
    module: str, name: str
) -> None:
    verdict = classify_global(module, name)
    assert verdict is not None
    assert verdict.severity is Severity.CRITICAL


def test_ml_library_functions_are_high_and_classes_at_most_medium() -> None:
    functions = [("numpy", "frompyfunc"), ("sklearn.utils", "check_array"), ("numpy", "random")]
    for module, name in functions:
        verdict = classify_global(module, name)
        assert verdict is not None
        assert verdict.severity is Severity.HIGH, (module, name)
    for module, name in [("numpy", "float64"), ("numpy.random", "SeedSequence"), ("numpy", "exp")]:
        verdict = classify_global(module, name)
        assert verdict is not None
        assert verdict.severity is Severity.MEDIUM, (module, name)


def test_legacy_joblib_wrappers_are_not_allowlisted() -> None:
    for name in ("NDArrayWrapper", "ZNDArrayWrapper"):
        verdict = classify_global("joblib.numpy_pickle_compat", name)
        assert verdict is not None
        assert verdict.severity is Severity.HIGH
        assert verdict.rule == "pickle.external-file"


@pytest.mark.parametrize(
    ("module", "name", "real"),
    [
        ("numpy.lib._utils_impl", "os", "os"),  # `import os` in numpy's source
        ("collections", "_sys", "sys"),  # `import sys as _sys`
    ],
)
def test_a_module_re_exported_under_an_ml_root_is_judged_as_itself(
    module: str, name: str, real: str
) -> None:
    verdict = classify_global(module, name)
    assert verdict is not None
    assert verdict.severity is Severity.CRITICAL
    assert f"is '{real}'" in verdict.reason


def test_an_ml_module_re_exported_under_another_name_stays_high() -> None:
    verdict = classify_global("sklearn.utils.validation", "np")  # numpy itself
    assert verdict is not None
    assert verdict.severity is Severity.HIGH


# Judged in a fresh interpreter: the fence spares modules already imported, and this test
# process may have imported torch for another test.
_IMPORTS_DURING_A_SCAN = """
import json, os, sys
from mlgate.scanning import scan_path

before = set(sys.modules)
report = scan_path(sys.argv[1])
sites = [p for p in sys.path if p.endswith("site-packages")]


def library(module):
    path = getattr(module, "__file__", None) or ""
    for site in sites:
        if path.startswith(site + os.sep):
            return path[len(site) + 1 :].split(os.sep)[0].split(".")[0]
    return None  # the standard library, or no file


new = [sys.modules[name] for name in set(sys.modules) - before if name in sys.modules]
print(json.dumps({
    "libraries": sorted({library(m) for m in new} - {None}),
    "findings": [[f.severity, f.subject, f.message] for f in report.findings],
}))
"""


def test_judging_a_global_imports_no_library_the_pickle_names_through_a_shim(
    tmp_path: Path,
) -> None:
    # scikit-learn and SciPy vendor array-api-compat, whose torch module imports torch: naming
    # a class there made the scanner import torch (seconds, hundreds of MB) to judge it.
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed, so there is nothing it could import")
    shims = ["sklearn.externals.array_api_compat.torch", "scipy._lib.array_api_compat.torch"]
    for index, module in enumerate(shims):
        (tmp_path / f"shim{index}.pkl").write_bytes(_stack_global(module, "Tensor"))
    (tmp_path / "forest.pkl").write_bytes(
        _stack_global("sklearn.ensemble._forest", "RandomForestClassifier")
    )
    run = subprocess.run(
        [sys.executable, "-c", _IMPORTS_DURING_A_SCAN, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(run.stdout)
    assert "torch" not in seen["libraries"]
    assert set(seen["libraries"]) <= FENCE_ALLOWS
    assert sorted((severity, subject) for severity, subject, _ in seen["findings"]) == sorted(
        ("high", f"{module}.Tensor") for module in shims
    )  # the forest's class is still judged (and passed) by what it is
    assert all("importing 'torch'" in message for _, _, message in seen["findings"])


def _stack_global(module: str, name: str) -> bytes:
    """A protocol-4 pickle of the global ``module.name`` alone (nothing is called)."""
    parts = [bytes([0x8C, len(part)]) + part.encode() for part in (module, name)]
    return b"\x80\x04" + b"".join(parts) + b"\x93."


def test_the_fence_lets_the_resolvable_libraries_import_what_they_require() -> None:
    for distribution in ("numpy", "scipy", "scikit-learn", "joblib"):
        for requirement in importlib.metadata.requires(distribution) or []:
            if "extra ==" in requirement:
                continue
            name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
            assert name.lower().replace("-", "_") in FENCE_ALLOWS, (distribution, requirement)
