#!/usr/bin/env python3
"""Writes N tar streams of successive versions of a source tree, with realistic edits between
versions (a few files edited, some touched, one added, one removed), deterministically.
usage: tar-series.py SOURCE_DIR OUT_DIR [N]"""
import io, os, random, sys, tarfile

src, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
rng = random.Random(20261121)
files = {}
for root, dirs, names in os.walk(src):
    dirs.sort()
    for name in sorted(names):
        p = os.path.join(root, name)
        if os.path.isfile(p) and not os.path.islink(p):
            rel = os.path.relpath(p, src)
            with open(p, "rb") as f:
                files[rel] = [f.read(), 1_700_000_000]
os.makedirs(out, exist_ok=True)
for v in range(n):
    if v > 0:
        keys = sorted(files)
        for k in rng.sample(keys, max(1, len(keys) // 50)):          # ~2 % edited
            data = bytearray(files[k][0])
            pos = rng.randrange(len(data) + 1)
            data[pos:pos] = f"\n// change {v}: {rng.random()}\n".encode()
            files[k] = [bytes(data), files[k][1] + 86400 * v]
        for k in rng.sample(keys, max(1, len(keys) // 20)):          # ~5 % touched only
            files[k][1] += 3600 * v
        files[f"added/v{v}.swift"] = [("// new in version %d\n" % v).encode() * 200, 1_700_000_000 + v]
        del files[rng.choice(sorted(k for k in files if not k.startswith("added/")))]
    path = os.path.join(out, f"v{v:02d}.tar")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for k in sorted(files):
            data, mtime = files[k]
            info = tarfile.TarInfo("project/" + k)
            info.size, info.mtime, info.mode, info.uname, info.gname = len(data), mtime, 0o644, "dev", "dev"
            t.addfile(info, io.BytesIO(data))
    print(path, os.path.getsize(path))
