import Foundation
import Graft
import GraftDemo
import TestSupport
import Testing

/// Disk-full and unwritable destinations, on a real small tmpfs (CI runs as root; skipped where mounting is refused).
@Suite("Full disks and unwritable folders lose nothing", .serialized)
struct OutputFailureTests {
  static func shell(_ args: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
  }

  static let canMount: Bool = {
    guard let dir = try? TestPaths.scratchFolder("mount-probe") else { return false }
    defer { _ = shell(["umount", dir]) }
    return shell(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]) == 0
  }()

  @Test("no space left: a clear error, no partial output, no temp file, the old file intact", .enabled(if: canMount))
  func diskFull() throws {
    let dir = try TestPaths.scratchFolder("full")
    #expect(Self.shell(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir]) == 0)
    defer { _ = Self.shell(["umount", dir]) }
    let src = try TestPaths.scratchFolder("full-src") + "/vit.safetensors"
    try Checkpoint.write(DemoModel.vit(), to: src)  // 449 KiB, larger than the 256 KiB disk
    try FileSystem.writeAll([1, 2, 3], to: dir + "/out.graft")
    let names = ["out.graft", "out.safetensors", "out.pth", "out.npz"] + (HDF5Support.isAvailable ? ["out.h5"] : [])
    for name in names {
      do {
        try Conversion.run(input: src, output: dir + "/" + name)
        Issue.record("\(name): expected a disk-full error")
      } catch let error as GraftError {
        #expect(error.message.lowercased().contains("no space left"), "\(error)")
        #expect(error.file == dir + "/" + name)
      }
    }
    // libhdf5 1.10.8 used to crash at exit (SIGSEGV) after a failed flush; the command must end with status 3.
    if HDF5Support.isAvailable, GraftExecutable.path != nil {
      let r = try GraftExecutable.run(["convert", src, dir + "/out.h5", "-q"])
      #expect(r.reason == .exit && r.status == 3, "graft convert to .h5: \(r.status) \(r.stderr)")
    }
    #expect(try FileSystem.contents(of: dir) == ["out.graft"])
    #expect(try FileSystem.readAll(dir + "/out.graft") == [1, 2, 3])
  }

  @Test(
    "no space left while writing shards: no shard stays, a folder the write created is removed, the message is true",
    .enabled(if: canMount))
  func diskFullSharded() throws {
    let dir = try TestPaths.scratchFolder("full-shards")
    #expect(Self.shell(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir]) == 0)
    defer { _ = Self.shell(["umount", dir]) }
    let src = try TestPaths.scratchFolder("full-shards-src") + "/vit.safetensors"
    try Checkpoint.write(DemoModel.vit(), to: src)  // 449 KiB: the first shards fit, a later one does not
    try FileSystem.makeDirectory(dir + "/existing")
    try FileSystem.writeAll([7], to: dir + "/existing/keep.txt")
    for folder in ["new", "existing"] {
      var options = ConversionOptions()
      options.write.shardSize = 64_000
      do {
        try Conversion.run(input: src, output: dir + "/" + folder, options: options)
        Issue.record("\(folder): expected a disk-full error")
      } catch let error as GraftError {
        #expect(error.message.lowercased().contains("no space left"), "\(error)")
        #expect(error.message.contains("the destination was not touched"), "\(error)")
        #expect(error.file?.hasPrefix(dir + "/" + folder + "/model-") == true, "\(error)")
      }
    }
    #expect(try FileSystem.contents(of: dir) == ["existing"], "the folder the write created is removed")
    #expect(try FileSystem.contents(of: dir + "/existing") == ["keep.txt"])
  }

  @Test("an unwritable folder is refused before anything is read")
  func unwritable() throws {
    let dir = try TestPaths.scratchFolder("ro")
    let src = dir + "/vit.safetensors"
    try Checkpoint.write(DemoModel.vit(), to: src)
    let ro = dir + "/ro"
    try FileSystem.makeDirectory(ro)
    #expect(Self.shell(["chmod", "555", ro]) == 0)
    defer { _ = Self.shell(["chmod", "755", ro]) }
    // Root ignores permissions; a read-only bind would be needed, so check the error only where it can occur.
    if Self.shell(["sh", "-c", "touch \(ro)/probe 2>/dev/null && rm \(ro)/probe"]) == 0 {
      #expect(Self.shell(["mount", "-o", "bind,ro", ro, ro]) == 0 || !Self.canMount)
    }
    defer { _ = Self.shell(["umount", ro]) }
    do {
      try Conversion.run(input: src, output: ro + "/out.graft")
      Issue.record("expected an unwritable-destination error")
    } catch let error as GraftError {
      #expect(error.file == ro + "/out.graft")
      #expect(error.code == .io)
    }
    #expect(try FileSystem.contents(of: ro).isEmpty)
  }
}
