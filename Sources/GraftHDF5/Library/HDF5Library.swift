#if HDF5
  internal import CHDF5
  import GraftCore

  /// The only place that calls libhdf5.
  ///
  /// Every failure is turned into a ``GraftError`` carrying libhdf5's error stack (which is never printed), so the
  /// layers above add the file and tensor and nothing else.
  ///
  /// Every function here holds ``serial`` while it calls libhdf5, so one call (and the error stack it leaves) at a
  /// time reaches the library whatever thread a lazy tensor is read on.
  enum HDF5Library {
    private static let initialized: Bool = graft_h5_initialize() == 0

    /// The lock around every libhdf5 call.
    ///
    /// A libhdf5 built without `--enable-threadsafe` (``isThreadSafe`` is false) has unguarded global state and one
    /// global error stack, and ``HDF5SharedFile`` hands its identifiers to any thread. A thread-safe build takes its
    /// own global lock on every API call, so holding this one as well serialises nothing more; it is held for both
    /// kinds of build, so the path the tests run is the path every build runs (BENCHMARKS.md: no measurable cost).
    /// Recursive, because the functions here call one another and handles close in `deinit`s that can run while it
    /// is held.
    static let serial = RecursiveLock()

    /// Whether the linked libhdf5 was built thread-safe (`H5is_library_threadsafe`), asked once; `nil` when it
    /// cannot say.
    static let isThreadSafe: Bool? = {
      // After H5open, like every call, so that the library never registers its atexit handler.
      guard initialized else { return nil }
      serial.lock()
      defer { serial.unlock() }
      switch graft_h5_is_threadsafe() {
      case 1: return true
      case 0: return false
      default: return nil
      }
    }()

    /// Opens the library once and silences its stderr error printing on the calling thread.
    static func initialize() throws(GraftError) {
      serial.lock()
      defer { serial.unlock() }
      guard initialized else { throw failure("H5open", code: .io) }
      graft_h5_silence()
    }

    /// The linked library's version, such as `1.10.8`.
    static var version: String? {
      serial.lock()
      defer { serial.unlock() }
      // H5get_libversion opens the library too: it must not be the first call (see graft_h5_initialize).
      guard initialized else { return nil }
      var major: UInt32 = 0
      var minor: UInt32 = 0
      var release: UInt32 = 0
      guard H5get_libversion(&major, &minor, &release) >= 0 else { return nil }
      return "\(major).\(minor).\(release)"
    }

    /// An error for a failed call, carrying and clearing the thread's error stack.
    static func failure(_ operation: String, code: GraftError.Code? = nil) -> GraftError {
      serial.lock()
      defer { serial.unlock() }
      var buffer = [CChar](repeating: 0, count: 8192)
      let length = buffer.withUnsafeMutableBufferPointer { p -> Int in
        guard let base = p.baseAddress else { return 0 }
        return graft_h5_take_error_stack(base, p.count)
      }
      let bytes = buffer.prefix(length).map { UInt8(bitPattern: $0) }
      let frames = bytes.split(separator: 0x1F).map { String(decoding: $0, as: UTF8.self) }
      let stack = HDF5ErrorStack(frames: frames)
      let innermost = frames.first.map { HDF5ErrorStack.reason(of: $0) } ?? "no reason given"
      let all = frames.joined(separator: " ").lowercased()
      let resolved: GraftError.Code
      if let code {
        resolved = code
      } else if all.contains("truncated") {
        resolved = .truncated
      } else if all.contains("signature") {
        resolved = .unrecognizedFormat
      } else {
        resolved = .invalidHeader
      }
      return GraftError(resolved, "\(operation) failed: \(innermost)", cause: stack)
    }

    static func close(_ id: hid_t, _ kind: HDF5Handle.Kind) {
      serial.lock()
      defer { serial.unlock() }
      guard id >= 0 else { return }
      switch kind {
      case .file: _ = H5Fclose(id)
      case .object: _ = H5Oclose(id)
      case .dataspace: _ = H5Sclose(id)
      case .datatype: _ = H5Tclose(id)
      case .attribute: _ = H5Aclose(id)
      case .propertyList: _ = H5Pclose(id)
      }
      H5Eclear2(graft_h5e_default())
    }

    static func owned(
      _ id: hid_t, _ kind: HDF5Handle.Kind, _ operation: @autoclosure () -> String
    )
      throws(GraftError) -> HDF5Handle
    {
      guard id >= 0 else { throw failure(operation()) }
      return HDF5Handle(id, kind)
    }

    static func check(_ status: herr_t, _ operation: @autoclosure () -> String) throws(GraftError) {
      guard status >= 0 else { throw failure(operation()) }
    }
  }
#endif
