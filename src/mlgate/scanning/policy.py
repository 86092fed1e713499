"""The pickle import policy: an allowlist of safe globals and a list of dangerous callables."""

from __future__ import annotations

import _compat_pickle
from dataclasses import dataclass

from mlgate.scanning.resolve import Kind, resolve_global
from mlgate.scanning.schemas import Severity

__all__ = ["Verdict", "classify_cut", "classify_global", "normalise_global"]

# Exact "module.name" globals that rebuild tensors, arrays and plain containers and run no code.
SAFE_GLOBALS: frozenset[str] = frozenset(
    {
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "collections.deque",
        "copyreg._reconstructor",
        "_codecs.encode",
        "builtins.set",
        "builtins.frozenset",
        "builtins.slice",
        "builtins.complex",
        "builtins.bytearray",
        "builtins.range",
        "builtins.object",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.str",
        "builtins.bytes",
        "builtins.bool",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "uuid.UUID",
        "argparse.Namespace",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy._core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "torch.Size",
        "torch.device",
        "torch.Tensor",
        "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout",
        "torch._tensor._rebuild_from_type_v2",
    }
)

# joblib <= 0.9 array placeholders: joblib.load reads the file named in their state (np.load with
# allow_pickle=True, or a zlib dump), wherever it is; pickles.py escalates an escaping filename.
EXTERNAL_FILE_WRAPPERS: frozenset[str] = frozenset(
    {
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
    }
)

# Module prefixes whose classes only hold data (estimators, layers, dtypes). Only classes defined
# in an ML library pass, checked by resolve.py where it can import the module: functions there
# (sklearn.datasets.fetch_openml reaches the network) and re-exported names do not.
CLASS_PREFIXES: tuple[str, ...] = (
    "sklearn.",
    "scipy.sparse.",
    "numpy.dtypes.",
    "torch.nn.modules.",
)
# Prefixes whose every name is safe to import and call.
SAFE_PREFIXES: tuple[str, ...] = ("torch._utils._rebuild_",)

# Exceptions carved out of SAFE_PREFIXES: helpers that run code or load files.
UNSAFE_UNDER_SAFE_PREFIX: tuple[str, ...] = ("sklearn.utils._testing", "sklearn.externals")

_TORCH_STORAGES = frozenset(
    f"torch.{kind}Storage"
    for kind in (
        "Float",
        "Double",
        "Half",
        "BFloat16",
        "Long",
        "Int",
        "Short",
        "Char",
        "Byte",
        "Bool",
        "ComplexFloat",
        "ComplexDouble",
        "QInt8",
        "QUInt8",
        "QInt32",
        "QUInt4x2",
        "QUInt2x4",
        "Untyped",
        "Typed",
    )
)
_TORCH_DTYPES = frozenset(
    f"torch.{name}"
    for name in (
        "float16",
        "float32",
        "float64",
        "bfloat16",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "bool",
        "complex64",
        "complex128",
        "half",
        "float",
        "double",
        "long",
        "int",
        "short",
        "strided",
        "sparse_coo",
        "contiguous_format",
        "preserve_format",
        "channels_last",
    )
)

# Whole modules (and their submodules) that reach the OS, the network or the interpreter.
DANGEROUS_MODULES: frozenset[str] = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "runpy",
        "pty",
        "socket",
        "shutil",
        "sys",
        "importlib",
        "webbrowser",
        "requests",
        "httpx",
        "urllib",
        "urllib2",
        "urllib3",
        "http",
        "ftplib",
        "telnetlib",
        "smtplib",
        "ctypes",
        "multiprocessing",
        "code",
        "codeop",
        "pdb",
        "bdb",
        "pickle",
        "_pickle",
        "cPickle",
        "dill",
        "cloudpickle",
        "marshal",
        "shelve",
        "commands",
        "popen2",
        "asyncio",
        "signal",
        "tempfile",
        "pathlib",
        "glob",
        "zipimport",
        "pkgutil",
        "platform",
        "timeit",
        "cProfile",
        "profile",
        "trace",
        "pydoc",
        "venv",
        "distutils",
        "setuptools",
        "pip",
        "io",
        "_io",
        "fileinput",
        "linecache",
        "_posixsubprocess",
        "posixpath",
        "ntpath",
        "types",
        "inspect",
        "gc",
        "threading",
        "_thread",
    }
)

