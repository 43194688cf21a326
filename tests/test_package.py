"""The distribution as users install it: one package, a layout without cycles, and a README that
quotes the defaults the code has."""

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT, run_cli

from mmfuse.settings import GROUPS, JobSettings, settings_of

STAGE_FOLDERS = {
    "mmfuse": "mmfuse",
    "mmfuse.pipelines": "pipelines",
    "mmfuse.transforms": "transforms",
    "mmfuse.schemas": "schemas",
}


def _modules() -> dict[str, str]:
    """Module name → file, for every module of the package as the repository lays it out."""
    out = {}
    for package, folder in STAGE_FOLDERS.items():
        for d, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if not f.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(d, f), os.path.join(ROOT, folder))[:-3].replace(os.sep, ".")
                name = package if rel == "__init__" else f"{package}.{rel.removesuffix('.__init__')}"
                out[name] = os.path.join(d, f)
    return out


def test_the_wheel_holds_only_the_mmfuse_package(tmp_path):
    # built from a copy of the tracked files: pip builds in the source folder
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"
    for name in tracked:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("mmfuse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"mmfuse", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for module in (
        "mmfuse/__init__.py",
        "mmfuse/transforms/media/video.py",
        "mmfuse/pipelines/extract.py",
        "mmfuse/schemas/tables.py",
        "mmfuse/transforms/align/imagenet_classes.txt",
    ):
        assert module in names
    assert not any("/tests/" in n or "/benchmarks/" in n or n.endswith("setup.py") for n in names)
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "mmfuse = mmfuse.pipelines.extract:main" in entry


def test_import_mmfuse_from_another_folder_loads_no_beam(tmp_path):
    code = "import sys, mmfuse; print(mmfuse.__version__, 'apache_beam' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(r"\d+\.\d+\.\d+ False\n", out), out


def test_python_m_pipelines_extract_works_from_a_checkout():
    text = run_cli(["--help"], module="pipelines.extract", timeout=120)
    assert "Decoding (stage media)" in text and "--fps FPS" in text


def test_no_import_cycles_and_no_module_over_500_lines():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        source = open(path, encoding="utf-8").read()
        assert source.count("\n") <= 500, f"{path} has {source.count(chr(10))} lines"
        deps = set()
        for node in ast.walk(ast.parse(source)):  # lazy imports inside functions count too
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mmfuse"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
        graph[name] = {d for d in deps if d in modules and d != name}
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(dep) :] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_stage_cores_do_not_define_beam_transforms():
    """Each stage keeps its PTransforms and DoFns in its ``beam`` module (or ``combiners`` for
    CombineFns); the other modules are the pure cores."""
    allowed = {"beam", "combiners", "counters", "deadletter"}
    for name, path in _modules().items():
        if (
            not name.startswith("mmfuse.transforms.")
            or name.rsplit(".", 1)[-1] in allowed
            or name == "mmfuse.transforms.extraction"
        ):
            continue
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                assert not bases & {"beam.DoFn", "beam.PTransform", "beam.CombineFn"}, f"{name}.{node.name}"


@pytest.mark.parametrize("flag,default", [(s.name, s.default) for k in (JobSettings, *GROUPS.values()) for s in settings_of(k)])
def test_readme_quotes_each_default_as_the_code_has_it(flag, default):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for m in re.finditer(rf"`--{flag}`[^`.;]{{0,30}}?default (\d+(?:\.\d+)?)", readme):
        assert float(m.group(1)) == float(default), f"README says --{flag} defaults to {m.group(1)}, the code has {default}"


CORES = (
    "mmfuse.transforms.media.probe",
    "mmfuse.transforms.media.video",
    "mmfuse.transforms.media.audio",
    "mmfuse.transforms.text.transcripts",
    "mmfuse.transforms.features.visual",
    "mmfuse.transforms.features.audio",
    "mmfuse.transforms.features.text",
    "mmfuse.transforms.align.shots",
    "mmfuse.transforms.align.words",
)


def test_the_cores_do_not_import_beam():
    """A script that decodes or aligns local files pays no Beam import (about 2 CPU-s)."""
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        f"for m in {CORES!r}:\n"
        "    importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'torch', 'librosa', 'sklearn')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


def test_the_readers_need_neither_beam_nor_a_decoder():
    """mmfuse.data runs where training runs: pyarrow and numpy, no Beam, PyAV or torch."""
    import subprocess
    import sys

    code = (
        "import sys, mmfuse.data\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'apache_beam', 'av', 'torch', 'librosa', 'cv2'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
