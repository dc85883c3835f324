#if HDF5
  /// The frames of libhdf5's error stack at a failure, innermost first.
  public struct HDF5ErrorStack: Error, Sendable, CustomStringConvertible {
    /// `function: description` per frame, innermost first.
    public var frames: [String]

    /// The distinct descriptions, innermost first, on one line.
    public var description: String {
      var seen = Set<String>()
      var parts: [String] = []
      for frame in frames {
        let text = HDF5ErrorStack.reason(of: frame)
        if seen.insert(text).inserted { parts.append(text) }
      }
      return "libhdf5: " + parts.prefix(3).joined(separator: " <- ")
    }

    /// The description part of a `function: description` frame.
    static func reason(of frame: String) -> String {
      guard let colon = frame.firstIndex(of: ":") else { return frame }
      let text = frame[frame.index(after: colon)...].trimmingLeadingSpaces()
      return systemReason(in: text) ?? text
    }

    /// libhdf5's file driver reports a failed system call as one long line (time, temporary file name, buffer
    /// address, byte counts, `errno = 28, error message = 'No space left on device'`); only the last part helps.
    static func systemReason(in text: String) -> String? {
      guard let start = text.firstRange(of: "error message = '"),
        let end = text[start.upperBound...].firstIndex(of: "'")
      else { return nil }
      let operation = text.prefix { $0 != ":" }
      var errnoText = ""
      if let e = text.firstRange(of: "errno = ") {
        errnoText = " (errno " + text[e.upperBound...].prefix { $0.isNumber } + ")"
      }
      return operation + ": " + text[start.upperBound..<end] + errnoText
    }
  }

  extension Substring {
    fileprivate func trimmingLeadingSpaces() -> String { String(drop(while: { $0 == " " })) }
  }
#endif
