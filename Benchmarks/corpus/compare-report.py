#!/usr/bin/env python3
"""Renders the results of Benchmarks/compare.sh as one Markdown table plus the target check.
usage: compare-report.py RESULTS_TSV META_TSV
RESULTS_TSV lines: TOOL STEP KEY VALUE (tab-separated); keys: secs, rss_kb, rc, bytes (input
bytes of the step), repo (du -sb of the repository after the step), verify.
META_TSV lines: KEY VALUE (tab-separated) for the header."""
import sys
from collections import defaultdict

res = defaultdict(dict)
for line in open(sys.argv[1]):
    tool, step, key, value = line.rstrip("\n").split("\t")
    res[(tool, step)][key] = value
meta = dict(line.rstrip("\n").split("\t", 1) for line in open(sys.argv[2]) if "\t" in line)
tools = meta["tools"].split(",")
ntars = int(meta["ntars"])

def num(tool, step, key):
    r = res.get((tool, step), {})
    if r.get("rc", "0") not in ("0",) or key not in r:
        return None
    try:
        return float(r[key])
    except ValueError:
        return None

def failed(tool, step):
    r = res.get((tool, step))
    return r is not None and r.get("rc", "0") != "0"

def size(b):
    if b is None:
        return "—"
    sign = "-" if b < 0 else ""
    b = abs(b)
    if b >= 1e9: return f"{sign}{b / 1e9:.2f} GB"
    if b >= 1e7: return f"{sign}{b / 1e6:.0f} MB"
    if b >= 1e6: return f"{sign}{b / 1e6:.1f} MB"
    if b >= 1e3: return f"{sign}{b / 1e3:.0f} kB"
    return f"{sign}{b:.0f} B"

def secs(s): return "—" if s is None else (f"{s:.1f}" if s >= 10 else f"{s:.2f}")
def rate(b, s): return None if b is None or not s else b / 1e6 / s
def mbps(r): return "—" if r is None else (f"{r:.0f}" if r >= 100 else f"{r:.1f}")
def rss(kb): return "—" if kb is None else f"{kb * 1024 / 2**20:.0f} MiB"

# Per tool, per figure: (seconds, MB/s, repo column, RSS KiB, value the ratio uses)
def step_cells(tool, step, ratio_kind):
    s, kb = num(tool, step, "secs"), num(tool, step, "rss_kb")
    r, repo = rate(num(tool, step, "bytes"), s), num(tool, step, "repo")
    basis = {"thr": r, "time": s, "size": repo, "rss": kb}[ratio_kind]
    return s, r, repo, kb, basis

def tar_cells(tool):
    steps = [f"tar{i:02d}" for i in range(ntars)]
    if any(failed(tool, st) for st in steps) or any((tool, st) not in res for st in steps):
        return None
    total = sum(num(tool, st, "secs") for st in steps)
    inbytes = sum(num(tool, st, "bytes") for st in steps)
    first, last = num(tool, steps[0], "repo"), num(tool, steps[-1], "repo")
    mean_added = (last - first) / (ntars - 1) if ntars > 1 else None
    return total, rate(inbytes, total), last, max(num(tool, st, "rss_kb") for st in steps), mean_added

def image_added(tool):
    a, b = num(tool, "img1", "repo"), num(tool, "img2", "repo")
    return None if a is None or b is None else b - a

rows = []   # (key, label, {tool: (s, MB/s, repo text, RSS, value the ratio uses)}, ratio kind)
def add_step(key, label, step, kind, show=("s", "r", "repo", "rss")):
    cells = {}
    for t in tools:
        if failed(t, step):
            cells[t] = ("FAIL rc=" + res[(t, step)]["rc"], "", "", "", None)
            continue
        s, r, repo, kb, basis = step_cells(t, step, kind)
        cells[t] = (secs(s) if "s" in show else "", mbps(r) if "r" in show else "",
                    size(repo) if "repo" in show else "", rss(kb) if "rss" in show else "", basis)
    rows.append((key, label, cells, kind))

tree_b = meta.get("tree_bytes")
add_step("tree1", f"first backup, tree ({size(float(tree_b))})", "tree1", "thr")
add_step("tree2", "re-backup, tree unchanged", "tree2", "time")
add_step("restore", "restore, tree", "restore", "thr", show=("s", "r", "rss"))
add_step("check", "check --read-data (tree repo; MB/s of tree bytes)", "check", "thr")
add_step("random", f"backup {meta['random_label']} random (stdin)", "random", "thr")
add_step("img1", f"disk image v1, {meta['image_label']} (stdin)", "img1", "thr")
cells = {}
for t in tools:
    if failed(t, "img2") or failed(t, "img1"):
        cells[t] = ("FAIL", "", "", "", None); continue
    s, r, _, kb, _ = step_cells(t, "img2", "time")
    a = image_added(t)
    cells[t] = (secs(s), mbps(r), ("+" + size(a)) if a is not None else "—", rss(kb), a)
