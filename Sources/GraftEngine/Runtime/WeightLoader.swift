public import GraftCore
import Synchronization

/// Reads a model's weights from a tensor table as Float32, checking names, shapes and values.
///
/// Names are given without the checkpoint's wrapper prefix (`module.`, `model.`, …), which the loader adds back.
/// Every failure is a `GraftError` with code `invalidModel` naming the full tensor and the expected shape.
public struct WeightLoader: Sendable {
  /// The table the weights come from.
  public let table: TensorTable
  /// The prefix in front of every model-relative name, such as `module.` (may be empty).
  public let prefix: String
  /// Where the names of the tensors read are recorded, when the model checks that it consumed every tensor.
  public let usage: TensorUsage?
  /// When the Linear layers built from this loader pack their weights.
  public let packing: WeightPacking

  /// Creates a loader for names under `prefix`, recording what it reads in `usage` when given.
  public init(table: TensorTable, prefix: String = "", usage: TensorUsage? = nil, packing: WeightPacking = .atBuild) {
    self.table = table
    self.prefix = prefix
    self.usage = usage
    self.packing = packing
  }

  /// The full tensor name for a model-relative name.
  public func fullName(_ name: String) -> String { prefix + name }

  /// Whether the tensor exists.
  public func contains(_ name: String) -> Bool { table.contains(prefix + name) }

  /// The shape of a tensor, or `nil` when it is absent.
  public func shape(_ name: String) -> [Int]? { table[prefix + name]?.shape }

  /// The shape of a tensor that must exist.
  public func requireShape(_ name: String, expecting what: String) throws(GraftError) -> [Int] {
    guard let s = shape(name) else {
      throw GraftError(.invalidModel, "missing tensor; expected \(what)", tensor: fullName(name))
    }
    return s
  }

  /// The values of a tensor whose shape must equal `shape`, upcast to Float32.
  ///
  /// - Throws: `invalidModel` when the tensor is missing, misshapen, of a non-float dtype, or holds NaN or infinity.
  public func floats(_ name: String, shape expected: [Int]) throws(GraftError) -> [Float] {
    let full = fullName(name)
    guard let tensor = table[full] else {
      throw GraftError(.invalidModel, "missing tensor; expected shape \(expected)", tensor: full)
    }
    guard tensor.shape == expected else {
      throw GraftError(.invalidModel, "has shape \(tensor.shape); expected \(expected)", tensor: full)
    }
    let values = try Self.decode(tensor, name: full)
    try values.withUnsafeBufferPointer { v throws(GraftError) in try Self.checkFinite(v, name: full) }
    usage?.record(full)
    return values
  }

  /// Records every tensor under `prefix` (model-relative) as consumed without decoding it: for layers whose tensors
  /// reach the model another way (a DenoiseRep wrapper's schedule and time MLP, folded into its step).
  public func markConsumed(under prefix: String) {
    guard let usage else { return }
    let full = fullName(prefix)
    for name in table.names where name.hasPrefix(full) { usage.record(name) }
  }

  /// The values of an optional tensor: `nil` when absent, otherwise as ``floats(_:shape:)``.
  public func optionalFloats(_ name: String, shape expected: [Int]) throws(GraftError) -> [Float]? {
    contains(name) ? try floats(name, shape: expected) : nil
  }

  /// Decodes any floating-point storage (F32, F16, BF16, F64, FP8, FP4) to Float32: F16 and BF16 with the
  /// selected ``KernelSet`` (F16C / AVX-512 whatever the build flags), the rest with GraftCore's decoders.
  static func decode(_ tensor: Tensor, name: String) throws(GraftError) -> [Float] {
    let count = tensor.elementCount
    let dtype = tensor.dtype
    guard dtype.isFloatingPoint && dtype.isNumeric else {
      throw GraftError(
        .invalidModel, "has dtype \(dtype); the engine reads floating-point weights (F32, F16, BF16, F64, FP8, FP4)",
        tensor: name)
    }
    do {
      return try tensor.withUnsafeBytes { raw in try decode(raw, dtype: dtype, count: count) }
    } catch {
      throw GraftError.reading(error, tensor: name)
    }
  }

  /// Decodes `count` values of `dtype` into a new array, written once (never zero-filled first).
  static func decode(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int) throws(GraftError) -> [Float] {
    var failure: GraftError?
    let values = [Float](unsafeUninitializedCapacity: count) { out, initialized in
      do throws(GraftError) {
        if let src = raw.baseAddress, let dst = out.baseAddress, dtype == .float16 || dtype == .bfloat16,
          raw.count == 2 * count
        {
          if dtype == .float16 {
            KernelSet.active.float16ToFloat32(src, dst, count: count)
          } else {
            KernelSet.active.bfloat16ToFloat32(src, dst, count: count)
          }
        } else {
          try ElementDecoding.decodeToFloat(
            raw, dtype: dtype, into: UnsafeMutableBufferPointer(rebasing: out[0..<count]))
        }
        initialized = count
      } catch {
        failure = error
        initialized = 0
      }
    }
    if let failure { throw failure }
    return values
  }

