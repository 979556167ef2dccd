"""`deblur` given super-resolution weights refuses and names `upscale` (it used to upscale x4 silently and call the
result deblurred), whether the model comes from the weights file or from --model."""
import numpy as np

from deblurkeras import weights
from deblurkeras.cli import main
from deblurkeras.families import build_model
from deblurkeras.imageio import save_image


def test_deblur_of_sr_weights_names_upscale(tmp_path, capsys):
    sr = weights.save(build_model("srresnet-x4", n_blocks=1), str(tmp_path / "sr.weights.h5"))
    save_image(str(tmp_path / "a.png"), np.zeros((16, 16, 3), np.uint8))
    for extra in ([], ["--model", "srresnet-x4"]):
        out = tmp_path / f"out{len(extra)}"
        assert main(["deblur", str(tmp_path / "a.png"), "--weights", sr, "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert "x4 super-resolution model" in err and "deblurkeras upscale --weights" in err, err
        assert not out.exists()  # nothing written
