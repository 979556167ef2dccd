"""The contract every registered model keeps, parametrized over `families.model_names()`: a model added to a family
spec is tested here the moment it is registered (the parameter-count table below must then name it too)."""
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from deblurkeras import families, weights
from deblurkeras.errors import WeightsMismatchError

MODELS = families.model_names()

# What each model is held to comes from its ModelSpec (deblurkeras/families/<f>/__init__.py): `params` (Keras
# count_params(), BN moving statistics included; asserted against the originals' counts elsewhere), `parity_size`
# (a small HxW it accepts, for the export parity check) and `pitfalls` (the hand-port pitfalls of
# convert.torch_layers.PITFALLS that change its numbers; every other one must leave the report unchanged).
SPECS = {name: families.entry(name) for name in MODELS}


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = families.build_model(name)
        return cache[name]
    return get


def test_every_spec_says_its_counts_parity_size_and_pitfalls():
    for name, spec in SPECS.items():
        assert isinstance(spec.params, int) and spec.params > 0, name
        assert isinstance(spec.fixed, int) and 0 <= spec.fixed < spec.params, name
        assert len(spec.parity_size) == 2 and all(isinstance(v, int) and v > 0 for v in spec.parity_size), name
        assert isinstance(spec.pitfalls, frozenset), name


@pytest.mark.parametrize("name", MODELS)
def test_builds_with_its_parameter_count_and_knows_its_name(built, name):
    model = built(name)
    assert model.count_params() == SPECS[name].params
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == SPECS[name].fixed
    assert families.model_identity(model)["model"] == name


def test_keras_files_load_in_a_fresh_process_with_only_import_deblurkeras(built, tmp_path):
    paths = {}
    for name in MODELS:
        paths[name] = weights.save(built(name), str(tmp_path / f"{name}.keras"))
    code = (
        "import json, sys\n"
        "import deblurkeras\n"
        "import keras\n"
        "out = {}\n"
        "for name, path in json.loads(sys.argv[1]).items():\n"
        "    out[name] = keras.saving.load_model(path, safe_mode=True, compile=False).count_params()\n"
        "print(json.dumps(out))\n")
    r = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {n: SPECS[n].params for n in MODELS}
    for name, path in paths.items():
        assert weights.read_identity(path)["model"] == name


@pytest.mark.parametrize("name", MODELS)
def test_strict_load_names_the_missing_tensor(built, name, tmp_path):
    model = built(name)
    path = weights.save(model, str(tmp_path / "w.weights.h5"))
    with h5py.File(path, "a") as f:
        keys = []
        f.visititems(lambda k, obj: keys.append(k) if isinstance(obj, h5py.Dataset) else None)
        victim = keys[len(keys) // 2]
        del f[victim]
    with pytest.raises(WeightsMismatchError, match="missing: " + victim):
        weights.load_into(model, path)


def test_a_file_of_another_model_is_refused_by_name(built, tmp_path):
    path = weights.save(built("dense-gan"), str(tmp_path / "g.keras"))
    with pytest.raises(WeightsMismatchError, match="model dense-gan vs srn-color"):
        weights.load(path, "srn-color")
    model, name = weights.load(path)  # --model optional: the file says it
    assert name == "dense-gan" and model.count_params() == SPECS["dense-gan"].params


def test_plain_keras_weights_of_another_model_are_refused_tensor_by_tensor(built, tmp_path):
    path = str(tmp_path / "lstm.weights.h5")
    built("srn-color-lstm").save_weights(path)  # plain Keras file: no identity inside
    with pytest.raises(WeightsMismatchError, match="unexpected: .*"):
        weights.load(path, "srn-color")


def test_non_strict_load_is_explicit(built, tmp_path):
    path = str(tmp_path / "lstm.weights.h5")
    built("srn-color-lstm").save_weights(path)
    model = families.build_model("srn-color")
    weights.load_into(model, path, strict=False)


def _parity(name, model, naive=None):
    from deblurkeras.convert import export, pipeline

    twin = export.build_twin(name, naive=naive)
    twin.load_state_dict(export.keras_to_torch_state(model, twin))
    (result,) = pipeline.check_parity(name, model, twin, sizes=[SPECS[name].parity_size], tol=1e-5)
    return result


def _image_range_weights(model, seed=0):
    """SRN with Xavier weights has outputs around 12, where float32 noise reaches 1e-5: give it image-range weights
    (the identity start plus a small perturbation), as the converter tests do."""
    if families.entry(families.model_identity(model)["model"]).family != "srn":
        return model
    from deblurkeras.families.srn.model import identity_init
    identity_init(model)
    rng = np.random.RandomState(seed)
    for w in model.trainable_weights:
        w.assign(w.numpy() + 0.01 * rng.standard_normal(w.shape).astype(np.float32))
    return model


@pytest.mark.torch
@pytest.mark.parametrize("name", MODELS)
def test_exports_to_pytorch_with_parity_and_every_pitfall_is_caught_at_a_named_layer(name):
    pytest.importorskip("torch")
    from deblurkeras.convert.torch_layers import PITFALLS as ALL

    assert SPECS[name].pitfalls <= set(ALL), name
    model = _image_range_weights(families.build_model(name))
    exact = _parity(name, model)
    assert exact["ok"], exact["first_divergence"]
    assert max(o["max_abs"] for o in exact["outputs"]) <= 1e-5
    for pitfall in sorted(SPECS[name].pitfalls):
        naive = _parity(name, model, naive=pitfall)
        assert not naive["ok"], f"{pitfall} went unnoticed"
        assert naive["first_divergence"], f"{pitfall}: no layer named"


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name", MODELS)
def test_pitfalls_that_do_not_apply_leave_the_report_unchanged(name):
    pytest.importorskip("torch")
    from deblurkeras.convert.torch_layers import PITFALLS as ALL

    model = _image_range_weights(families.build_model(name))
    for pitfall in sorted(set(ALL) - SPECS[name].pitfalls):
        naive = _parity(name, model, naive=pitfall)
        assert naive["ok"], f"{pitfall} changed {name} at {naive['first_divergence']}"


def test_every_listed_layer_module_registers_a_keras_class():
    """FamilySpec.layer_modules lists what load_model must import; a module there that registers nothing is noise."""
    import importlib
    import inspect

    import keras
    from deblurkeras.families import families

    for fam in families().values():
        for name in fam.layer_modules:
            module = importlib.import_module(name)
            own = [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__.startswith(name)]
            assert any(keras.saving.get_registered_name(c) != c.__name__ for c in own), \
                f"{fam.name}: {name} is listed in layer_modules but registers no Keras class"
