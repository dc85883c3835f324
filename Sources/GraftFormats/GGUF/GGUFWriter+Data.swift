import GraftCore

/// A pointer shared by parallel parts that each touch only their own slice of it.
struct SharedBuffer<Element>: @unchecked Sendable {
  // Invariant: every part writes a disjoint range; ParallelWork.run returns only after all parts finished.
  let base: UnsafeMutablePointer<Element>
}

extension GGUF {
  /// Streams one tensor's stored bytes into a file: blocks or elements copied when the stored type is already the
  /// target type, otherwise Float32 values encoded chunk by chunk, in parallel, with memory bounded by the chunk.
  struct TensorEncoder {
    let planned: PlannedTensor

    /// Float32 input per chunk.
    static let chunkInputBytes = 8 << 20

    var plan: TensorPlan { planned.plan }

    func write(into out: inout AtomicOutputFile, progress: ProgressCounter?) throws {
      let tensor = plan.tensor
      if let q = tensor.quantization, q.format.code == Int(plan.type.rawValue) {
        try copy(q.blocks, into: &out, progress: progress)
      } else if !tensor.isQuantized, plan.type.plainDType == tensor.dtype {
        try copy(tensor.bytes, into: &out, progress: progress)
      } else {
        try encode(into: &out, progress: progress)
      }
    }

    /// Copies stored bytes unchanged: mapped ones inside the kernel, others chunk by chunk.
    func copy(_ source: any TensorByteSource, into out: inout AtomicOutputFile, progress: ProgressCounter?) throws {
      guard source.byteCount == planned.byteCount else {
        throw GraftError(
          .invalidTensorInfo, "has \(source.byteCount) stored bytes; \(plan.type.name) needs \(planned.byteCount)")
      }
      if let mapped = source as? any FileBackedBytes, mapped.fileOffset != nil {
        try mapped.copy(into: &out)
        progress?.advance(by: mapped.byteCount)
        return
      }
      let view = Tensor(dtype: .uint8, shape: [source.byteCount], bytes: source)
      try view.forEachChunk { chunk in
        try out.write(chunk)
        progress?.advance(by: chunk.count)
      }
    }

    /// The values as Float32 bytes: quantized tensors decode to Float32, other dtypes are cast exactly as
    /// `Cast` casts (F16, BF16 and integers up to 2²⁴ exactly).
    func float32Source() throws(GraftError) -> any TensorByteSource {
      let tensor = plan.tensor
      guard GGUFQuantize.isSupported(plan.type) else {
        throw GraftError(
          .unsupportedDType,
          "storing \(tensor.storageTypeName) values as \(plan.type.name) is not supported: Graft encodes "
            + GGUFQuantize.supportedTypes.map(\.name).joined(separator: ", ") + " and copies stored types unchanged")
      }
      if tensor.isQuantized || tensor.dtype == .float32 { return tensor.bytes }
      guard tensor.dtype.isFloatingPoint || tensor.dtype.isInteger else {
        throw GraftError(.unsupportedDType, "\(tensor.dtype) values cannot be encoded as \(plan.type.name)")
      }
      return try Cast.lazily(tensor, to: .float32, options: CastOptions(), collector: CastReportCollector()).bytes
    }

    func encode(into out: inout AtomicOutputFile, progress: ProgressCounter?) throws {
      let source = try float32Source()
      let type = plan.type
      guard source.byteCount == planned.elementCount * 4 else {
        throw GraftError(
          .invalidTensorInfo, "holds \(source.byteCount) bytes for \(planned.elementCount) Float32 values")
      }
      let totalBlocks = planned.elementCount / type.blockElements
      let chunkBlocks = max(1, Self.chunkInputBytes / (4 * type.blockElements))
      // Mapped, 4-byte aligned Float32 input is read in place; anything else is produced into a buffer.
      let direct = source.contiguousBytes.flatMap { raw in
        raw.baseAddress.flatMap { Int(bitPattern: $0) % 4 == 0 ? $0.assumingMemoryBound(to: Float.self) : nil }
      }
      let floats = UnsafeMutablePointer<Float>.allocate(capacity: direct == nil ? chunkBlocks * type.blockElements : 1)
      defer { floats.deallocate() }
      let encoded = UnsafeMutableRawPointer.allocate(byteCount: chunkBlocks * type.blockBytes, alignment: 64)
      defer { encoded.deallocate() }
      let parts = 4 * ParallelWork.threadCount
      var failures = [PartFailure?](repeating: nil, count: parts)
      var first = 0
      while first < totalBlocks {
        let count = min(chunkBlocks, totalBlocks - first)
        try failures.withUnsafeMutableBufferPointer { slots in
          guard let slotBase = slots.baseAddress else { return }
          slots.update(repeating: nil)
          let job = EncodeJob(
            type: type, source: source, direct: direct.map { UnsafePointer($0) }, firstBlock: first,
            blockCount: count, floats: SharedBuffer(base: floats),
            encoded: SharedBuffer(base: encoded.assumingMemoryBound(to: UInt8.self)),
            failures: SharedBuffer(base: slotBase), parts: min(parts, count))
          ParallelWork.run(parts: job.parts) { part in job.run(part: part) }
          for case let failure? in slots {
            switch failure {
            case .error(let error): throw error
            case .nonFinite(let index):
              throw GraftError(
                .invalidTensorInfo,
                "element \(index) is not finite; \(type.name) blocks cannot hold inf or NaN (llama.cpp refuses such "
                  + "rows too): store this tensor as F16 or F32")
            }
          }
        }
        try out.write(UnsafeRawBufferPointer(start: encoded, count: count * type.blockBytes))
        let inputRange = (4 * first * type.blockElements)..<(4 * (first + count) * type.blockElements)
        source.discard(inputRange)
        progress?.advance(by: count * type.blockBytes)
        first += count
      }
    }
  }

  /// Why a part of a chunk failed.
  enum PartFailure {
    case error(any Error)
    case nonFinite(Int)
  }

  /// One chunk of blocks, split into contiguous parts that encode in parallel.
  struct EncodeJob: @unchecked Sendable {
    // Invariant: part k reads only its own input range and writes only its own slices of `floats`, `encoded` and
    // `failures[k]`; the pointers outlive ParallelWork.run, which returns after every part.
    let type: GGMLType
    let source: any TensorByteSource
    let direct: UnsafePointer<Float>?
    let firstBlock: Int
    let blockCount: Int
    let floats: SharedBuffer<Float>
    let encoded: SharedBuffer<UInt8>
    let failures: SharedBuffer<PartFailure?>
    let parts: Int

    func run(part: Int) {
      let start = blockCount * part / parts
      let end = blockCount * (part + 1) / parts
      guard end > start else { return }
      let n = type.blockElements
      let values: UnsafePointer<Float>
      if let direct {
        values = direct + (firstBlock + start) * n
      } else {
        let dst = floats.base + start * n
        let range = (4 * (firstBlock + start) * n)..<(4 * (firstBlock + end) * n)
        do {
          try source.copyBytes(in: range, into: UnsafeMutableRawBufferPointer(start: dst, count: range.count))
        } catch {
          failures.base[part] = .error(error)
          return
        }
        values = UnsafePointer(dst)
      }
      do {
        let bad = try GGUFQuantize.encode(
          type, values: values, blockCount: end - start,
          into: UnsafeMutableRawPointer(encoded.base + start * type.blockBytes))
        if let bad { failures.base[part] = .nonFinite((firstBlock + start) * n + bad) }
      } catch {
        failures.base[part] = .error(error)
      }
    }
  }
}
