/// Geometry of a 2-D convolution over NCHW input.
struct ConvGeometry: Sendable, Equatable {
  var inChannels: Int
  var outChannels: Int
  var kernel: (h: Int, w: Int)
  var stride: (h: Int, w: Int)
  var padding: (h: Int, w: Int)
  var groups: Int

  static func == (a: ConvGeometry, b: ConvGeometry) -> Bool {
    a.inChannels == b.inChannels && a.outChannels == b.outChannels && a.kernel == b.kernel && a.stride == b.stride
      && a.padding == b.padding && a.groups == b.groups
  }

  /// The output height and width for an input of `h × w`.
  func outputSize(height h: Int, width w: Int) -> (h: Int, w: Int) {
    ((h + 2 * padding.h - kernel.h) / stride.h + 1, (w + 2 * padding.w - kernel.w) / stride.w + 1)
  }

  /// Values in one im2col row for one group: `(C/g)·kh·kw`.
  var patchLength: Int { inChannels / groups * kernel.h * kernel.w }
}

enum Im2col {
  /// Writes one row per output position of image `b`, group `g`: the receptive field in `(c, ky, kx)` order, the
  /// order of a PyTorch conv weight `[O, C/g, kh, kw]` flattened, with zeros where the window overhangs the padding.
  static func lower(
    image: UnsafePointer<Float>, height: Int, width: Int, geometry: ConvGeometry, group g: Int,
    into dst: UnsafeMutablePointer<Float>
  ) {
    let (oh, ow) = geometry.outputSize(height: height, width: width)
    let cpg = geometry.inChannels / geometry.groups
    let (kh, kw) = geometry.kernel
    let rowLength = geometry.patchLength
    let plane = height * width
    let exact =
      geometry.padding == (0, 0) && geometry.stride == geometry.kernel
    for oy in 0..<oh {
      for ox in 0..<ow {
        var out = dst + (oy * ow + ox) * rowLength
        let y0 = oy * geometry.stride.h - geometry.padding.h
        let x0 = ox * geometry.stride.w - geometry.padding.w
        for c in 0..<cpg {
          let channel = image + (g * cpg + c) * plane
          for ky in 0..<kh {
            let y = y0 + ky
            if exact {
              // Patch embedding: every window lies inside the image, rows copy contiguously.
              (out).update(from: channel + y * width + x0, count: kw)
              out += kw
              continue
            }
            if y < 0 || y >= height {
              out.update(repeating: 0, count: kw)
              out += kw
              continue
            }
            let row = channel + y * width
            for kx in 0..<kw {
              let x = x0 + kx
              out[kx] = x >= 0 && x < width ? row[x] : 0
            }
            out += kw
          }
        }
      }
    }
  }
}
