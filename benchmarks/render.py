"""Render a saved pytest-benchmark run (``--benchmark-json``) into a markdown table
(ratio vs torch and NumPy, % of the parallel-fill bandwidth of the same group, or
for activations % of the parallel copy's bytes/s)
and a PNG chart.

    python benchmarks/render.py run.json [--png chart.png]
"""
import argparse
import json
from collections import defaultdict


def load(path):
    data = json.load(open(path))
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        lib = b["extra_info"].get("lib")
        if lib is None:
            continue
        groups[b["group"]][lib] = (b["stats"]["min"], b["extra_info"]["elements"],
                                   b["extra_info"].get("bytes_per_element"))
    return data, groups


def table(data, groups):
    mi = data.get("machine_info", {})
    lines = [f"machine: {mi.get('cpu', {}).get('brand_raw', mi.get('processor', '?'))}, "
             f"{data.get('datetime', '')}", "",
             "| group (op\\|size\\|dtype\\|device) | fastinit G el/s | numpy (cuda: CuPy) | torch | x numpy | x torch "
             "| % of fill / copy bandwidth |", "|---|---:|---:|---:|---:|---:|---:|"]
    for g in sorted(groups):
        r = groups[g]
        if "fastinit" not in r:
            continue
        t_fi, n = r["fastinit"][:2]

        if "numpy" not in r and "cupy" in r:  # GPU groups: CuPy is the array library to beat
            r = dict(r, numpy=r["cupy"])

        def rate(lib):
            return f"{n / r[lib][0] / 1e9:.2f}" if lib in r else "—"

        def ratio(lib):
            return f"{r[lib][0] / t_fi:.1f}x" if lib in r else "—"

        fill = f"{100 * r['fill'][0] / t_fi:.0f}% of fill" if "fill" in r else "—"
        if "copy" in r:  # activations: bytes moved per second vs the copy's
            t_c, _, b_c = r["copy"]
            fill = f"{100 * (r['fastinit'][2] / t_fi) / (b_c / t_c):.0f}% of copy"
        lines.append(f"| {g.replace('|', chr(92) + '|')} | {rate('fastinit')} | {rate('numpy')} | {rate('torch')} "
                     f"| {ratio('numpy')} | {ratio('torch')} | {fill} |")
    return "\n".join(lines)


def chart(groups, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    names = [g for g in sorted(groups) if "fastinit" in groups[g]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names)), 4))
    for i, lib in enumerate(("fastinit", "numpy", "torch", "fill")):  # copy groups: no bar
        vals = [groups[g][lib][1] / groups[g][lib][0] / 1e9 if lib in groups[g] else 0 for g in names]
        ax.bar(x + (i - 1.5) * 0.2, vals, 0.2, label=lib)
    ax.set_xticks(x, [n.replace("|", "\n") for n in names], fontsize=6)
    ax.set_ylabel("G elements / s")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("json")
    p.add_argument("--png")
    a = p.parse_args()
    data, groups = load(a.json)
    print(table(data, groups))
    if a.png:
        chart(groups, a.png)


if __name__ == "__main__":
    main()
