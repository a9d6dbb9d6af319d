#!/usr/bin/env python3
"""Copies a real file tree into the corpus, deterministically trimmed to a size limit: folders
and files are visited in sorted order (files before sub-folders), regular files are copied with
their mode and times, symlinks as symlinks; a file that would take the total past LIMIT_BYTES
is skipped (later, smaller files may still fit). Hardlinked files become separate copies.
usage: make-tree.py SOURCE_DIR OUT_DIR LIMIT_BYTES"""
import os, shutil, sys

src, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
total = files = 0
os.makedirs(out, exist_ok=True)
for root, dirs, names in os.walk(src):
    dirs.sort()
    rel_root = os.path.relpath(root, src)
    dst_root = os.path.normpath(os.path.join(out, rel_root))
    os.makedirs(dst_root, exist_ok=True)
    for name in [d for d in dirs if os.path.islink(os.path.join(root, d))]:   # not walked into
        os.symlink(os.readlink(os.path.join(root, name)), os.path.join(dst_root, name))
    for name in sorted(names):
        p, q = os.path.join(root, name), os.path.join(dst_root, name)
        if os.path.islink(p):
            os.symlink(os.readlink(p), q)
        elif os.path.isfile(p):
            size = os.path.getsize(p)
            if total + size > limit:
                continue
            shutil.copy2(p, q)
            total += size
            files += 1
# Folder times last, deepest first, so copying into them does not change them again.
for root, dirs, _ in sorted(os.walk(src), key=lambda t: -t[0].count(os.sep)):
    rel_root = os.path.relpath(root, src)
    shutil.copystat(root, os.path.normpath(os.path.join(out, rel_root)), follow_symlinks=False)
print(f"{out}: {files} files, {total} bytes")
