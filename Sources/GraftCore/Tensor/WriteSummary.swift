/// What a writer produced.
public struct WriteSummary: Sendable {
  /// The files written (one, or every shard plus the index), in order.
  public var files: [String]
  /// The total number of bytes written across files.
  public var bytesWritten: Int
  /// The number of tensors whose bytes were stored (aliases not counted).
  public var storedTensorCount: Int
  /// Names that a format could not keep as aliases and wrote another way, with what happened to them.
  public var notes: [String]

  /// Creates a summary.
  public init(files: [String], bytesWritten: Int, storedTensorCount: Int, notes: [String] = []) {
    self.files = files
    self.bytesWritten = bytesWritten
    self.storedTensorCount = storedTensorCount
    self.notes = notes
  }
}