# Single callables outside those modules that run code, open files or unpickle again.
DANGEROUS_GLOBALS: frozenset[str] = frozenset(
    {
        "builtins.eval",
        "builtins.exec",
        "builtins.compile",
        "builtins.getattr",
        "builtins.setattr",
        "builtins.delattr",
        "builtins.__import__",
        "builtins.open",
        "builtins.breakpoint",
        "builtins.input",
        "builtins.globals",
        "builtins.locals",
        "builtins.vars",
        "builtins.help",
        "builtins.memoryview",
        "builtins.type",
        "operator.attrgetter",
        "operator.methodcaller",
        "operator.itemgetter",
        "functools.partial",
        "functools.reduce",
        "torch.load",
        "torch.storage._load_from_bytes",
        "torch.hub.load",
        "torch.jit.load",
        "torch.serialization.load",
        "torch._C._jit_load",
        "numpy.load",
        "numpy.save",
        "numpy.savez",
        "numpy.savez_compressed",
        "numpy.savetxt",
        "numpy.loadtxt",
        "numpy.genfromtxt",
        "numpy.fromfile",
        "numpy.fromregex",
        "numpy.memmap",
        "numpy.DataSource",
        "numpy.testing",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.ctypeslib",
        "numpy.lib.npyio",
        "numpy.lib._npyio_impl",
        "numpy.lib.format",
        "numpy.lib.format_impl",
        "numpy.lib._format_impl",
        "numpy.lib._datasource",
        "numpy.lib.utils",
        "numpy._pytesttester",
        "numpy.core.memmap",
        "numpy._core.memmap",
        "numpy.core.records.fromfile",
        "numpy._core.records.fromfile",
        "scipy.io",
        "scipy._lib._testutils",
        "joblib.load",
        "joblib.numpy_pickle.load",
        "keras.models.load_model",
        "jinja2.Template",
        "pandas.read_pickle",
        "pandas.io.pickle.read_pickle",
        "sklearn.datasets",
        "sklearn.utils._testing",
        "torch.hub",
        "torch.utils.cpp_extension",
    }
)

