"""Train-step parity at tiny shapes: each family's trainer against its restatement of the original's training step
(deblurkeras.training.step_parity; the references in each family's original.py), from the same weights on the same
5 batches of real crops. The cases are the family specs' `parity` (deblurkeras.spec.ParityCase): a new family's
cases run here without a line added."""
import pytest

from deblurkeras.training import step_parity as tp

pytestmark = pytest.mark.usefixtures("sample_train_dir")


def _params(run):
    """pytest params of every registered case with a `run` ("float32" or "float64") test; slow unless the case
    lists the run as quick."""
    out = []
    for name, (_, case) in tp.cases().items():
        if run == "float32" and case.float32 is None:
            continue
        out.append(pytest.param(name, marks=() if run in case.quick else pytest.mark.slow))
    return out


# float32. The torch-origin cases' change bound (4e-5): at these shapes the reference run against itself with other
# numerics (TF_ENABLE_ONEDNN_OPTS=0, one thread, torch without mkldnn; `python experiments/train_parity.py --tiny
# --size 32 --batch 1`) moves the weight change by 1.9e-6 (SRResNet), 1.3e-5 (DMPHN): 3x the larger floor. SRN: two
# steps against the tf.compat.v1 train op (TF1Adam: TF1's Adam bit for bit). Dense-field GAN: one batch of main.py's
# loop (D step, G through frozen D, content step, three Adam states).
@pytest.mark.parametrize("case", _params("float32"))
def test_every_family_trains_like_its_original(case):
    bound = tp.case_spec(case)[1].float32
    row = tp.parity(case, size=32, batch=1, steps=bound["steps"], tiny=True, floor=False)["ours"]
    assert row["grad"] <= bound["grad"], row
    assert row["loss"] <= bound["loss"], row
    assert row["change"] <= bound["change"], row


# float64 on both sides (Keras floatx, torch's default dtype, the TF1 graph's dtype): float32 rounding and the
# chaos it seeds are gone, so what is left is any difference in the algorithm. Measured at these shapes
# (`python experiments/train_parity.py --tiny --size 32 --batch 1 --float64`): SRN and DMPHN 1e-12 or less
# (Stack-DMPHN, 3 stacks: gradient 7.6e-16, loss 6.4e-13, weights 2.7e-10); the
# dense-field GAN 1e-10; SRResNet / SRGAN 1e-7 (the tutorial's ImageNet mean/std are float32 FloatTensors).
F64_BOUND = 1e-6


@pytest.mark.parametrize("case", _params("float64"))
def test_every_family_trains_like_its_original_in_float64(case):
    """The float64 targets (loss 1e-5, weights 1e-4) with a margin of 10-100x, K = 5 free-running steps."""
    row = tp.parity(case, size=32, batch=1, steps=5, tiny=True, floor=False, dtype="float64")["ours"]
    assert row["grad"] <= F64_BOUND and row["loss"] <= F64_BOUND and row["weights"] <= F64_BOUND, row


def _with_keras3_adam(monkeypatch, family):
    """Make the family's trainer get Keras 3's own Adam where its spec names another rule; returns the list the
    optimizers built that way are appended to, so a guard can prove the patch reached the trainer (a guard whose
    patch misses, as one once patched a function the trainers had stopped calling, would pass for nothing)."""
    import keras
    from deblurkeras import families
    from deblurkeras.training import optimizers

    built = []

    class Keras3Adam(keras.optimizers.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    semantics = families.family(family).optimizer
    assert semantics != "keras", f"{family} already trains with Keras 3's Adam: nothing to guard"
    monkeypatch.setitem(optimizers._CLASSES, semantics, Keras3Adam)
    return built


@pytest.mark.slow
def test_keras_adam_would_fail_the_dmphn_check(monkeypatch):
    """The same check with Keras' Adam (epsilon on sqrt(v)) instead of TorchAdam: the weight change is far off
    (measured 0.22 against 3.2e-6 with TorchAdam), so the test above can fail and TorchAdam is what makes it pass."""
    built = _with_keras3_adam(monkeypatch, "dmphn")
    bound = tp.case_spec("dmphn")[1].float32
    row = tp.parity("dmphn", size=32, batch=1, steps=bound["steps"], tiny=True, floor=False)["ours"]
    assert built, "the DMPHN trainer did not build its Adam through training.optimizers: this guard tests nothing"
    assert row["change"] > 100 * bound["change"], row


@pytest.mark.slow
def test_keras3_adam_would_fail_the_srn_float64_check(monkeypatch):
    """SRN with Keras 3's own Adam instead of TF1Adam: 1 - beta_2 in double, beta^t by pow, 6.4e-6 shorter first
    steps - far outside the bound above (measured: loss 2.3e-4, weights 0.11 against 1.7e-16, 6.4e-14 with
    TF1Adam), so that test can fail and TF1Adam is what makes it pass."""
    built = _with_keras3_adam(monkeypatch, "srn")
    row = tp.parity("srn-color", size=32, batch=1, steps=5, tiny=True, floor=False, dtype="float64")["ours"]
    assert built, "the SRN trainer did not build its Adam through training.optimizers: this guard tests nothing"
    assert row["loss"] > 100 * F64_BOUND or row["weights"] > 100 * F64_BOUND, row
