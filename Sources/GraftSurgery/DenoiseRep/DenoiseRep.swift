public import GraftCore

/// DenoiseRep (NeurIPS 2024) deploy-time passes: fusing denoising layers into the Linears they wrap, and stripping
/// the denoisers that released (already fused) checkpoints still carry.
///
/// A wrapped layer `<prefix>` keeps its own `weight`/`bias` and adds a noise predictor `dm` (`W_d`, `b_d`), a time
/// MLP `time_mlp.1`/`time_mlp.3` and twelve float32 schedule buffers. Fusing folds one DDPM reverse step into the
/// Linear, `W' = c3·W − c1·W·W_d` and `b' = b − c1·W·b_d` plus the mode's terms (see ``Mode``).
public enum DenoiseRep {
  /// Which terms the fused bias carries, beyond the public code's `b − c1·W·b_d`.
  public enum Mode: String, Sendable, CaseIterable, Hashable {
    /// No noise (z = 0) and no time term: deterministic, the posterior mean of the public formula. The default.
    case mean
    /// The public code's formula: no time term, one normal draw z (seeded here) baked into the bias.
    case compat
    /// The trained predictor: adds the time-embedding term `−c1·W·W_d·e(T)`, z = 0.
    case exact

    /// Whether the fused bias includes `c2·W·z`.
    public var includesNoise: Bool { self == .compat }
    /// Whether the fused bias includes `−c1·W·W_d·e(T)`.
    public var includesTimeTerm: Bool { self == .exact }
  }

  /// The twelve schedule buffers `DenoiseLayer` registers, in registration order.
  public static let bufferNames = [
    "betas", "sqrt_betas", "alphas", "sqrt_alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance",
  ]

  /// Child modules a wrapped layer adds: the noise predictor, the time MLP and the optional distillation teacher.
  public static let leftoverModules = ["dm", "time_mlp", "teacher"]

  /// The metadata key Graft writes into a fused output.
  public static let fusedMarkerKey = "denoiserep_fused"
  /// The lineage operation of a fusion.
  public static let fuseOperation = "denoiserep.fuse"
  /// The lineage operation of a strip.
  public static let stripOperation = "denoiserep.strip"

  /// Says why a table looks already fused, or `nil` when nothing records a fusion.
  ///
  /// The public code keeps the key set unchanged when it fuses and records nothing, so only Graft's own marker
  /// (metadata `denoiserep_fused`, or a `denoiserep.fuse` lineage record) can prove it; released checkpoints are
  /// fused without any marker, which is why `strip`, not `fuse`, is the pass for them.
  public static func fusedEvidence(in table: TensorTable) -> String? {
    if let marker = table.metadata[fusedMarkerKey] {
      let yes = marker.boolValue == true || marker.stringValue?.lowercased() == "true"
      if yes { return "its metadata has \(fusedMarkerKey) = true" }
    }
    if table.lineage.contains(where: { $0.operation == fuseOperation }) {
      return "its lineage records a \(fuseOperation) operation"
    }
    return nil
  }
}
