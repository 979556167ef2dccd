"""Every registered image model through export-onnx, then ONNX Runtime and OpenVINO f32 against Keras float32.

    PYTHONPATH=. .venv/bin/python experiments/onnx_parity.py [--models srn-color,dense-gan]

Seeded random weights, BN statistics randomised, the output layer scaled to image range (parity.
output_to_image_range: untrained SRN returns +-35), the sizes of tests/test_onnx.py. Prints, per model, the export's
worst per-layer diff, and the max abs diff of the handed-out file run by each engine (in [0, 1] units).
"""
import argparse
import os
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def check_sizes(multiples):
    """The two check sizes of tests/test_onnx.py (sizes_of): from the model's size multiples, odd for (1, 1)."""
    mh, mw = multiples
    return [(13, 22), (19, 14)] if (mh, mw) == (1, 1) else [(2 * mh, 5 * mw), (5 * mh, mw)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=None, help="comma separated (default: every registered image model)")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    import keras
    import numpy as np
    from deblurkeras import registry
    from deblurkeras.convert.onnx_export import export_onnx
    from deblurkeras.convert.parity import output_to_image_range, randomize_batchnorm
    from deblurkeras.convert.pipeline import parity_input
    from deblurkeras.engines import OnnxEngine

    names = args.models.split(",") if args.models else registry.model_names(image_only=True)
    print("| model | sizes | worst layer diff (model units) | ONNX Runtime max abs [0,1] | OpenVINO f32 max abs [0,1] "
          "| export s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            io = registry.model_io(name)
            sizes = check_sizes(io.multiples)
            keras.utils.set_random_seed(0)
            model = randomize_batchnorm(registry.build_model(name))
            output_to_image_range(model, parity_input(name, sizes[0], 9), io.output_index)
            path = os.path.join(tmp, f"{name}.onnx")
            t = time.perf_counter()
            ok, results, _, _ = export_onnx(name, path, keras_model=model, sizes=sizes)
            sec = time.perf_counter() - t
            worst = max(max(r["max_abs"] for r in res["rows"]) for res in results)
            diffs = {}
            for engine in ("onnxruntime", "openvino") if ok else ():
                eng, d = OnnxEngine(path, engine), 0.0
                for size in sizes:
                    x = parity_input(name, size, 1)
                    y = model(x, training=False)
                    y = np.asarray(y[io.output_index] if isinstance(y, (list, tuple)) else y)
                    d = max(d, float(np.abs(eng.predict_nhwc(x) - y).max()) / io.out_scale)
                diffs[engine] = d
            print(f"| {name} | {', '.join(f'{h}x{w}' for h, w in sizes)} | {worst:.2g} | "
                  f"{diffs.get('onnxruntime', float('nan')):.2g} | {diffs.get('openvino', float('nan')):.2g} | "
                  f"{sec:.1f} |", flush=True)


if __name__ == "__main__":
    main()