  /// The values at flat (row-major) positions `elements` of a tensor whose shape must equal `shape`, upcast to
  /// Float32, reading only their bytes: one expert of a stacked `[E, …]` tensor.
  ///
  /// - Throws: as ``floats(_:shape:)``, and `invalidArgument` when `elements` lies outside the tensor.
  public func floats(_ name: String, shape expected: [Int], elements: Range<Int>) throws(GraftError) -> [Float] {
    let full = fullName(name)
    guard let tensor = table[full] else {
      throw GraftError(.invalidModel, "missing tensor; expected shape \(expected)", tensor: full)
    }
    guard tensor.shape == expected else {
      throw GraftError(.invalidModel, "has shape \(tensor.shape); expected \(expected)", tensor: full)
    }
    guard elements.lowerBound >= 0, elements.upperBound <= tensor.elementCount else {
      throw GraftError(
        .invalidArgument, "elements \(elements) lie outside the tensor's \(tensor.elementCount)", tensor: full)
    }
    guard let size = tensor.dtype.byteWidth, tensor.dtype.isFloatingPoint, tensor.dtype.isNumeric else {
      return Array(try floats(name, shape: expected)[elements])
    }
    let range = (elements.lowerBound * size)..<(elements.upperBound * size)
    let values: [Float]
    do {
      if let whole = tensor.bytes.contiguousBytes {
        values = try Self.decode(
          UnsafeRawBufferPointer(rebasing: whole[range]), dtype: tensor.dtype, count: elements.count)
      } else {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(range.count, 1), alignment: 64)
        defer { raw.deallocate() }
        let view = UnsafeMutableRawBufferPointer(rebasing: raw[0..<range.count])
        try tensor.bytes.copyBytes(in: range, into: view)
        values = try Self.decode(UnsafeRawBufferPointer(view), dtype: tensor.dtype, count: elements.count)
      }
    } catch {
      throw GraftError.reading(error, tensor: full)
    }
    try Self.checkFinite(values, name: full, offset: elements.lowerBound)
    usage?.record(full)
    return values
  }

  /// Rejects NaN and infinity, which would otherwise propagate silently through every later layer.
  static func checkFinite(_ values: [Float], name: String, offset: Int = 0) throws(GraftError) {
    try values.withUnsafeBufferPointer { v throws(GraftError) in try checkFinite(v, name: name, offset: offset) }
  }

  /// Rejects NaN and infinity in values read in place (a borrowed mapped weight) or decoded.
  static func checkFinite(_ values: UnsafeBufferPointer<Float>, name: String, offset: Int = 0) throws(GraftError) {
    if allFinite(values) { return }
    var nan = 0
    var inf = 0
    var first = -1
    for (i, v) in values.enumerated() where !v.isFinite {
      if v.isNaN { nan += 1 } else { inf += 1 }
      if first < 0 { first = i }
    }
    if nan + inf > 0 {
      throw GraftError(
        .invalidModel, "contains \(nan) NaN and \(inf) infinite values (first at flat index \(offset + first))",
        tensor: name)
    }
  }

  /// Whether no value has an all-ones exponent: the common case, checked before counting.
  ///
  /// A branch-free max over the exponent bits, which the compiler vectorises (a per-value `isFinite` test does not
  /// vectorise and costs as much as a GEMM over the same weight).
  static func allFinite(_ values: UnsafeBufferPointer<Float>) -> Bool {
    let exponent = UInt32(0x7F80_0000)
    var largest: UInt32 = 0
    for v in values { largest = max(largest, v.bitPattern & exponent) }
    return largest != exponent
  }
}

/// The names of the tensors a model build read (shared by the copies of one ``WeightLoader``).
public final class TensorUsage: Sendable {
  private let names = Mutex<Set<String>>([])

  /// Creates an empty record.
  public init() {}

  /// Records one tensor as read.
  public func record(_ name: String) { names.withLock { _ = $0.insert(name) } }

  /// Whether the tensor was read.
  public func contains(_ name: String) -> Bool { names.withLock { $0.contains(name) } }

  /// The table's tensors that were not read, in table order; an alias and its target count as
  /// read when either was.
  public func unread(in table: TensorTable) -> [String] {
    var read = names.withLock { $0 }
    for e in table.entries where read.contains(e.name) { if let target = e.aliasOf { read.insert(target) } }
    return table.entries.filter { e in !read.contains(e.name) && !(e.aliasOf.map(read.contains) ?? false) }.map(\.name)
  }
}
