"""Parity reports: JSON, Markdown and a self-contained HTML page (table, diff-vs-depth plot, output diff heatmap)."""
import base64
import html
import io
import math
import os

from ..utils import atomic_path, dumps_json


def print_results(results, paths):
    """One line per checked size (PASS/FAIL, output max abs diffs, first divergence with its errors and likely
    cause), then the report files: what export-torch, export-onnx and convert-keras print."""
    for r in results:
        outs = ", ".join(f"{o['max_abs']:.3g}" if o["max_abs"] is not None else "shape!" for o in r["outputs"])
        target = f"{r['target']} " if r.get("target") else ""  # convert-keras --onnx: the ONNX Runtime rows
        print(f"{target}{'x'.join(map(str, r['size']))}: {'PASS' if r['ok'] else 'FAIL'}  "
              f"output max abs diff [{outs}]  first divergence: {divergence(r)}")
    for p in paths:
        print(f"report: {p}")


def divergence(result):
    """`enc2_1@0 (max abs 0.42 = relative 1 of the layer's max |x| 0.42; likely cause: ...)`, or `none`."""
    row = next((x for x in result["rows"] if x["name"] == result["first_divergence"]), None)
    if row is None:
        return "none" if not result["first_divergence"] else result["first_divergence"]
    if row["max_abs"] is None:
        what = f"shape keras {row['keras_shape']} vs {row['torch_shape']}"
    else:
        what = f"max abs {row['max_abs']:.3g} = relative {row['max_rel']:.2g} of the layer's max |x| {row['scale']:.3g}"
    cause = f"; likely cause: {result['cause']}" if result.get("cause") else ""
    return f"{row['name']} ({what}{cause})"


def print_verdict(ok, out, tol, seconds, extra=""):
    """The last line of an export verb -> its exit status: 0 written, 1 parity failed (nothing written)."""
    if not ok:
        from .rules import tolerance_rule
        print(f"parity FAILED ({tolerance_rule(tol)}); {out} not written")
        return 1
    detail = ", ".join(([f"{os.path.getsize(out)} bytes"] if os.path.isfile(out) else []) + ([extra] if extra else []))
    print(f"wrote {out}{f' ({detail})' if detail else ''} in {seconds:.1f} s")
    return 0


def _num(v):
    """JSON-safe number: inf/nan as strings."""
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return str(v)
    return v


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k != "output_diff_map"}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return _num(obj)


