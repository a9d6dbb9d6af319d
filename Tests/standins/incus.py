#!/usr/bin/env python3
"""A stand-in for the `incus` client, for Tests/CairnTests/IncusSourceTests.swift.

The real daemon runs in Tests/CairnTests/IncusRealTests.swift; this stand-in covers what the
real one cannot show here: exact command lines, failure injection (a failed export, a failed
import at a chosen point), a client with `storage volume export --force`, and timing of
parallel exports.

It keeps its "server" in a JSON file ($INCUS_STANDIN_STATE) and answers the subcommands
Cairn runs with the Incus 6.0 client's syntax: list, export, import, snapshot create/delete,
copy, delete, start, storage volume export/import/delete/list, project/profile/network/storage
list. Flags a subcommand does not know are refused ("Error: unknown flag: ..."), as cobra does;
a missing instance is an error. As the real client: `copy` refuses --instance-only when the
source is a snapshot; `storage volume export` and `import` take a file path (`-` is a file
named `-`), and `export` prints progress on standard output unless --quiet.
$INCUS_STANDIN_VOLUME_FORCE=1 makes `storage volume export` a newer client's: it has --force
and refuses a target path that exists without it. Every call is appended to $INCUS_STANDIN_LOG as one JSON object:
{"argv": [...], "start": t, "end": t, "sha256": of the stream written or read}.

Failure injection: $INCUS_STANDIN_FAIL_IMPORT=N fails the Nth import (1-based, counted in
the state file) after reading its stream; $INCUS_STANDIN_FAIL_EXPORT=1 makes exports write
part of the tarball and exit 1; $INCUS_STANDIN_EXPORT_DELAY=S sleeps S seconds in each export;
$INCUS_STANDIN_EXPORT_PAIRS=1 makes each export wait (up to 30 s) for another running at once.

What it does not exercise: a real daemon (storage drivers, idmaps, optimized formats, VMs,
compression algorithms other than none, progress output, remotes, clusters, the exact
index.yaml/backup.yaml schema beyond the few fields written here).
"""
import hashlib, io, json, os, sys, tarfile, time

STATE = os.environ["INCUS_STANDIN_STATE"]
LOG = os.environ["INCUS_STANDIN_LOG"]
argv = sys.argv[1:]
entry = {"argv": argv, "start": time.time()}


def load():
    with open(STATE) as f:
        return json.load(f)


def save(state):
    tmp = STATE + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, STATE)


def log():
    entry["end"] = time.time()
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


def fail(msg, code=1):
    log()
    sys.stderr.write("Error: " + msg + "\n")
    sys.exit(code)


def parse(args, bools=(), values=()):
    """cobra-like: positionals and flags anywhere; --project is global."""
    pos, flags = [], {}
    i = 0
    values = set(values) | {"--project"}
    bools = set(bools) | {"--quiet", "-q", "--force-local"}
    while i < len(args):
        a = args[i]
        if a == "-" or not a.startswith("-"):
            pos.append(a)
        elif "=" in a and a.split("=", 1)[0] in values:
            k, v = a.split("=", 1)
            flags[k] = v
        elif a in values:
            if i + 1 >= len(args):
                fail("flag needs an argument: " + a)
            flags[a] = args[i + 1]
            i += 1
        elif a in bools:
            flags[a] = True
        else:
            fail("unknown flag: " + a)
        i += 1
    return pos, flags


def project_of(flags):
    return flags.get("--project", "default")


def instances(state, project):
    return state["projects"].setdefault(project, {"instances": {}})["instances"]


