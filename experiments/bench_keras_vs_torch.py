"""Keras (graph, with and without XLA) vs the exported PyTorch twin: ms per image, same weights and input, CPU.

    .venv/bin/python experiments/bench_keras_vs_torch.py [--threads N] [--repeats R] [--size 256]

Prints, for SRN colour and the dense-field generator at 256x256, the median ms per image of each framework and
the ratio Keras / PyTorch (target for SRN colour: <= 0.7), then the wall time of `export_and_check` for SRN
colour with the default parity sizes (target <= 60 s). Both frameworks get the same number of threads. The
machine may be shared: the load average is printed next to the numbers.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads for both (default: cores)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--models", default="srn-color,dense-gan")
    p.add_argument("--skip-export", action="store_true")
    return p.parse_args()


def timed(fn, repeats):
    fn()  # warm-up: tracing / XLA compilation / allocator
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main():
    args = parse()
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from deblurkeras.convert import export
    from deblurkeras.convert.parity import disable_tf32
    from deblurkeras.convert.pipeline import export_and_check, parity_input
    from deblurkeras.families import build_model
    disable_tf32()
    print(f"threads: tensorflow intra-op {tf.config.threading.get_intra_op_parallelism_threads()}, "
          f"torch {torch.get_num_threads()}; cores {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} "
          f"(shared machine: other jobs may slow either side)")
    print(f"versions: tensorflow {tf.__version__}, torch {torch.__version__}")
    size = (args.size, args.size)
    for name in args.models.split(","):
        model = build_model(name)
        twin = export.build_twin(name)
        twin.load_state_dict(export.keras_to_torch_state(model, twin))
        x = parity_input(name, size)
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        graph = tf.function(lambda v: model(v, training=False), jit_compile=False)
        xla = tf.function(lambda v: model(v, training=False), jit_compile=True)
        xtf = tf.constant(x)

        def run_torch():
            with torch.inference_mode():
                return twin(xt)

        twin_cl = export.build_twin(name).to(memory_format=torch.channels_last)
        twin_cl.load_state_dict(twin.state_dict())
        xt_cl = xt.contiguous(memory_format=torch.channels_last)

        def run_torch_cl():  # channels_last: oneDNN's native layout on CPU, no per-conv reorders
            with torch.inference_mode():
                return twin_cl(xt_cl)

        k_out = graph(xtf)
        diff = float(np.abs(np.asarray(k_out[-1] if isinstance(k_out, list) else k_out)
                            - (lambda o: (o[-1] if isinstance(o, list) else o).numpy().transpose(0, 2, 3, 1))(run_torch())).max())
        ms = {"keras": timed(lambda: graph(xtf), args.repeats),
              "keras_xla": timed(lambda: xla(xtf), args.repeats),
              "torch": timed(run_torch, args.repeats), "torch_cl": timed(run_torch_cl, args.repeats)}
        best = min(ms["torch"], ms["torch_cl"])  # compare against the faster PyTorch layout
        print(f"{name} {size[0]}x{size[1]}: keras {ms['keras']:.0f} ms, keras+XLA {ms['keras_xla']:.0f} ms, "
              f"pytorch NCHW {ms['torch']:.0f} ms, pytorch channels_last {ms['torch_cl']:.0f} ms per image; "
              f"keras/pytorch(best) {ms['keras'] / best:.2f}, keras+XLA/pytorch(best) {ms['keras_xla'] / best:.2f}; "
              f"output max abs diff {diff:.2g} (load {os.getloadavg()[0]:.1f})")
    if not args.skip_export:
        import tempfile
        import warnings
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok, results, _, seconds = export_and_check("srn-color", os.path.join(tmp, "srn.safetensors"),
                                                        report_dir=os.path.join(tmp, "report"))
        sizes = ", ".join(f"{r['size'][0]}x{r['size'][1]}" for r in results)
        print(f"export + check srn-color (sizes {sizes}, reports written, TF already imported): {seconds:.1f} s, "
              f"parity {'PASS' if ok else 'FAIL'}, max output diff "
              f"{max(r['max_abs_output'] for r in results):.2g}")


if __name__ == "__main__":
    main()
