#!/usr/bin/env python3
"""Writes a deterministic SIZE_MIB disk image from real files, and a copy with 0.5 % of its
4 KiB blocks rewritten.

The image is laid out the way a file system image looks: regular files taken in turn from each
source folder (each folder walked in sorted order; symlinks, empty files and files over 16 MiB
skipped), each starting on a 4 KiB boundary and padded with zeros, with runs of 1-512 free
(zero) blocks in between (on average one run per 10 MiB of file data, so ~10 % free space).
The copy (OUT_V2) overwrites a seeded random 0.5 % of the 4 KiB-aligned blocks with seeded
random bytes. Python's random with fixed seeds: the same machine files give the same images.
usage: make-image.py OUT OUT_V2 SIZE_MIB SOURCE_DIR..."""
import itertools, os, random, shutil, sys

out, out2, size_mib, sources = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
BLOCK, MIB, MAX_FILE = 4096, 1 << 20, 16 << 20
size = size_mib * MIB
rng = random.Random(20261121)

def walk(src):
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            p = os.path.join(root, name)
            if not os.path.islink(p) and os.path.isfile(p) and 0 < os.path.getsize(p) <= MAX_FILE:
                yield p

def round_robin(iterables):
    its = [iter(i) for i in iterables]
    while its:
        for it in list(its):
            try:
                yield next(it)
            except StopIteration:
                its.remove(it)

written = zeros = nfiles = 0
with open(out, "wb") as img:
    def put(data):
        global written
        data = data[: size - written]
        img.write(data)
        written += len(data)
    for p in round_robin([walk(s) for s in sources]):
        if written >= size:
            break
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError:
            continue
        put(data + bytes((-len(data)) % BLOCK))
        nfiles += 1
        draws = len(data) // MIB + (1 if rng.random() < (len(data) % MIB) / MIB else 0)
        for _ in range(draws):
            if rng.random() < 0.1:
                before = written
                put(bytes(rng.randint(1, 512) * BLOCK))
                zeros += written - before
    while written < size:              # the sources ran out: the rest is free space
        before = written
        put(bytes(min(MIB, size - written)))
        zeros += written - before

shutil.copyfile(out, out2)
rng2 = random.Random(20261122)
nblocks = size // BLOCK
changed = sorted(rng2.sample(range(nblocks), round(nblocks * 0.005)))
with open(out2, "r+b") as img:
    for b in changed:
        img.seek(b * BLOCK)
        img.write(rng2.randbytes(BLOCK))
print(f"{out}: {size} bytes from {nfiles} files, {zeros} bytes in free-space zero runs; "
      f"{out2}: {len(changed)} of {nblocks} 4 KiB blocks rewritten")
