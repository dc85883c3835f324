import Glibc
public import Graft

/// Helpers shared by the libFuzzer harnesses: put the input in a file (Graft's readers map files) and touch
/// every byte a reader hands out, so lazy paths (inflate, strided views, casts) run too.
public enum FuzzSupport {
  /// A per-process folder on tmpfs for the harness's scratch files.
  public static let folder: String = {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    let path = "\(base)/graft-fuzz-\(getpid())"
    mkdir(path, 0o700)
    return path
  }()

  /// Writes `size` bytes at `data` to `folder/name` (replacing it) and returns the path.
  public static func write(_ data: UnsafePointer<UInt8>, _ size: Int, name: String = "input") -> String {
    let path = "\(folder)/\(name)"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    var done = 0
    while done < size {
      let n = Glibc.write(fd, data + done, size - done)
      precondition(n > 0, "cannot write \(path)")
      done += n
    }
    close(fd)
    return path
  }

  /// Reads every byte of every stored tensor (bounded chunks) and folds them into a value the optimiser keeps.
  @discardableResult
  public static func touch(_ table: TensorTable) -> UInt64 {
    var sum: UInt64 = 0
    for entry in table.entries {
      _ = entry.tensor.elementCount
      do {
        try entry.tensor.forEachChunk(chunkSize: 1 << 20) { chunk in
          if let first = chunk.first, let last = chunk.last { sum &+= UInt64(first) &* 31 &+ UInt64(last) }
        }
      } catch {
        sum &+= 1
      }
    }
    return sum
  }

  /// Skips inputs larger than this (libFuzzer's `-max_len` normally keeps them smaller).
  public static let maxInput = 1 << 20
}

/// libFuzzer's driver entry point (`compiler-rt/lib/fuzzer/FuzzerInterface.h`).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<Int32>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

extension FuzzSupport {
  /// Hands control to libFuzzer with `callback` as the test function.
  ///
  /// SwiftPM links executables with their own `main` (renamed entry points), so the harnesses use a `main.swift`
  /// that calls the driver instead of relying on libFuzzer's `main`.
  public static func runDriver(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
  }

  /// A valid pointer for empty inputs.
  nonisolated(unsafe) public static let empty = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
}
