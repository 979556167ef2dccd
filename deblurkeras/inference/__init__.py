"""`deblurkeras deblur`: run a registered model on image files, any size, with the original test-time conventions.

Per image (defaults follow the official SRN test script):
  1. read as uint8 RGB (`deblurkeras.imageio.load_image`: gray / RGBA / 16-bit / palette handled), /255.0;
  2. portrait images (h > w) are transposed, run, and transposed back when the model's ModelIO says so
     (`io.transpose`: SRN only, as its official script did to fit its fixed landscape placeholder; the kernels are
     not transpose-symmetric, so it changes the numbers a little). `--transpose` / `--no-transpose` override it;
  3. the registry's value range is applied (`model_io(name)`), H and W are edge-padded bottom/right to the model's
     `multiples` (16 for SRN; 16 x 8 for DMPHN 1-2-4-8) and the output is cropped back. The original padded to its
     placeholder size instead; `--pad-to 720x1280` reproduces that exactly;
  4. models with one channel (SRN gray / lstm) run an RGB image channel by channel, the 3 channels as a batch of 3;
  5. the output (`output_index`, the finest SRN scale) is clipped to [0, 1], *255 and truncated to uint8 like the
     original `im2uint8`; `--round` rounds instead.
Deviation from the official script, by design: images larger than 720x1280 are NOT bicubically shrunk and
enlarged back; they run at full resolution. Memory (deblurkeras.memory): each image's peak memory is estimated
from the model and its size; when it exceeds `--max-memory` (default half the available memory) or a tensor would
pass 2^31 elements, the image runs in tiles on its own (one line says so; a bar counts the tiles), overlapping by
`--overlap` (default OVERLAP; the seam error table is in deblurkeras/docs/inference.md) and blended with linear
ramps. `--tile N` forces tiles of N px, `--tile 0` never tiles. An image that fits one tile takes exactly the
untiled path.

Files that cannot be read, written or fitted in memory get a one-line error naming them; the others are still
processed; the exit status is non-zero at the end if any failed. Two inputs that would write the same output
(x.png and x.jpg with `--ext png`) are both refused, by name, rather than one silently replacing the other.
Outputs are written atomically (a unique hidden temporary, renamed; deblurkeras.utils): no partial files, and
stale temporaries of a killed run are removed from --out on the next run.

The package, by job: loading.py (a model with its weights, NaN check), forward.py (the compiled forward, value range,
padding), tiles.py (the tile grid and blending), predict.py (one image: predict_01, deblur_array, run_image),
checks.py (size and memory options and their checks), verb.py (the `deblur` verb). The names below are its API.
"""
from .checks import add_memory_arguments, check_declared_size, check_pad_to, check_tile_args
from .forward import forward_fn, normalize, run_padded
from .loading import load_model
from .predict import deblur_array, predict_01, run_image
from .tiles import OVERLAP, tile_grid
from .verb import (add_arguments, announce, image_inputs, load_for_run, output_plan, planned_outputs,
                   refuse_upscaler, run, run_images)

__all__ = ["OVERLAP", "add_arguments", "add_memory_arguments", "announce", "check_declared_size", "check_pad_to",
           "check_tile_args", "deblur_array", "forward_fn", "image_inputs", "load_for_run", "load_model", "normalize",
           "output_plan", "planned_outputs", "predict_01", "refuse_upscaler", "run", "run_image", "run_images",
           "run_padded", "tile_grid"]
