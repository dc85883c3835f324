public import GraftCore

extension DenoiseRep {
  /// The schedule constants of one DDPM reverse step at index `t`.
  public struct Constants: Sendable, Hashable {
    /// The 0-based index into the 1000-step schedule.
    public var t: Int
    /// `β_T / (√(1−ᾱ_T)·√α_T)`, the weight of the predicted noise.
    public var c1: Double
    /// `√β_T`, the weight of the sampled noise z.
    public var c2: Double
    /// `1/√α_T`, the scale of the input.
    public var c3: Double

    /// Creates constants.
    public init(t: Int, c1: Double, c2: Double, c3: Double) {
      self.t = t
      self.c1 = c1
      self.c2 = c2
      self.c3 = c3
    }

    /// The constants as JSON, for reports and lineage.
    public var json: JSONValue {
      ["T": .integer(t), "c1": .double(c1), "c2": .double(c2), "c3": .double(c3)]
    }
  }

  /// The number of steps in the layer's schedule (the length of `<prefix>.alphas`).
  ///
  /// - Throws: `invalidModel` when the buffer is missing or not 1-D.
  public static func timestepCount(of layer: Layer, in table: TensorTable) throws(GraftError) -> Int {
    let name = layer.name("alphas")
    guard let t = table[name] else {
      throw GraftError(
        .invalidModel,
        "missing schedule buffer; DenoiseRep constants are read from the stored buffers (alphas, sqrt_alphas, "
          + "sqrt_one_minus_alphas_cumprod, sqrt_betas), each 1-D [timesteps]", tensor: name)
    }
    guard t.shape.count == 1 else {
      throw GraftError(.invalidModel, "has shape \(t.shape); expected a 1-D schedule buffer [timesteps]", tensor: name)
    }
    return t.shape[0]
  }

  /// Reads `c1`, `c2`, `c3` at index `t` from the layer's stored schedule buffers.
  ///
  /// The buffers are read rather than recomputed because recomputing `1 − ᾱ` in float64 moves c1 by up to 1.5e-4
  /// relative to what the model was trained with.
  ///
  /// - Throws: `invalidModel` for a missing or misshapen buffer, `invalidArgument` when `t` is outside the schedule.
  public static func constants(for layer: Layer, t: Int, in table: TensorTable) throws(GraftError) -> Constants {
    let steps = try timestepCount(of: layer, in: table)
    guard t >= 0 && t < steps else {
      throw GraftError(
        .invalidArgument,
        "T = \(t) is outside the schedule's \(steps) steps (valid: 0…\(steps - 1)); check the T map",
        tensor: layer.prefix)
    }
    func value(_ buffer: String) throws(GraftError) -> Double {
      let name = layer.name(buffer)
      guard let tensor = table[name] else {
        throw GraftError(
          .invalidModel, "missing schedule buffer; expected [\(steps)] (the constants come from the stored buffers)",
          tensor: name)
      }
      guard tensor.shape == [steps] else {
        throw GraftError(.invalidModel, "has shape \(tensor.shape); expected [\(steps)] like alphas", tensor: name)
      }
      let values = try DenoiseRepValues.doubles(tensor, name: name)
      return values[t]
    }
    let alpha = try value("alphas")
    let sqrtAlpha = try value("sqrt_alphas")
    let sqrtOneMinusCumprod = try value("sqrt_one_minus_alphas_cumprod")
    let sqrtBeta = try value("sqrt_betas")
    guard sqrtAlpha > 0, sqrtOneMinusCumprod > 0, alpha.isFinite, sqrtBeta.isFinite else {
      throw GraftError(
        .invalidModel,
        "schedule at T = \(t) is degenerate (sqrt_alphas = \(sqrtAlpha), sqrt_one_minus_alphas_cumprod = "
          + "\(sqrtOneMinusCumprod)); expected positive values", tensor: layer.name("sqrt_alphas"))
    }
    return Constants(
      t: t, c1: (1 - alpha) / (sqrtOneMinusCumprod * sqrtAlpha), c2: sqrtBeta, c3: 1 / sqrtAlpha)
  }
}

extension DenoiseRep {
  /// The twelve schedule buffers `DenoiseLayer.__init__` registers, `linspace(1e-4, 2e-3, timesteps)` and what it
  /// derives from it, computed in float64 and stored as float32 (PyTorch computes them in float32; values agree to
  /// float32 rounding, except for cancellation in `1 − ᾱ` on the first steps).
  ///
  /// For building DenoiseRep checkpoints in memory (demos, tests); fusion always reads the stored buffers.
  public static func scheduleBuffers(timesteps: Int = 1000) -> [(name: String, values: [Float])] {
    let steps = max(timesteps, 2)
    let betas = (0..<steps).map { 1e-4 + (2e-3 - 1e-4) * Double($0) / Double(steps - 1) }
    let alphas = betas.map { 1 - $0 }
    var cumprod: [Double] = []
    var acc = 1.0
    for a in alphas {
      acc *= a
      cumprod.append(acc)
    }
    let previous = [1.0] + cumprod.dropLast()
    let columns: [(String, [Double])] = [
      ("betas", betas), ("sqrt_betas", betas.map { $0.squareRoot() }), ("alphas", alphas),
      ("sqrt_alphas", alphas.map { $0.squareRoot() }), ("alphas_cumprod", cumprod), ("alphas_cumprod_prev", previous),
      ("sqrt_alphas_cumprod", cumprod.map { $0.squareRoot() }),
      ("sqrt_one_minus_alphas_cumprod", cumprod.map { (1 - $0).squareRoot() }),
      ("log_one_minus_alphas_cumprod", cumprod.map { Elementary.log(1 - $0) }),
      ("sqrt_recip_alphas_cumprod", cumprod.map { (1 / $0).squareRoot() }),
      ("sqrt_recipm1_alphas_cumprod", cumprod.map { (1 / $0 - 1).squareRoot() }),
      ("posterior_variance", zip(betas, zip(previous, cumprod)).map { $0 * (1 - $1.0) / (1 - $1.1) }),
    ]
    return columns.map { ($0.0, $0.1.map { Float($0) }) }
  }
}
