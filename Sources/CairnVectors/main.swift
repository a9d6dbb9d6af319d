import CairnVectorsBuilder
import FoundationEssentials

// Writes format-spec/vectors/ (run from the package root: swift run CairnVectors).
let out = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "format-spec/vectors"
let fm = FileManager.default
try? fm.removeItem(atPath: out + "/repo")
try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
let expected = try TestVectors.build(at: out + "/repo")
let e = JSONEncoder()
e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
try (e.encode(expected) + Data([10])).write(to: URL(fileURLWithPath: out + "/repo.json"))
try (e.encode(TestVectors.chunkerVectors()) + Data([10])).write(to: URL(fileURLWithPath: out + "/chunker.json"))
print("wrote \(out)/repo, repo.json, chunker.json")