def _fmt(v, spec=".3g"):
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec) if isinstance(v, float) else str(v)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(result):
    """(diff-vs-depth PNG, output-diff heatmap PNG) as base64 strings (Agg backend, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    rows = [r for r in result["rows"] if r["max_abs"] is not None]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    floor = 1e-10  # exact zeros on a log axis
    ax.semilogy([r["depth"] for r in rows], [max(r["max_abs"], floor) for r in rows], ".-", label="max abs diff")
    ax.semilogy([r["depth"] for r in rows], [max(r["mean_abs"], floor) for r in rows], ".-", label="mean abs diff")
    scaled = "x max" in result.get("tol_rule", "")
    ax.axhline(result["tol"], color="red", ls="--", lw=1,
               label=f"tolerance {result['tol']:g}" + (" (x the layer's max |x| where above 1)" if scaled else ""))
    if result["first_divergence"]:
        first = next(r for r in result["rows"] if r["name"] == result["first_divergence"])
        ax.axvline(first["depth"], color="orange", lw=1, label=f"first divergence: {first['name']}")
    ax.set_xlabel("depth (execution order)")
    ax.set_ylabel("abs diff (exact 0 drawn at 1e-10)")
    ax.legend(fontsize=7)
    depth_png = _png(fig)
    plt.close(fig)
    heat_png = None
    if result.get("output_diff_map") is not None:
        fig, ax = plt.subplots(figsize=(4.5, 3.5))
        im = ax.imshow(result["output_diff_map"], cmap="magma")
        fig.colorbar(im, ax=ax, label="|keras - torch| (mean over channels)")
        ax.set_title("output difference")
        ax.axis("off")
        heat_png = _png(fig)
        plt.close(fig)
    return depth_png, heat_png


def _table_rows(result):
    for r in result["rows"]:
        yield [str(r["depth"]), r["name"], "x".join(map(str, r["keras_shape"])), "x".join(map(str, r["torch_shape"])),
               _fmt(r["max_abs"]), _fmt(r["mean_abs"]), _fmt(r["max_rel"]), "ok" if r["ok"] else "**DIVERGES**"]


HEADER = ["depth", "layer@call", "keras shape (NHWC)", "torch shape (NHWC)", "max abs", "mean abs", "max rel", ""]


def _target(meta):
    """What Keras is compared with: meta["target"] (e.g. "ONNX Runtime"), PyTorch by default."""
    return meta.get("target") or "PyTorch"


def _header(meta):
    return [h.replace("torch", _target(meta)) if "torch" in h else h for h in HEADER]


def _summary(meta, result):
    outs = ", ".join(f"#{o['index']} max abs {_fmt(o['max_abs'])} PSNR {_fmt(o['psnr_db'], '.1f')} dB"
                     for o in result["outputs"])
    rule = result.get("tol_rule") or f"tol {result['tol']:g}"
    return (f"model {meta.get('model')}, size {'x'.join(map(str, result['size']))}, naive "
            f"{meta.get('naive') or 'none'}: {'PASS' if result['ok'] else 'FAIL'} ({rule}); "
            f"first divergence: {divergence(result)}; outputs: {outs}")


def markdown(meta, results):
    lines = [f"# Keras -> {_target(meta)} parity: {meta.get('model')}", ""]
    for res in results:
        lines += [f"## {'x'.join(map(str, res['size']))}", "", _summary(meta, res), "",
                  "| " + " | ".join(_header(meta)) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(cells) + " |" for cells in _table_rows(res)]
        if res["unpaired_keras_layers"]:
            lines += ["", "Keras layers without a torch counterpart row: " + ", ".join(res["unpaired_keras_layers"])]
        lines.append("")
    return "\n".join(lines)


def html_page(meta, results):
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>parity {e(str(meta.get('model')))}</title><style>body{{font-family:sans-serif;margin:1em}}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
             "tr.bad{background:#fdd}</style></head><body>",
             f"<h1>Keras &rarr; {e(_target(meta))} parity: {e(str(meta.get('model')))}</h1>",
             f"<p>config <code>{e(meta.get('config', ''))}</code>; versions <code>{e(meta.get('versions', ''))}</code>"
             "</p>"]
    for res in results:
        depth_png, heat_png = plots(res)
        parts += [f"<h2>{'x'.join(map(str, res['size']))}</h2><p>{e(_summary(meta, res))}</p>",
                  f"<img alt='diff vs depth' src='data:image/png;base64,{depth_png}'>"]
        if heat_png:
            parts.append(f"<img alt='output difference heatmap' src='data:image/png;base64,{heat_png}'>")
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in _header(meta)) + "</tr>")
        for r, cells in zip(res["rows"], _table_rows(res)):
            cls = "" if r["ok"] else " class='bad'"
            parts.append(f"<tr{cls}>" + "".join(f"<td>{e(c.strip('*'))}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def check_report_dir(directory):
    """Refuse, before any work, a --report that names an existing file (the reports go into a folder)."""
    if directory and os.path.exists(directory) and not os.path.isdir(directory):
        from ..errors import BadInputError
        raise BadInputError(f"--report {directory}: exists and is not a folder (parity.json / .md / .html go into a "
                            "folder)")


def write_reports(directory, meta, results, stem="parity"):
    """Write <stem>.json, <stem>.md, <stem>.html into `directory` (atomically); returns the three paths."""
    os.makedirs(directory, exist_ok=True)
    doc = {"model": meta.get("model"), "target": _target(meta), "config": meta.get("config"),
           "naive": meta.get("naive"),
           "versions": meta.get("versions"), "source": meta.get("source"),
           "ok": all(r["ok"] for r in results), "results": _clean(results)}
    paths = []
    for ext, text in (("json", dumps_json(doc, indent=1)), ("md", markdown(meta, results)),
                      ("html", html_page(meta, results))):
        path = os.path.join(directory, f"{stem}.{ext}")
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        paths.append(path)
    return paths
