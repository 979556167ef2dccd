"""The per-layer tolerance rule on the cases it was made for: float32 rounding on large features passes, a hand-port
pitfall fails at its first wrong layer.

    PYTHONPATH=. .venv/bin/python experiments/parity_tolerance.py [--sdnet4 WEIGHTS.weights.h5] [--onnx]

Cases: a freshly built SRN colour (seeded; its outputs are not in the image range), DMPHN 1-2-4 with every
encoder's first conv scaled x100 (features reach |x| ~ 200-300: the synthetic large case of
tests/test_parity_tolerance.py), SRN colour with `--naive padding`, and the released SDNet4 when `--sdnet4` names
its imported weights (`deblurkeras import SDNet4/ --out sdnet4.weights.h5`). Prints per case and size: the worst
layer by absolute and by relative error (max abs, mean abs, max relative = max abs / the layer's max |x|), the first
divergence under the old absolute rule (--absolute-tol) and under the default scaled rule, and the likely cause.
`--onnx` checks the file export-onnx hands out as well (ONNX Runtime; registered models only).
"""
import argparse
import os
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cases(args):
    """(label, model name, weights path or a Keras model, naive)"""
    import keras
    from deblurkeras import registry
    from deblurkeras.convert import export
    keras.utils.set_random_seed(1)
    srn = registry.build_model("srn-color")
    keras.utils.set_random_seed(0)
    big = registry.build_model("dmphn-1-2-4")
    for path, var in export.keras_variables(big).items():
        if "/layer1/" in path:
            var.assign(var.numpy() * 100.0)
    out = [("srn-color fresh", "srn-color", srn, ()), ("dmphn-1-2-4 layer1 x100", "dmphn-1-2-4", big, ()),
           ("srn-color --naive padding", "srn-color", srn, {"padding"})]
    if args.sdnet4:
        out.append(("SDNet4 released", "stack-dmphn-4", args.sdnet4, ()))
    return out


def cell(text, width=90):
    """A markdown table cell: cut to `width`, its bars escaped."""
    return text[:width].replace("|", "\\|")


def summary(label, target, results_abs, results_scaled):
    for ra, rs in zip(results_abs, results_scaled):
        rows = [r for r in rs["rows"] if r["max_abs"] is not None]  # a shape mismatch has no numbers
        worst = max(rows, key=lambda r: r["max_abs"])
        rel = max(rows, key=lambda r: r["max_rel"])
        print(f"| {label} | {target} | {'x'.join(map(str, rs['size']))} | {worst['name']}: {worst['max_abs']:.2g} "
              f"(mean {worst['mean_abs']:.2g}, scale {worst['scale']:.3g}) | {rel['name']}: {rel['max_rel']:.2g} | "
              f"{ra['first_divergence'] or 'none'} | {rs['first_divergence'] or 'none'} | "
              f"{cell(rs.get('cause') or ra.get('cause') or '')} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sdnet4", help="the released SDNet4 imported as .weights.h5")
    p.add_argument("--onnx", action="store_true", help="also export-onnx (needs the onnx extra)")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from deblurkeras import registry
    from deblurkeras.convert import AbsoluteTol, DEFAULT_TOL, export
    from deblurkeras.convert.pipeline import check_parity
    print("| case | target | size | worst layer by abs (mean abs, scale = the layer's max abs value) | worst relative | "
          "first divergence, absolute 1e-4 | first divergence, default rule | likely cause |")
    print("|---|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, source, naive in cases(args):
            model = source
            if isinstance(source, str):
                model = registry.build_model(name)
                export.load_keras_weights(model, source)
            twin = export.build_twin(name, naive=naive)
            twin.load_state_dict(export.keras_to_torch_state(model, twin))
            sizes = twin.parity_sizes()
            runs = [check_parity(name, model, twin, sizes, tol) for tol in (AbsoluteTol(DEFAULT_TOL), DEFAULT_TOL)]
            summary(label, "PyTorch twin", *runs)
            if args.onnx:
                from deblurkeras.convert.onnx_export import export_onnx
                runs = [export_onnx(name, os.path.join(tmp, f"{name}.onnx"), naive=naive, tol=tol, keras_model=model,
                                    sizes=sizes)[1] for tol in (AbsoluteTol(DEFAULT_TOL), DEFAULT_TOL)]
                summary(label, "ONNX Runtime", *runs)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
