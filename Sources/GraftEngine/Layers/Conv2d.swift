public import GraftCore

/// A 2-D convolution over NCHW input (`nn.Conv2d`: any stride, zero padding and groups; no dilation), computed as
/// im2col followed by one GEMM per group.
public struct Conv2d: Sendable {
  let geometry: ConvGeometry
  let groupWeights: [PackedMatrix]
  let bias: [Float]?
  /// An unmerged LoRA path on the flattened kernel (see ``LowRankAdapter``); groups = 1 only.
  var lowRank: LowRankAdapter?

  /// The number of input channels.
  public var inChannels: Int { geometry.inChannels }
  /// The number of output channels.
  public var outChannels: Int { geometry.outChannels }

  /// Creates a convolution from a weight `[out, in/groups, kh, kw]` (row-major) and an optional bias `[out]`.
  ///
  /// - Throws: `invalidModel` when the sizes are inconsistent.
  public init(
    weight: [Float], bias: [Float]?, outChannels: Int, inChannels: Int, kernel: (Int, Int), stride: (Int, Int),
    padding: (Int, Int) = (0, 0), groups: Int = 1
  ) throws(GraftError) {
    guard groups > 0, inChannels % groups == 0, outChannels % groups == 0, kernel.0 > 0, kernel.1 > 0, stride.0 > 0,
      stride.1 > 0, padding.0 >= 0, padding.1 >= 0,
      weight.count == outChannels * (inChannels / groups) * kernel.0 * kernel.1,
      (bias?.count ?? outChannels) == outChannels
    else {
      throw GraftError(
        .invalidModel,
        "inconsistent convolution: \(outChannels) outputs, \(inChannels) inputs, \(groups) groups, kernel \(kernel), "
          + "\(weight.count) weight values")
    }
    geometry = ConvGeometry(
      inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
      groups: groups)
    let opg = outChannels / groups
    let k = geometry.patchLength
    groupWeights = weight.withUnsafeBufferPointer { w in
      (0..<groups).map { g in
        PackedMatrix(transposing: w.baseAddress.unsafelyUnwrapped + g * opg * k, outFeatures: opg, inFeatures: k)
      }
    }
    self.bias = bias
  }

  /// Loads `<prefix>weight` `[out, in/groups, kh, kw]` and an optional `<prefix>bias`.
  public init(
    _ weights: WeightLoader, prefix: String, stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), groups: Int = 1
  ) throws(GraftError) {
    let name = prefix + "weight"
    let shape = try weights.requireShape(name, expecting: "a 4-D convolution weight [out, in/groups, kh, kw]")
    guard shape.count == 4 else {
      throw GraftError(
        .invalidModel, "has shape \(shape); expected a 4-D convolution weight [out, in/groups, kh, kw]",
        tensor: weights.fullName(name))
    }
    let w = try weights.floats(name, shape: shape)
    let b = try weights.optionalFloats(prefix + "bias", shape: [shape[0]])
    try self.init(
      weight: w, bias: b, outChannels: shape[0], inChannels: shape[1] * groups, kernel: (shape[2], shape[3]),
      stride: stride ?? (shape[2], shape[3]), padding: padding, groups: groups)
    lowRank = try LowRankAdapter.load(weights, prefix: prefix, inFeatures: geometry.patchLength, outFeatures: shape[0])
    if lowRank != nil && groups != 1 {
      throw GraftError(.unsupported, "an unmerged LoRA path on a grouped convolution", tensor: weights.fullName(name))
    }
  }

  /// The output spatial size for an input of `height × width`.
  public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
    let s = geometry.outputSize(height: height, width: width)
    return (s.h, s.w)
  }

  /// Convolves `batch` images (`[batch, C, H, W]`) into channels-last rows `[batch·OH·OW × out]`, the token layout
  /// of a patch embedding.
  func applyChannelsLast(
    _ x: UnsafePointer<Float>, batch: Int, height: Int, width: Int, into y: UnsafeMutablePointer<Float>
  ) {
    let (oh, ow) = geometry.outputSize(height: height, width: width)
    let positions = oh * ow
    let k = geometry.patchLength
    let opg = geometry.outChannels / geometry.groups
    let out = geometry.outChannels
    let imageSize = geometry.inChannels * height * width
    for g in 0..<geometry.groups {
      var columns = uninitializedFloats(batch * positions * k) { cols in
        for b in 0..<batch {
          Im2col.lower(
            image: x + b * imageSize, height: height, width: width, geometry: geometry, group: g,
            into: cols + b * positions * k)
        }
      }
      for r in 0..<(batch * positions) {
        let row = y + r * out + g * opg
        if let bias {
          bias.withUnsafeBufferPointer { row.update(from: $0.baseAddress.unsafelyUnwrapped + g * opg, count: opg) }
        } else {
          row.update(repeating: 0, count: opg)
        }
      }
      columns.withUnsafeMutableBufferPointer { cb in
        guard let c = cb.baseAddress else { return }
        if let lowRank {
          lowRank.apply(
            c, rows: batch * positions, ldx: k, into: y, ldy: out, weight: .packed(groupWeights[g]), bias: bias)
          return
        }
        GEMM.multiply(
          m: batch * positions, a: MatrixOperand(c, rowStride: k), b: groupWeights[g], c: y + g * opg, ldc: out)
      }
    }
  }

  /// Convolves an NCHW tensor `[N, C, H, W]` into `[N, out, OH, OW]`.
  ///
  /// - Throws: `invalidArgument` when the input is not 4-D with ``inChannels`` channels or is smaller than the kernel.
  public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    guard x.shape.count == 4, x.shape[1] == inChannels,
      x.shape[2] + 2 * geometry.padding.h >= geometry.kernel.h, x.shape[3] + 2 * geometry.padding.w >= geometry.kernel.w
    else {
      throw GraftError(.invalidArgument, "input of shape \(x.shape); expected [N, \(inChannels), H, W]")
    }
    let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
    if x.count == 0 { return FloatTensor(zeros: [n, outChannels, 0, 0]) }
    let (oh, ow) = geometry.outputSize(height: h, width: w)
    let out = outChannels
    let channelsLast = x.values.withUnsafeBufferPointer { xb in
      uninitializedFloats(n * oh * ow * out) { y in
        applyChannelsLast(xb.baseAddress.unsafelyUnwrapped, batch: n, height: h, width: w, into: y)
      }
    }
    var nchw = [Float](repeating: 0, count: channelsLast.count)
    for b in 0..<n {
      for p in 0..<(oh * ow) {
        for c in 0..<out { nchw[(b * out + c) * oh * ow + p] = channelsLast[(b * oh * ow + p) * out + c] }
      }
    }
    return FloatTensor(unchecked: [n, out, oh, ow], values: nchw)
  }
}