# Roots of libraries that serialise their own classes; an unknown name there is less suspicious.
KNOWN_ML_ROOTS = frozenset(
    {
        "torch",
        "numpy",
        "sklearn",
        "scipy",
        "pandas",
        "collections",
        "xgboost",
        "lightgbm",
        "transformers",
        "tokenizers",
        "joblib",
        "datetime",
        "catboost",
    }
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy says about one imported global."""

    severity: Severity
    rule: str
    reason: str


def normalise_global(module: str, name: str) -> tuple[str, str]:
    """(module, name) after Python 2 names are mapped the way ``pickle.Unpickler`` maps them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _under(dotted: str, module: str) -> bool:
    return dotted == module or dotted.startswith(module + ".")


def classify_global(module: str, name: str) -> Verdict | None:
    """None for an allowlisted global, else the finding it deserves."""
    mod, name = normalise_global(module.strip(), name.strip())
    full = f"{mod}.{name}" if mod else name  # no module: resolve.py's top-level module
    parts = name.split(".")
    if full in DANGEROUS_GLOBALS or any(_under(full, g) for g in DANGEROUS_GLOBALS):
        return Verdict(
            Severity.CRITICAL,
            "pickle.dangerous-global",
            f"'{full}' can execute code, touch files or load another pickle",
        )
    if full in EXTERNAL_FILE_WRAPPERS:
        return Verdict(
            Severity.HIGH,
            "pickle.external-file",
            f"'{full}' is a legacy joblib wrapper that loads an external file (unpickling it)",
        )
    if full in SAFE_GLOBALS:  # exact names only, so pathlib.PosixPath passes, pathlib.Path.open not
        return None
    root = full.split(".", 1)[0]
    if root in DANGEROUS_MODULES or any(p in DANGEROUS_MODULES for p in parts[:-1]):
        return Verdict(
            Severity.CRITICAL,
            "pickle.dangerous-global",
            f"'{full}' reaches '{root}' or a module that touches the OS, network or interpreter",
        )
    if any(p.startswith("__") and p.endswith("__") for p in parts):
        return Verdict(
            Severity.CRITICAL,
            "pickle.dunder-access",
            f"'{full}' reaches a dunder attribute, a common sandbox escape",
        )
    if full in _TORCH_STORAGES or full in _TORCH_DTYPES:
        return None
    if any(full.startswith(p) for p in SAFE_PREFIXES):
        return None
    if root in KNOWN_ML_ROOTS:
        return _classify_ml(mod, name)
    return _unlisted_high(full)


def classify_cut(module: str, name: str, *, module_cut: bool, name_cut: bool) -> Verdict | None:
    """The critical verdict of a global only a start of whose name is seen, when what follows
    cannot change it; else None (the caller's finding is then high: unjudged is no pass).

    ``module`` and ``name`` are what is seen of each: all of it, or (cut) a start that goes on
    unseen, empty when nothing is seen. A cut text's last dotted part is unfinished, so only the
    parts before it count, as classify_global reads them: the root module, a dangerous module or
    dunder among the name's parts, a dangerous callable the dotted path lies under.
    """
    if not module_cut:
        module = normalise_global(module, "")[0]
    # The dotted path as far as it is known, whatever follows: nothing past a cut module.
    path = module if module_cut else f"{module}.{name}" if module else name
    known = path.split(".")[:-1] if module_cut or name_cut else path.split(".")
    shown = path[:128]
    parts = name.split(".")  # the name's parts that are surely there, and those before its last
    if name_cut:
        parts.pop()
    inner = parts if name_cut else parts[:-1]
    under = next((g for g in sorted(DANGEROUS_GLOBALS) if path.startswith(g + ".")), None)
    if under is not None:
        return Verdict(
            Severity.CRITICAL,
            "pickle.dangerous-global",
            f"'{shown}…' lies under '{under}', which can execute code, touch files or load "
            "another pickle",
        )
    root = known[0] if known else ""
    if root in DANGEROUS_MODULES or any(p in DANGEROUS_MODULES for p in inner):
        return Verdict(
            Severity.CRITICAL,
            "pickle.dangerous-global",
            f"'{shown}…' reaches '{root}' or a module that touches the OS, network or interpreter",
        )
    if any(p.startswith("__") and p.endswith("__") for p in parts):
        return Verdict(
            Severity.CRITICAL,
            "pickle.dunder-access",
            f"'{shown}…' reaches a dunder attribute, a common sandbox escape",
        )
    return None


def _unlisted_high(full: str) -> Verdict:
    return Verdict(
        Severity.HIGH,
        "pickle.unlisted-global",
        f"'{full}' is not on the allowlist; loading this pickle imports and may call it",
    )


_CYTHON_UNPICKLE = "__pyx_unpickle_"


def _classify_ml(mod: str, name: str) -> Verdict | None:
    """An unlisted name under an ML library: judged by what it resolves to, not by its prefix."""
    full = f"{mod}.{name}"
    class_prefixed = any(full.startswith(p) for p in CLASS_PREFIXES) and not any(
        full.startswith(u) for u in UNSAFE_UNDER_SAFE_PREFIX
    )
    unlisted_class = Verdict(
        Severity.MEDIUM,
        "pickle.unlisted-global",
        f"'{full}' is not on the allowlist of safe globals (an ML library's class or ufunc)",
    )
    if name.startswith(_CYTHON_UNPICKLE) and "." not in name:
        # Cython's generated helper only rebuilds an instance of the class it is named after.
        return classify_global(mod, name.removeprefix(_CYTHON_UNPICKLE))
    found = resolve_global(mod, name)
    if found is None:  # not importable here: only a class-like name is given the benefit
        if not name.split(".")[-1].lstrip("_")[:1].isupper():
            return _unlisted_high(full)
        return None if class_prefixed and full.startswith("torch.") else unlisted_class
    if found.kind is Kind.REFUSED:  # unjudged is no pass
        return Verdict(
            Severity.HIGH,
            "pickle.unlisted-global",
            f"'{full}' can only be judged by importing '{found.origin_module}', which the "
            "scanner does not do for a pickle; loading this pickle imports it",
        )
    origin = f"{found.origin_module}.{found.origin_name}".removeprefix(".")
    if (
        origin.split(".", 1)[0] not in KNOWN_ML_ROOTS
        or origin in DANGEROUS_GLOBALS
        or origin in EXTERNAL_FILE_WRAPPERS  # joblib 0.9's own name for them still works
    ):
        # The recursion stops: classify_global comes back here only for an ML root, which origin
        # is not (a Python 2 alias like UserDict -> collections would be, but no object has one),
        # or not for a dangerous callable or a legacy wrapper (both judged before it gets here).
        verdict = classify_global(found.origin_module, found.origin_name)
        if verdict is None:
            return None
        return Verdict(verdict.severity, verdict.rule, f"'{full}' is '{origin}': {verdict.reason}")
    if found.kind is Kind.UFUNC:
        return unlisted_class
    if found.kind is not Kind.CLASS:
        return Verdict(
            Severity.HIGH,
            "pickle.unlisted-callable",
            f"'{full}' is a function or object, not a class; loading this pickle may call it",
        )
    risky = [b for b in found.base_modules if b.split(".", 1)[0] in DANGEROUS_MODULES]
    if risky:
        return Verdict(
            Severity.HIGH,
            "pickle.unlisted-global",
            f"'{full}' derives from a class in '{risky[0]}', which touches the OS or interpreter",
        )
    return None if class_prefixed else unlisted_class
