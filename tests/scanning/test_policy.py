"""The import policy: an allowlist of data-only globals; dangerous callables are critical."""

from __future__ import annotations

import pytest

from mlgate.scanning.policy import classify_global
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
    unlisted_ml = classify_global("sklearn.metrics._scorer", "_passthrough_scorer")
    assert unknown is not None
    assert unknown.severity is Severity.HIGH
    assert unlisted_ml is not None
    assert unlisted_ml.severity is Severity.MEDIUM
