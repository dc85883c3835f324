/// The XXH64 hash (Yann Collet's xxHash, 64-bit variant), streaming.
///
/// Used for `.graft` per-tensor and header checksums and for content digests in lineage records: it runs at
/// memory speed (several GB/s per core) and detects every single-bit flip in practice.
public struct XXHash64: Sendable {
  @usableFromInline static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
  @usableFromInline static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
  @usableFromInline static let p3: UInt64 = 0x1656_67B1_9E37_79F9
  @usableFromInline static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
  @usableFromInline static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

  @usableFromInline var v1: UInt64, v2: UInt64, v3: UInt64, v4: UInt64
  @usableFromInline var total: UInt64 = 0
  @usableFromInline var tail: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  @usableFromInline var tailCount = 0
  @usableFromInline let seed: UInt64

  /// Starts a hash with a seed.
  public init(seed: UInt64 = 0) {
    self.seed = seed
    v1 = seed &+ XXHash64.p1 &+ XXHash64.p2
    v2 = seed &+ XXHash64.p2
    v3 = seed
    v4 = seed &- XXHash64.p1
  }

  @inline(__always) @usableFromInline static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 {
    (x << r) | (x >> (64 - r))
  }
  @inline(__always) @usableFromInline static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
    rotl(acc &+ input &* p2, 31) &* p1
  }
  @inline(__always) @usableFromInline static func merge(_ acc: UInt64, _ val: UInt64) -> UInt64 {
    (acc ^ round(0, val)) &* p1 &+ p4
  }

  /// Hashes more bytes.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    var p = 0
    let n = bytes.count
    total &+= UInt64(n)
    // Fill the 32-byte tail buffer first.
    if tailCount > 0 {
      withUnsafeMutableBytes(of: &tail) { t in
        let take = min(32 - tailCount, n)
        for k in 0..<take { t[tailCount + k] = bytes[k] }
        tailCount += take
        p = take
      }
      if tailCount < 32 { return }
      let (a, b, c, d) = tail
      v1 = XXHash64.round(v1, UInt64(littleEndian: a))
      v2 = XXHash64.round(v2, UInt64(littleEndian: b))
      v3 = XXHash64.round(v3, UInt64(littleEndian: c))
      v4 = XXHash64.round(v4, UInt64(littleEndian: d))
      tailCount = 0
    }
    if n - p >= 32, let base = bytes.baseAddress {
      var a = v1, b = v2, c = v3, d = v4
      var q = base + p
      let end = base + (n - 32)
      while q <= end {
        a = XXHash64.round(a, UInt64(littleEndian: q.loadUnaligned(as: UInt64.self)))
        b = XXHash64.round(b, UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        c = XXHash64.round(c, UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        d = XXHash64.round(d, UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        q += 32
      }
      v1 = a
      v2 = b
      v3 = c
      v4 = d
      p = q - base
    }
    if p < n {
      withUnsafeMutableBytes(of: &tail) { t in
        for k in p..<n { t[tailCount + k - p] = bytes[k] }
      }
      tailCount += n - p
    }
  }

  /// Hashes an array of bytes.
  public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

  /// The hash of everything so far.
  public func finalize() -> UInt64 {
    var h: UInt64
    if total >= 32 {
      h = XXHash64.rotl(v1, 1) &+ XXHash64.rotl(v2, 7) &+ XXHash64.rotl(v3, 12) &+ XXHash64.rotl(v4, 18)
      h = XXHash64.merge(h, v1)
      h = XXHash64.merge(h, v2)
      h = XXHash64.merge(h, v3)
      h = XXHash64.merge(h, v4)
    } else {
      h = seed &+ XXHash64.p5
    }
    h &+= total
    var t = tail
    let count = tailCount
    withUnsafeBytes(of: &t) { b in
      var i = 0
      while i + 8 <= count {
        let k = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        h ^= XXHash64.round(0, k)
        h = XXHash64.rotl(h, 27) &* XXHash64.p1 &+ XXHash64.p4
        i += 8
      }
      if i + 4 <= count {
        let k = UInt64(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
        h ^= k &* XXHash64.p1
        h = XXHash64.rotl(h, 23) &* XXHash64.p2 &+ XXHash64.p3
        i += 4
      }
      while i < count {
        h ^= UInt64(b[i]) &* XXHash64.p5
        h = XXHash64.rotl(h, 11) &* XXHash64.p1
        i += 1
      }
    }
    h ^= h >> 33
    h &*= XXHash64.p2
    h ^= h >> 29
    h &*= XXHash64.p3
    h ^= h >> 32
    return h
  }

  /// The hash of `bytes` in one call.
  public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
    var h = XXHash64(seed: seed)
    h.update(bytes)
    return h.finalize()
  }

  /// The hash of `bytes` in one call.
  public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
    bytes.withUnsafeBytes { hash($0, seed: seed) }
  }

  /// `xxh64:` followed by 16 lowercase hex digits.
  public static func format(_ value: UInt64) -> String {
    let hex = String(value, radix: 16)
    return "xxh64:" + String(repeating: "0", count: 16 - hex.count) + hex
  }
}

extension Tensor {
  /// The XXH64 of the tensor's bytes, streamed chunk by chunk (the per-tensor checksum `.graft` stores).
  public func contentHash() throws -> UInt64 {
    var h = XXHash64()
    try forEachChunk { h.update($0) }
    return h.finalize()
  }
}

extension TensorTable {
  /// A digest of the table's content: names, dtypes, shapes and bytes of every entry, in name order.
  ///
  /// Two tables with equal digests hold the same tensors under the same names, whatever file format or tensor order
  /// they came from; metadata and lineage are not included. Reads every byte once.
  public func contentDigest() throws -> String {
    var h = XXHash64()
    for e in entries.sorted(by: { $0.name < $1.name }) {
      h.update(Array(e.name.utf8) + [0])
      h.update(Array(e.tensor.dtype.rawValue.utf8) + [0])
      h.update(Array(e.tensor.shape.map(String.init).joined(separator: ",").utf8) + [0])
      if let a = e.aliasOf { h.update(Array(("=" + a).utf8) + [0]) }
      let d = try e.tensor.contentHash().littleEndian
      withUnsafeBytes(of: d) { h.update($0) }
    }
    return XXHash64.format(h.finalize())
  }
}
