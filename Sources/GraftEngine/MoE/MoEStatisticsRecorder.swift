public import GraftCore
import Synchronization

/// Streaming activation statistics of dense MLPs, gathered while the engine runs (MoE-Jetpack's hooks on `mlp.act`
/// and the `norm2` output, which is the MLP input).
///
/// Sums are kept per block and updated batch by batch, so memory is `O(h²)` per block at most (with co-activation)
/// whatever the number of images.
public final class MoEActivationStatistics: Sendable {
  /// Raw sums for one block.
  public struct Sums: Sendable {
    /// Tokens seen.
    public var tokens = 0
    /// `Σ|a_i|`.
    public var l1: [Double]
    /// `Σa_i²`.
    public var squares: [Double]
    /// `Σ1[a_i > 0]`.
    public var frequency: [Double]
    /// `Σ1[a_i > 0]·1[a_j > 0]` (`h × h`), when requested.
    public var coactivation: [Double]?
    /// `Σ|x_c|` of the MLP input.
    public var channelL1: [Double]
    /// `Σx_c²` of the MLP input.
    public var channelSquares: [Double]
  }

  private let state = Mutex<[Int: Sums]>([:])
  /// The blocks to record.
  public let blocks: Set<Int>
  /// Whether to accumulate the `h × h` co-activation counts.
  public let coactivation: Bool

  /// Creates an empty recorder for `blocks`.
  public init(blocks: Set<Int>, coactivation: Bool) {
    self.blocks = blocks
    self.coactivation = coactivation
  }

  /// The sums gathered so far, by block.
  public var sums: [Int: Sums] { state.withLock { $0 } }

  func record(
    block: Int, input: UnsafePointer<Float>, activation: UnsafePointer<Float>, rows: Int, width: Int, hidden: Int
  ) {
    var s = Sums(
      tokens: rows, l1: .init(repeating: 0, count: hidden), squares: .init(repeating: 0, count: hidden),
      frequency: .init(repeating: 0, count: hidden),
      coactivation: coactivation ? .init(repeating: 0, count: hidden * hidden) : nil,
      channelL1: .init(repeating: 0, count: width), channelSquares: .init(repeating: 0, count: width))
    var active: [Int] = []
    for r in 0..<rows {
      let a = activation + r * hidden
      active.removeAll(keepingCapacity: true)
      for i in 0..<hidden {
        let v = Double(a[i])
        s.l1[i] += abs(v)
        s.squares[i] += v * v
        if v > 0 {
          s.frequency[i] += 1
          active.append(i)
        }
      }
      if coactivation {
        for i in active { for j in active { s.coactivation?[i * hidden + j] += 1 } }
      }
      let x = input + r * width
      for c in 0..<width {
        let v = Double(x[c])
        s.channelL1[c] += abs(v)
        s.channelSquares[c] += v * v
      }
    }
    state.withLock { all in
      guard var t = all[block] else {
        all[block] = s
        return
      }
      t.tokens += s.tokens
      for i in 0..<hidden {
        t.l1[i] += s.l1[i]
        t.squares[i] += s.squares[i]
        t.frequency[i] += s.frequency[i]
      }
      if let c = s.coactivation {
        for i in c.indices { t.coactivation?[i] += c[i] }
      }
      for c in 0..<width {
        t.channelL1[c] += s.channelL1[c]
        t.channelSquares[c] += s.channelSquares[c]
      }
      all[block] = t
    }
  }
}

/// A dense MLP that reports its input and activation to a ``MoEActivationStatistics`` while computing as usual.
struct RecordingMLP: FeedForwardLayer {
  let mlp: DenseMLP
  let block: Int
  let recorder: MoEActivationStatistics

  var width: Int { mlp.width }

  func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let hidden = mlp.fc1.outFeatures
    var h = uninitializedFloats(rows * hidden) { mlp.fc1.apply(x, rows: rows, into: $0) }
    h.withUnsafeMutableBufferPointer { hb in
      guard let hp = hb.baseAddress else { return }
      mlp.activation.apply(hp, count: rows * hidden)
      recorder.record(block: block, input: x, activation: hp, rows: rows, width: width, hidden: hidden)
      if accumulate { mlp.fc2.accumulate(hp, rows: rows, into: y) } else { mlp.fc2.apply(hp, rows: rows, into: y) }
    }
  }
}

/// Builds dense MLPs that record statistics for the recorder's blocks (and plain dense MLPs elsewhere).
public struct MoEStatisticsBuilder: FeedForwardBuilder {
  /// Where the statistics go.
  public let recorder: MoEActivationStatistics

  /// Creates a builder.
  public init(recorder: MoEActivationStatistics) { self.recorder = recorder }

  /// Builds a recording MLP for `blocks.N.mlp.` when N is recorded.
  public func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
  {
    let parts = prefix.split(separator: ".")
    guard parts.count >= 3, parts[parts.count - 1] == "mlp", let block = Int(parts[parts.count - 2]),
      recorder.blocks.contains(block),
      let dense = try DenseMLPBuilder().makeLayer(weights, prefix: prefix, width: width, activation: activation)
        as? DenseMLP
    else { return nil }
    return RecordingMLP(mlp: dense, block: block, recorder: recorder)
  }
}
