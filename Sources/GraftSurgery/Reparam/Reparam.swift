public import GraftCore

/// Structural re-parameterisation for deployment: BatchNorm folded into the convolution (or Linear) before it, and
/// multi-branch blocks merged into one convolution — RepVGG (k×k + 1×1 + identity, each with its BN) in timm's
/// `byobnet` naming and the original RepVGG naming, and ACNet's ACB (k×k + k×1 + 1×k).
///
/// Facts (torch `fuse_conv_bn_eval`, timm `RepVggBlock._get_kernel_bias`, ACNet `ACBlock.get_equivalent_kernel_bias`):
/// with `s = γ/√(σ² + ε)`, a branch folds to `K·s` and `β − μ·s` (plus `s·b` when the conv has a bias); the identity
/// branch is the kernel with 1 at `[i, i mod (C/g), centre]`; smaller kernels are zero-padded to the block's kernel,
/// centred; the fused kernel and bias are the sums. BN's ε is not in the state dict: torch's default 1e-5 unless
/// given (and then reported as assumed).
public enum Reparam {
  /// torch's default BatchNorm ε.
  public static let defaultEpsilon = 1e-5
  /// The lineage operation.
  public static let operation = "reparam"
  /// Metadata keys read for ε before assuming the default.
  public static let epsilonMetadataKeys = ["batchnorm_eps", "bn_eps"]

  /// A BatchNorm's tensors, found by `<prefix>.running_mean` and `<prefix>.running_var`.
  public struct BatchNorm: Sendable, Equatable {
    /// The module prefix (no trailing dot).
    public var prefix: String
    /// The number of channels.
    public var channels: Int
    /// Whether `weight`/`bias` exist (`affine=True`); without them γ = 1 and β = 0.
    public var affine: Bool

    /// The tensor names the module owns.
    public func names(in table: TensorTable) -> [String] {
      ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map { prefix + "." + $0 }
        .filter(table.contains)
    }
  }

  /// One branch of a block: a convolution (or Linear) followed by its BN, or a BN alone (the identity branch).
  public struct Branch: Sendable {
    /// The conv weight's name; `nil` for the identity branch.
    public var weight: String?
    /// The conv bias's name, when the conv has one.
    public var bias: String?
    /// The branch's BN.
    public var norm: BatchNorm
    /// The branch kernel's spatial size (`[]` for a Linear, `[1, 1]`-like for identity).
    public var kernel: [Int]
  }

  /// What a block is.
  public enum Kind: String, Sendable {
    /// timm byobnet `RepVggBlock` (`conv_kxk`, `conv_1x1`, `identity` → `reparam_conv`).
    case repvggTimm = "repvgg-timm"
    /// The original RepVGG block (`rbr_dense`, `rbr_1x1`, `rbr_identity` → `rbr_reparam`).
    case repvggOriginal = "repvgg"
    /// ACNet's `ACBlock` (`square_*`, `ver_*`, `hor_*` → `fused_conv`).
    case acb
    /// A convolution or Linear followed by a BN.
    case convBN = "conv-bn"
  }

  /// One block to fold into a single convolution (or Linear).
  public struct Block: Sendable {
    /// What it is.
    public var kind: Kind
    /// The block prefix (no trailing dot).
    public var prefix: String
    /// The branches, summed.
    public var branches: [Branch]
    /// The output weight's name.
    public var outputWeight: String
    /// The output bias's name.
    public var outputBias: String
    /// The output weight's shape `[out, in/groups, k…]`.
    public var shape: [Int]
    /// The groups, when known (from the identity branch: `out / (in/groups)`); `nil` when the state dict cannot say.
    public var groups: Int?
    /// How the pairing was found from the names (it is inferred: state dicts do not record the graph).
    public var rule: String
  }

  /// Options of ``reparameterize(_:options:)``.
  public struct Options: Sendable {
    /// Also fold every remaining Conv/Linear + BN pair (not only RepVGG / ACB blocks).
    public var foldBatchNorm = false
    /// BN's ε; `nil` reads the metadata, else assumes torch's 1e-5.
    public var epsilon: Double?
    /// The tool recorded in the lineage.
    public var tool = "graft"

    /// Creates default options.
    public init() {}
  }

  /// What ``reparameterize(_:options:)`` did.
  public struct Report: Sendable {
    /// The folded blocks.
    public var blocks: [Block]
    /// The ε used.
    public var epsilon: Double
    /// Where ε came from: `option`, `metadata <key>` or `assumed (torch default)`.
    public var epsilonSource: String
    /// BNs left as they are (no conv found before them, or `foldBatchNorm` off), by prefix.
    public var keptBatchNorms: [String]
    /// The removed tensors.
    public var removed: [String]

    /// The report as JSON.
    public var json: JSONValue {
      var o = JSONObject()
      o["operation"] = .string(operation)
      o["epsilon"] = .double(epsilon)
      o["epsilon_source"] = .string(epsilonSource)
      o["blocks"] = .array(
        blocks.map { b in
          .object(
            JSONObject([
              ("kind", .string(b.kind.rawValue)), ("prefix", .string(b.prefix)), ("weight", .string(b.outputWeight)),
              ("bias", .string(b.outputBias)), ("shape", .array(b.shape.map(JSONValue.integer))),
              ("groups", b.groups.map(JSONValue.integer) ?? .null), ("rule", .string(b.rule)),
            ]))
        })
      o["kept_batchnorms"] = .array(keptBatchNorms.map(JSONValue.string))
      o["removed"] = .array(removed.map(JSONValue.string))
      return .object(o)
    }
  }
}
