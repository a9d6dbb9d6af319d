/// `incus-config`: the server's configuration as JSON documents, stored as one small tar
/// stream (a stream snapshot, `incus-config.tar`, like every source):
///
///     projects.json                 incus project list --format json
///     storage-pools.json            incus storage list --format json
///     profiles/PROJECT.json         incus profile list --format json --project PROJECT
///     networks/PROJECT.json         incus network list --format json --project PROJECT
///
/// Each document is the client's output as it printed it. Nothing is applied on restore:
/// `cairn dump latest incus-config.tar | tar -xf -` gives the files back.
public enum IncusConfig {
    /// The documents, in the order they are written: (name in the tar, command).
    public static func documents(projects: [String]) -> [(String, [String])] {
        var d: [(String, [String])] = [("projects.json", Incus.projectList()), ("storage-pools.json", Incus.storageList())]
        for p in projects {
            d.append(("profiles/" + p + ".json", Incus.profileList(project: p)))
            d.append(("networks/" + p + ".json", Incus.networkList(project: p)))
        }
        return d
    }

    /// Runs the commands and returns the tar (`mtime`: seconds since 1970, for every member).
    public static func collect(mtime: Int64) throws -> [UInt8] {
        let projectsJSON = try Tool.output(Incus.projectList())
        let projects = try Incus.parseProjects(projectsJSON)
        var files: [(String, [UInt8])] = []
        for (name, argv) in documents(projects: projects) {
            files.append((name, name == "projects.json" ? projectsJSON : try Tool.output(argv)))
        }
        return try Tar.archive(files, mtime: mtime)
    }
}

/// A minimal ustar writer: regular files (mode 0644, owner 0), then the end-of-archive blocks.
public enum Tar {
    public static func archive(_ files: [(String, [UInt8])], mtime: Int64) throws -> [UInt8] {
        var out: [UInt8] = []
        for (name, data) in files {
            let n = Array(name.utf8)
            guard !n.isEmpty, n.count <= 100 else { throw SourceError.invalid("tar member name too long: \(name)") }
            var h = [UInt8](repeating: 0, count: 512)
            func put(_ bytes: [UInt8], at offset: Int) { for (i, b) in bytes.enumerated() { h[offset + i] = b } }
            func octal(_ v: Int64, width: Int) -> [UInt8] {   // width - 1 digits, then NUL
                var s = String(v, radix: 8)
                while s.count < width - 1 { s = "0" + s }
                return Array(s.utf8) + [0]
            }
            put(n, at: 0)
            put(octal(0o644, width: 8), at: 100)
            put(octal(0, width: 8), at: 108)
            put(octal(0, width: 8), at: 116)
            put(octal(Int64(data.count), width: 12), at: 124)
            put(octal(mtime, width: 12), at: 136)
            put(Array("        ".utf8), at: 148)
            h[156] = UInt8(ascii: "0")
            put(Array("ustar".utf8) + [0] + Array("00".utf8), at: 257)
            let sum = h.reduce(0) { $0 + Int64($1) }
            put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: 148)
            out += h
            out += data
            out += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
        }
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }
}