rows.append(("img2", "disk image v2 (0.5 % blocks rewritten): bytes added", cells, "size"))
tc = {t: tar_cells(t) for t in tools}
rows.append(("tarsize", f"tar series, {ntars} versions: final repo size", {
    t: (("FAIL", "", "", "", None) if c is None else (secs(c[0]), mbps(c[1]), size(c[2]), rss(c[3]), c[2]))
    for t, c in tc.items()}, "size"))
rows.append(("taradded", "tar series: mean bytes added per new version", {
    t: (("FAIL", "", "", "", None) if c is None else ("", "", "+" + size(c[4]) if c[4] is not None else "—", "", c[4]))
    for t, c in tc.items()}, "size"))
add_step("rss", "peak RSS, first backup", "tree1", "rss", show=("rss",))

KIND = {"thr": "throughput", "time": "time", "size": "size", "rss": "peak RSS"}
def ratio(cells, kind):
    if "cairn" not in cells or "restic" not in cells:
        return None
    a, b = cells["cairn"][4], cells["restic"][4]
    if a is None or b is None or b == 0:
        return None
    return a / b

header = ["figure"]
for t in tools:
    header += [f"{t} s", f"{t} MB/s", f"{t} repo", f"{t} RSS"]
header += ["cairn/restic", "ratio of"]
table = [header]
ratios = {}
for key, label, cells, kind in rows:
    line = [label]
    for t in tools:
        line += list(cells[t][:4])
    q = ratio(cells, kind)
    ratios[key] = q
    line += ["—" if q is None else f"{q:.2f}×", KIND[kind]]
    table.append(line)

widths = [max(len(r[i]) for r in table) for i in range(len(header))]
def fmt(r):
    return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"
out = []
out.append(f"# cairn vs restic vs borg — {meta['date']}{' (--quick)' if meta.get('quick') == '1' else ''}")
out.append("")
for k in ("versions", "machine", "caches", "corpus", "settings", "load"):
    if k in meta:
        out.append(f"- {meta[k]}")
out.append("- Units: MB = 10^6 bytes; MB/s = the step's input bytes / wall seconds; repo = `du -sb` of the "
           "repository folder after the step; RSS = peak resident set of the tool's process (`/usr/bin/time %M`). "
           "cairn/restic = ratio of the quantity in \"ratio of\": for throughput higher is better "
           "for cairn, for time, size and peak RSS lower is better. Times have 10 ms resolution, so sub-second "
           "steps (the unchanged re-backup) are the noisiest.")
out.append("")
out.append(fmt(table[0]))
out.append("|" + "|".join((":" if i == 0 else "-") + "-" * w + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|")
out += [fmt(r) for r in table[1:]]
out.append("")
ver = [f"{t} {res.get((t, 'restore'), {}).get('verify', 'n/a')}" for t in tools]
out.append("Restored tree compared with the original (`diff -r --no-dereference`, not timed): " + ", ".join(ver) + ".")
fails = [f"{t} {st} (rc {r['rc']})" for (t, st), r in sorted(res.items()) if r.get("rc", "0") != "0"]
if fails:
    out.append("Failed steps: " + ", ".join(fails) + " (see the logs named in the run output).")
out.append("")

targets = [  # (what, row key, comparison, bound)
    ("first backup throughput", "tree1", ">=", 3.0),
    ("re-backup time", "tree2", "<=", 0.5),
    (f"{meta['random_label']} random throughput", "random", ">=", 5.0),
    ("restore throughput", "restore", ">=", 2.0),
    ("check --read-data throughput", "check", ">=", 2.0),
    ("peak RSS, first backup", "rss", "<=", 0.5),
    ("disk image v2 bytes added", "img2", "<=", 0.25),
]
if "cairn" in tools and "restic" in tools:
    out.append("Targets (cairn relative to restic):")
    out.append("")
    tt = [["target", "needed", "measured", "result"]]
    npass = 0
    for what, key, op, bound in targets:
        q = ratios.get(key)
        ok = q is not None and (q >= bound if op == ">=" else q <= bound)
        npass += ok
        tt.append([what, ("≥ " if op == ">=" else "≤ ") + f"{bound:g}×", "—" if q is None else f"{q:.2f}×",
                   "PASS" if ok else "FAIL"])
    w2 = [max(len(r[i]) for r in tt) for i in range(4)]
    f2 = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, w2)) + " |"
    out.append(f2(tt[0]))
    out.append("|" + "|".join("-" * (w + 2) for w in w2) + "|")
    out += [f2(r) for r in tt[1:]]
    out.append("")
    out.append(f"{npass} of {len(targets)} targets met.")
else:
    out.append("Targets: not evaluated (needs both cairn and restic in --tools).")
print("\n".join(out))
