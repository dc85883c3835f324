public import GraftCore

extension VisionTransformer {
  /// A ViT's hyperparameters as resolved from options, metadata and tensors, each with its source.
  public struct Configuration: Sendable, Equatable {
    /// The model width (timm `embed_dim`).
    public var embedDim: Configured<Int>
    /// The number of blocks.
    public var depth: Configured<Int>
    /// The number of attention heads.
    public var heads: Configured<Int>
    /// The MLP structure: an ``MLPKind`` raw value, or `custom` when a feed-forward builder (MoE, DenoiseRep) owns it.
    public var mlpKind: Configured<String>
    /// The MLP hidden width of the first block (gated MLPs: one half of the packed projection).
    public var mlpHidden: Configured<Int>
    /// The patch height and width.
    public var patchSize: Configured<[Int]>
    /// The image size the checkpoint's position embeddings describe (timm `img_size`).
    public var imageSize: Configured<[Int]>
    /// The image size the model runs at: ``imageSize``, or the resampling target.
    public var inputSize: Configured<[Int]>
    /// The input channels.
    public var inChannels: Configured<Int>
    /// Whether a class token is prepended.
    public var hasClassToken: Configured<Bool>
    /// The number of register tokens (timm `reg_tokens`).
    public var registerTokens: Configured<Int>
    /// Whether a distillation token and head are present (DeiT distilled; the two heads are averaged).
    public var distilled: Configured<Bool>
    /// Whether the model has learned absolute position embeddings.
    public var hasPositionEmbedding: Configured<Bool>
    /// Whether `pos_embed` covers only the patches (timm `no_embed_class=True`).
    public var noEmbedClass: Configured<Bool>
    /// The pooling.
    public var globalPool: Configured<GlobalPool>
    /// Whether pooling reads the prefix tokens too.
    public var poolIncludePrefix: Configured<Bool>
    /// Whether a norm follows the pooling (`fc_norm`).
    public var fcNorm: Configured<Bool>
    /// Whether a norm follows the blocks (`norm`).
    public var finalNorm: Configured<Bool>
    /// Whether a norm precedes the blocks (`norm_pre`, timm `pre_norm`).
    public var preNorm: Configured<Bool>
    /// Whether the patch embedding has a norm (`patch_embed.norm`, timm `embed_norm_layer`).
    public var embedNorm: Configured<Bool>
    /// The kind of every norm.
    public var normKind: Configured<NormKind>
    /// The epsilon of every norm.
    public var normEps: Configured<Float>
    /// The MLP activation.
    public var activation: Configured<Activation>
    /// Whether queries and keys are normalised per head (timm `qk_norm`).
    public var qkNorm: Configured<Bool>
    /// Whether the attention output is normalised before `proj` (timm `scale_attn_norm`).
    public var scaleAttnNorm: Configured<Bool>
    /// Whether the MLP hidden features are normalised before `fc2` (timm `scale_mlp_norm`).
    public var scaleMlpNorm: Configured<Bool>
    /// Whether the blocks have layer scale (timm `init_values`).
    public var layerScale: Configured<Bool>
    /// The number of classes of the head; 0 when there is none and the output is the pooled features.
    public var numClasses: Configured<Int>
    /// Tensors the model does not read, accepted with `ignoreUnused`.
    public var unusedTensors: [String] = []

    /// The number of patches along height and width at the input size.
    public var grid: [Int] { [inputSize.value[0] / patchSize.value[0], inputSize.value[1] / patchSize.value[1]] }
    /// Class, distillation and register tokens.
    public var prefixTokens: Int {
      (hasClassToken.value ? 1 : 0) + (distilled.value ? 1 : 0) + registerTokens.value
    }
    /// The sequence length.
    public var tokens: Int { prefixTokens + grid[0] * grid[1] }

    /// Every value with its name (timm's argument names) and source, in report order.
    public var entries: [ConfigurationEntry] {
      func e<T>(_ name: String, _ c: Configured<T>, _ json: (T) -> JSONValue) -> ConfigurationEntry {
        ConfigurationEntry(name, json(c.value), c.source)
      }
      let int = JSONValue.integer
      let size = { (s: [Int]) in JSONValue.array(s.map(JSONValue.integer)) }
      return [
        e("embed_dim", embedDim, int), e("depth", depth, int), e("num_heads", heads, int),
        e("patch_size", patchSize, size), e("img_size", imageSize, size), e("input_size", inputSize, size),
        e("in_chans", inChannels, int), e("class_token", hasClassToken, JSONValue.bool),
        e("reg_tokens", registerTokens, int), e("distilled", distilled, JSONValue.bool),
        e("pos_embed", hasPositionEmbedding, JSONValue.bool), e("no_embed_class", noEmbedClass, JSONValue.bool),
        e("norm_layer", normKind) { .string($0.rawValue) }, e("norm_eps", normEps) { Self.decimal($0) },
        e("act_layer", activation) { .string($0.rawValue) }, e("mlp_layer", mlpKind, JSONValue.string),
        e("mlp_hidden", mlpHidden, int), e("qk_norm", qkNorm, JSONValue.bool),
        e("scale_attn_norm", scaleAttnNorm, JSONValue.bool), e("scale_mlp_norm", scaleMlpNorm, JSONValue.bool),
        e("layer_scale", layerScale, JSONValue.bool), e("embed_norm", embedNorm, JSONValue.bool),
        e("pre_norm", preNorm, JSONValue.bool), e("final_norm", finalNorm, JSONValue.bool),
        e("global_pool", globalPool) { .string($0.rawValue) },
        e("pool_include_prefix", poolIncludePrefix, JSONValue.bool), e("fc_norm", fcNorm, JSONValue.bool),
        e("num_classes", numClasses, int),
      ]
    }

    /// The values the configuration guessed (`assumeDefaults`).
    public var assumptions: [ConfigurationEntry] { entries.filter(\.source.isAssumption) }

    /// `name = value (source)` lines, then the unused tensors when some were accepted.
    public var lines: [String] {
      var out = entries.map(\.line)
      if !unusedTensors.isEmpty {
        out.append("unused tensors (ignored): " + unusedTensors.joined(separator: ", "))
      }
      return out
    }

    /// The configuration as JSON: each name maps to `{value, source, detail}`; `unused_tensors` lists what was
    /// ignored.
    public var json: JSONValue {
      var members = entries.map { (key: $0.name, value: $0.json) }
      members.append((key: "unused_tensors", value: .array(unusedTensors.map(JSONValue.string))))
      return .object(JSONObject(members))
    }

    /// A Float as the shortest decimal that reads back to it (`1e-06`, not `9.99999997e-07`).
    static func decimal(_ v: Float) -> JSONValue { .double(Double("\(v)") ?? Double(v)) }
  }
}