def add(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = int(time.time())
    tar.addfile(info)


def yaml_list(items):
    return "".join("- %s\n" % i for i in items) if items else " []\n"


def export_instance(name, inst, flags, pool="default"):
    snaps = [] if "--instance-only" in flags else sorted(inst["snapshots"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add_dir(tar, "backup")
        index = "name: %s\nbackend: dir\npool: %s\noptimized: %s\noptimized_header: false\ntype: container\nsnapshots:%s" % (
            name, pool, "true" if "--optimized-storage" in flags else "false",
            ("\n" + yaml_list(snaps)) if snaps else " []\n")
        add(tar, "backup/index.yaml", index.encode())
        add_dir(tar, "backup/container")
        add(tar, "backup/container/backup.yaml",
            ("container:\n  name: %s\n  status: %s\n  config:\n%s" % (name, inst["status"], "".join(
                "    %s: %s\n" % kv for kv in sorted(inst.get("config", {}).items())))).encode())
        add(tar, "backup/container/metadata.yaml", b"architecture: x86_64\ncreation_date: 1700000000\n")
        add_dir(tar, "backup/container/rootfs")
        for path in sorted(inst["files"]):
            add(tar, "backup/container/rootfs/" + path, inst["files"][path].encode())
        for s in snaps:
            add_dir(tar, "backup/snapshots/" + s)
            for path in sorted(inst["snapshots"][s]):
                add(tar, "backup/snapshots/%s/rootfs/%s" % (s, path), inst["snapshots"][s][path].encode())
    return buf.getvalue()


def write_stream(data, compression, out=None):
    out = out or sys.stdout.buffer
    if compression != "none":
        import gzip
        data = gzip.compress(data)   # the server's default: compressed
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    if os.environ.get("INCUS_STANDIN_FAIL_EXPORT") == "1":
        out.write(data[: len(data) // 2])
        out.flush()
        fail("Fetch instance backup file: injected failure")
    out.write(data)
    out.flush()


def read_backup(data):
    """(members by name, tarfile) of a backup tarball, or fail as the server does."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        return {m.name: m for m in tar.getmembers()}, tar
    except Exception as e:
        fail("Failed importing backup: not a backup tarball: %s" % e)


def count_import(state, data):
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    entry["bytes"] = len(data)
    state["imports"] = state.get("imports", 0) + 1
    save(state)
    if os.environ.get("INCUS_STANDIN_FAIL_IMPORT") == str(state["imports"]):
        fail("Failed importing backup: injected failure")


VOLUME_EXPORT_HELP = """Description:
  Export custom storage volume

Usage:
  incus storage volume export [<remote>:]<pool> <volume> [<path>] [flags]

Flags:
      --compression         Define a compression algorithm: for backup or none
%s      --optimized-storage   Use storage driver optimized format (can only be restored on a similar pool)
      --target              Cluster member name
      --volume-only         Export the volume without its snapshots
"""


def main():
    if not argv:
        fail("no command")
    cmd, rest = argv[0], argv[1:]
    if cmd in ("import", "snapshot", "copy", "delete", "start") or (cmd == "storage" and rest[1:2] in (["import"], ["delete"])):
        import fcntl   # one changer of the state at a time (exports and lists only read it)
        lockfile = open(STATE + ".lock", "w")
        fcntl.flock(lockfile, fcntl.LOCK_EX)
    state = load()

    if cmd == "list":
        pos, flags = parse(rest, values=("--format", "-f", "--columns", "-c"))
        if flags.get("--format", flags.get("-f")) != "json":
            fail("the stand-in only prints --format json")
        out = [{"name": n, "status": i["status"], "type": "container", "project": project_of(flags)}
               for n, i in sorted(instances(state, project_of(flags)).items())]
        sys.stdout.write(json.dumps(out) + "\n")

    elif cmd == "export":
        pos, flags = parse(rest, bools=("--instance-only", "--optimized-storage"), values=("--compression",))
        if len(pos) < 1 or len(pos) > 2:
            fail("Invalid number of arguments")
        insts = instances(state, project_of(flags))
        if pos[0] not in insts:
            fail('Failed to fetch instance "%s" in project "%s": Instance not found' % (pos[0], project_of(flags)))
        if len(pos) < 2 or pos[1] != "-":
            fail("the stand-in only exports to -")
        if os.environ.get("INCUS_STANDIN_EXPORT_PAIRS"):
            # Wait (up to 30 s) until another export is running at the same time, so a test of
            # parallel exports does not depend on how busy the machine is; a client that runs
            # exports one at a time waits out the 30 s and shows no overlap.
            marker = STATE + ".exporting.%d" % os.getpid()
            open(marker, "w").close()
            deadline = time.time() + 30
            folder, prefix = os.path.split(STATE + ".exporting.")
            while time.time() < deadline and sum(1 for n in os.listdir(folder) if n.startswith(prefix)) < 2:
                time.sleep(0.05)
            time.sleep(0.3)
        if os.environ.get("INCUS_STANDIN_EXPORT_DELAY"):
            time.sleep(float(os.environ["INCUS_STANDIN_EXPORT_DELAY"]))
        try:
            write_stream(export_instance(pos[0], insts[pos[0]], flags), flags.get("--compression", "gzip"))
        finally:
            if os.environ.get("INCUS_STANDIN_EXPORT_PAIRS"):
                os.remove(marker)

    elif cmd == "import":
        pos, flags = parse(rest, values=("--storage", "-s", "--config", "-c", "--device", "-d"))
        if len(pos) < 1 or len(pos) > 2:
            fail("Invalid number of arguments")
        if pos[0] != "-":
            fail("the stand-in only imports from -")
        data = sys.stdin.buffer.read()
        count_import(state, data)
        members, tar = read_backup(data)
        if "backup/index.yaml" not in members:
            fail("Failed importing backup: no backup/index.yaml")
        index = tar.extractfile(members["backup/index.yaml"]).read().decode()
        name = pos[1] if len(pos) == 2 else index.split("name: ", 1)[1].split("\n", 1)[0]
        insts = instances(state, project_of(flags))
        if name in insts:
            fail('Failed importing backup: Instance "%s" already exists' % name)
        prefix = "backup/container/rootfs/"
        files = {n[len(prefix):]: tar.extractfile(m).read().decode() for n, m in members.items() if n.startswith(prefix) and m.isfile()}
        snaps = {}
        for n, m in members.items():
            if n.startswith("backup/snapshots/") and m.isfile():
                s, p = n[len("backup/snapshots/"):].split("/rootfs/", 1)
                snaps.setdefault(s, {})[p] = tar.extractfile(m).read().decode()
        insts[name] = {"status": "Stopped", "files": files, "snapshots": snaps, "storage": flags.get("--storage", flags.get("-s"))}
        save(state)

    elif cmd == "snapshot":
        if not rest or rest[0] not in ("create", "delete"):
            fail("the stand-in knows snapshot create and delete")
        if rest[0] == "create":
            pos, flags = parse(rest[1:], bools=("--stateful", "--reuse", "--no-expiry"), values=("--expiry",))
        else:
            pos, flags = parse(rest[1:], bools=("--interactive", "-i"))
        if len(pos) != 2:
            fail("Invalid number of arguments")
        insts = instances(state, project_of(flags))
        if pos[0] not in insts:
            fail('Instance not found')
        inst = insts[pos[0]]
        if rest[0] == "create":
            if pos[1] in inst["snapshots"]:
                fail('Snapshot "%s" already exists' % pos[1])
            inst["snapshots"][pos[1]] = dict(inst["files"])
        else:
            if pos[1] not in inst["snapshots"]:
                fail('Snapshot not found')
            del inst["snapshots"][pos[1]]
        save(state)

    elif cmd == "copy":
        pos, flags = parse(rest, bools=("--instance-only", "--stateless", "--allow-inconsistent", "--refresh", "--no-profiles", "-e", "--ephemeral"),
                           values=("--storage", "-s", "--target-project", "--mode", "--config", "-c", "--device", "-d", "--profile", "-p"))
        if len(pos) != 2:
            fail("Invalid number of arguments")
        insts = instances(state, project_of(flags))
        src, _, snap = pos[0].partition("/")
        if snap and "--instance-only" in flags:
            fail("--instance-only can't be passed when the source is a snapshot")
        if src not in insts or (snap and snap not in insts[src]["snapshots"]):
            fail('Failed to get snapshot: Instance not found')
        if pos[1] in insts:
            fail('Instance "%s" already exists' % pos[1])
        files = insts[src]["snapshots"][snap] if snap else insts[src]["files"]
        insts[pos[1]] = {"status": "Stopped", "files": dict(files), "snapshots": {}, "config": {"volatile.eth0.hwaddr": "00:16:3e:00:00:99"}}
        save(state)

    elif cmd == "delete":
        pos, flags = parse(rest, bools=("--force", "-f", "--interactive", "-i"))
        if len(pos) != 1:
            fail("Invalid number of arguments")
        insts = instances(state, project_of(flags))
        if pos[0] not in insts:
            fail('Failed checking instance exists "local:%s": Instance not found' % pos[0])
        if insts[pos[0]]["status"] == "Running" and not ("--force" in flags or "-f" in flags):
            fail("The instance is currently running, stop it first or pass --force")
        del insts[pos[0]]
        save(state)

    elif cmd == "start":
        pos, flags = parse(rest)
        insts = instances(state, project_of(flags))
        if len(pos) != 1 or pos[0] not in insts:
            fail("Instance not found")
        insts[pos[0]]["status"] = "Running"
        save(state)

    elif cmd == "storage" and rest[:2] == ["volume", "export"]:
        newer = os.environ.get("INCUS_STANDIN_VOLUME_FORCE") == "1"
        if "--help" in rest or "-h" in rest:
            sys.stdout.write(VOLUME_EXPORT_HELP % ("  -f, --force               Force overwriting existing backup file\n" if newer else ""))
            log()
            return
        pos, flags = parse(rest[2:], bools=("--volume-only", "--optimized-storage") + (("--force", "-f") if newer else ()),
                           values=("--compression", "--target"))
        if len(pos) != 3:
            fail("Invalid number of arguments")
        vol = state.get("volumes", {}).get(pos[0] + "/" + pos[1])
        if vol is None:
            fail('Failed to fetch volume "%s": Storage volume not found' % pos[1])
        if newer and os.path.exists(pos[2]) and "--force" not in flags and "-f" not in flags:
            fail('Target path "%s" already exists' % pos[2])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
            add(tar, "backup/index.yaml", ("name: %s\npool: %s\ntype: custom\n" % (pos[1], pos[0])).encode())
            for path in sorted(vol):
                add(tar, "backup/volume/" + path, vol[path].encode())
        # Like Incus 6.0: the target is a file path (`-` too), progress goes to standard output.
        with open(pos[2], "wb") as out:
            write_stream(buf.getvalue(), flags.get("--compression", "gzip"), out)
        if "--quiet" not in flags and "-q" not in flags:
            sys.stdout.write("\rExporting the backup: 100% (1.00MB/s)\rBackup exported successfully!\n")

    elif cmd == "storage" and rest[:2] == ["volume", "import"]:
        pos, flags = parse(rest[2:], values=("--target", "--type"))
        if len(pos) not in (2, 3):
            fail("Invalid number of arguments")
        with open(pos[1], "rb") as f:   # a file path, as Incus 6.0 takes it (`-` is a file named `-`)
            data = f.read()
        count_import(state, data)
        members, tar = read_backup(data)
        if "backup/index.yaml" not in members:
            fail("Failed importing backup: no backup/index.yaml")
        index = tar.extractfile(members["backup/index.yaml"]).read().decode()
        name = pos[2] if len(pos) == 3 else index.split("name: ", 1)[1].split("\n", 1)[0]
        vols = state.setdefault("volumes", {})
        if pos[0] + "/" + name in vols:
            fail('Failed importing backup: Volume by that name already exists')
        prefix = "backup/volume/"
        vols[pos[0] + "/" + name] = {n[len(prefix):]: tar.extractfile(m).read().decode() for n, m in members.items()
                                     if n.startswith(prefix) and m.isfile()}
        save(state)

    elif cmd == "storage" and rest[:2] == ["volume", "delete"]:
        pos, flags = parse(rest[2:], values=("--target",))
        if len(pos) != 2:
            fail("Invalid number of arguments")
        key = pos[0] + "/" + pos[1]
        if key not in state.get("volumes", {}):
            fail("Storage pool volume not found")
        if state.get("volume_users", {}).get(key):
            fail("The storage volume is still in use")
        del state["volumes"][key]
        save(state)

    elif cmd == "storage" and rest[:2] == ["volume", "list"]:
        pos, flags = parse(rest[2:], values=("--format", "-f", "--columns", "-c"))
        if flags.get("--format", flags.get("-f")) != "json":
            fail("the stand-in only prints --format json")
        if len(pos) != 1:
            fail("Invalid number of arguments")
        out = [{"name": k.split("/", 1)[1], "type": "custom", "content_type": "filesystem",
                "used_by": state.get("volume_users", {}).get(k, [])}
               for k in sorted(state.get("volumes", {})) if k.split("/", 1)[0] == pos[0]]
        sys.stdout.write(json.dumps(out) + "\n")

    elif cmd in ("project", "profile", "network", "storage") and rest[:1] == ["list"]:
        pos, flags = parse(rest[1:], values=("--format", "-f"))
        if flags.get("--format", flags.get("-f")) != "json":
            fail("the stand-in only prints --format json")
        if cmd == "project":
            out = [{"name": p, "config": {"features.profiles": "true"}} for p in sorted(state["projects"])]
        elif cmd == "storage":
            out = [{"name": "default", "driver": "dir", "config": {"source": "/var/lib/incus/storage-pools/default"}}]
        else:
            out = [{"name": "default" if cmd == "profile" else "incusbr0", "project": project_of(flags), "config": {}}]
        sys.stdout.write(json.dumps(out) + "\n")

    else:
        fail('unknown command "%s" for "incus"' % cmd)
    log()


main()
