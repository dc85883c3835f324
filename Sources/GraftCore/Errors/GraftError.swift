/// An error from reading, writing or transforming a checkpoint.
///
/// Every error says *what* went wrong (``code``, ``message``) and *where*: the file, the tensor and the byte
/// offset when they apply, so that a user can find the problem with a hex editor. ``description`` renders all of
/// them on one line, `detailedDescription()` as a small tree in the style of swift-nio's `FileSystemError`.
public struct GraftError: Error, Sendable, CustomStringConvertible {
  /// A category of failure, stable across releases so callers and tests can match on it.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name, such as `truncated`.
    public let name: String
    /// Creates a code with a stable name.
    public init(_ name: String) { self.name = name }
    /// The code's name.
    public var description: String { name }

    /// The input ends before a structure it declares.
    public static let truncated = Code("truncated")
    /// A header or record is malformed.
    public static let invalidHeader = Code("invalidHeader")
    /// A JSON document is malformed.
    public static let invalidJSON = Code("invalidJSON")
    /// A tensor's offsets do not tile the data section.
    public static let invalidOffset = Code("invalidOffset")
    /// A tensor's shape, dtype and byte range disagree.
    public static let invalidTensorInfo = Code("invalidTensorInfo")
    /// Computing a size from shape and dtype overflowed.
    public static let overflow = Code("overflow")
    /// The same name appears twice.
    public static let duplicateKey = Code("duplicateKey")
    /// A dtype string or code is not known.
    public static let unknownDType = Code("unknownDType")
    /// The operation is not defined for this dtype.
    public static let unsupportedDType = Code("unsupportedDType")
    /// The file is not in any format Graft reads, or not in the one requested.
    public static let unrecognizedFormat = Code("unrecognizedFormat")
    /// A feature of the format that Graft does not implement.
    public static let unsupported = Code("unsupported")
    /// A checksum does not match the data.
    public static let checksumMismatch = Code("checksumMismatch")
    /// A value read from the file exceeds a documented resource cap.
    public static let limitExceeded = Code("limitExceeded")
    /// A named tensor does not exist.
    public static let tensorNotFound = Code("tensorNotFound")
    /// A system call failed.
    public static let io = Code("io")
    /// The caller asked for something inconsistent (bad option, output equal to input, …).
    public static let invalidArgument = Code("invalidArgument")
    /// A sharded checkpoint's index and its shard files disagree.
    public static let indexMismatch = Code("indexMismatch")
    /// A model could not be built from the tensors (missing or misshapen weights).
    public static let invalidModel = Code("invalidModel")
  }

  /// The category of failure.
  public var code: Code
  /// A sentence saying what was expected and what was found.
  public var message: String
  /// The file involved, if any.
  public var file: String?
  /// The tensor involved, if any.
  public var tensor: String?
  /// The absolute byte offset in ``file`` where the problem was detected, if known.
  public var byteOffset: Int?
  /// The underlying error (an errno, a nested format error), if any.
  public var cause: (any Error & Sendable)?
  /// Which side of the operation failed: reading the input or writing the output (`nil` when not known).
  ///
  /// The CLI's exit status comes from it (2 for the input, 3 for the output).
  public var side: Side?

  /// The name of the library option that resolves the problem, such as `heads` or `topK`; the CLI turns it into its
  /// flag (`--heads`, `--top-k`), so library messages stay in library terms.
  public var option: String?

  /// The side of an operation an error belongs to.
  public enum Side: String, Sendable {
    /// Reading or interpreting an input.
    case input
    /// Creating, writing, syncing or renaming an output.
    case output
  }

  /// Creates an error.
  public init(
    _ code: Code, _ message: String, file: String? = nil, tensor: String? = nil, byteOffset: Int? = nil,
    cause: (any Error & Sendable)? = nil
  ) {
    self.code = code
    self.message = message
    self.file = file
    self.tensor = tensor
    self.byteOffset = byteOffset
    self.cause = cause
  }

  /// One line: `file: tensor 'w': at byte 1234: message (cause)`.
  public var description: String {
    var parts: [String] = []
    if let file { parts.append(file) }
    if let tensor { parts.append("tensor '\(tensor)'") }
    if let byteOffset { parts.append("at byte \(byteOffset)") }
    var text = parts.isEmpty ? message : parts.joined(separator: ": ") + ": " + message
    if let cause { text += " (\(cause))" }
    return text
  }

  /// A multi-line rendering with one labelled line per piece of context.
  public func detailedDescription() -> String {
    var lines = ["GraftError: \(code)", "├─ Reason: \(message)"]
    if let file { lines.append("├─ File: \(file)") }
    if let tensor { lines.append("├─ Tensor: \(tensor)") }
    if let byteOffset { lines.append("├─ Byte offset: \(byteOffset)") }
    if let cause { lines.append("├─ Cause: \(cause)") }
    lines[lines.count - 1] = "└" + lines[lines.count - 1].dropFirst()
    return lines.joined(separator: "\n")
  }

  /// Returns a copy with the file filled in when it was not already set.
  public func inFile(_ path: String) -> GraftError { with { $0.file = $0.file ?? path } }

  /// Returns a copy attributed to `side`.
  public func on(_ side: Side) -> GraftError { with { $0.side = side } }

  /// Returns a copy naming the option that resolves it.
  public func resolved(by option: String) -> GraftError { with { $0.option = $0.option ?? option } }

  /// Returns a copy with the tensor filled in when it was not already set.
  public func forTensor(_ name: String) -> GraftError { with { $0.tensor = $0.tensor ?? name } }

  /// An error thrown while reading tensor `name`'s bytes, as a `GraftError` naming the tensor: one already a
  /// `GraftError` keeps its code (a checksum mismatch stays one); anything else becomes `io`.
  public static func reading(_ error: any Error, tensor name: String) -> GraftError {
    if let error = error as? GraftError { return error.forTensor(name) }
    return GraftError(.io, "could not read the tensor's bytes", tensor: name, cause: error)
  }

  private func with(_ change: (inout GraftError) -> Void) -> GraftError {
    var copy = self
    change(&copy)
    return copy
  }
}

/// An operating-system error number with its message.
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
  /// The `errno` value.
  public let errno: Int32
  /// The failing call, such as `open`.
  public let call: String
  /// Creates a system error.
  public init(errno: Int32, call: String) {
    self.errno = errno
    self.call = call
  }
  /// `'open' failed: (2) No such file or directory`.
  public var description: String { "'\(call)' failed: (\(errno)) \(Syscalls.describe(errno: errno))" }
}
