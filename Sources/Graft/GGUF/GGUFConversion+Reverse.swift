extension GGUFConversion {
  /// A GGUF model seen as a Hugging Face model: lazy tensors under transformers' names (Q/K un-permuted, experts
  /// split into the per-expert layout `save_pretrained` writes), config.json rebuilt from the key-values.
  struct HuggingFaceView {
    /// The GGUF file's table (GGUF names).
    var gguf: TensorTable
    /// The same tensors under transformers' names; quantized tensors decode on demand.
    var table: TensorTable
    /// The rebuilt config.json.
    var config: JSONObject
    /// The parsed configuration.
    var configuration: LLMConfiguration
    /// The GGUF architecture.
    var architecture: GGUFArchitecture
    /// What was inferred or dropped.
    var notes: [String]
  }

  /// Opens a GGUF file (or split checkpoint) as a Hugging Face model.
  ///
  /// - Throws: `unsupported` naming `general.architecture` when it is not one Graft converts; errors naming the key or
  ///   tensor for anything config.json or transformers' layout cannot express.
  static func huggingFaceView(path: String) throws(GraftError) -> HuggingFaceView {
    let gguf = try GGUF.read(path: path)
    guard let name = gguf.metadata["general.architecture"]?.stringValue else {
      throw GraftError(.invalidModel, "the file has no general.architecture key", file: path).on(.input)
    }
    guard let arch = GGUFArchitecture(rawValue: name) else {
      throw GraftError(
        .unsupported,
        "general.architecture is '\(name)'; Graft converts the GGUF architectures \(GGUFArchitecture.supportedNames) "
          + "to Hugging Face", file: path
      ).on(.input)
    }
    var notes: [String] = []
    do {
      let config = try configuration(from: gguf, architecture: arch, file: path, notes: &notes)
      let parsed = try LLMConfiguration(json: config)
      let table = try huggingFaceTensors(gguf, configuration: parsed, architecture: arch, notes: &notes)
      return HuggingFaceView(
        gguf: gguf, table: table, config: config, configuration: parsed, architecture: arch, notes: notes)
    } catch {
      throw error.inFile(path).on(.input)
    }
  }

  /// The GGUF tensors under transformers' names.
  static func huggingFaceTensors(
    _ gguf: TensorTable, configuration c: LLMConfiguration, architecture arch: GGUFArchitecture,
    notes: inout [String]
  ) throws(GraftError) -> TensorTable {
    var table = TensorTable()
    table.source = gguf.source
    let mixtral = c.family == .mixtral
    for entry in gguf.entries {
      let name = entry.name
      if name == "rope_freqs.weight" { continue }  // Rebuilt as config.json's llama3 rope_parameters.
      if let g = GGUFTensorNames.global.first(where: { $0.gguf == name }) {
        try table.append(g.hf, entry.tensor)
        continue
      }
      guard let (n, rest) = GGUFTensorNames.blockName(name), n < c.layerCount else {
        throw GraftError(
          .invalidModel, "has no transformers name in a \(c.family.rawValue) model with \(c.layerCount) layers",
          tensor: name)
      }
      let layer = "model.layers.\(n)."
      if let x = GGUFTensorNames.experts.first(where: { $0.gguf == rest }) {
        let count = entry.tensor.shape.first ?? 0
        guard entry.tensor.shape.count == 3, count == c.mixtureOfExperts?.expertCount else {
          throw GraftError(
            .invalidModel,
            "expected [experts, rows, columns] with \(c.mixtureOfExperts?.expertCount ?? 0) experts, "
              + "found \(entry.tensor.shape)", tensor: name)
        }
        for e in 0..<count {
          let hf = layer + (mixtral ? "block_sparse_moe.experts.\(e).\(x.mixtral)" : "mlp.experts.\(e).\(x.qwen)")
          try table.append(hf + ".weight", LazyTensorViews.slice(entry.tensor, index: e))
        }
        continue
      }
      let candidates = GGUFTensorNames.layer.filter { $0.gguf == rest }
      // ffn_gate_inp is Mixtral's block_sparse_moe.gate and the Qwen MoE models' mlp.gate.
      let router = mixtral ? "mlp.gate." : "block_sparse_moe."
      guard let m = candidates.first(where: { !$0.hf.hasPrefix(router) }) else {
        throw GraftError(.invalidModel, "has no transformers name", tensor: name)
      }
      var tensor = entry.tensor
      if arch.permutesQueryKey && (rest.hasPrefix("attn_q.") || rest.hasPrefix("attn_k.")) {
        let heads = rest.hasPrefix("attn_q.") ? c.attentionHeads : c.keyValueHeads
        tensor = try LazyTensorViews.permutedHeads(tensor, heads: heads, toGGUF: false, name: name)
      }
      if rest == "ffn_gate_inp_shexp.weight" {
        // GGUF stores the [1, H] gate as ne {H} or {H, 1}.
        tensor.shape = [1, c.hiddenSize]
      }
      try table.append(layer + m.hf, tensor)
    }
    return table
  }

  /// How to convert GGUF to a Hugging Face folder.
  public struct ReverseOptions: Sendable {
    /// The dtype of the written weights.
    ///
    /// Required when the GGUF holds quantized tensors (safetensors cannot store
    /// blocks); `nil` keeps F32/F16/BF16 tensors as they are.
    public var dtype: DType?
    /// The largest safetensors shard.
    public var shardSize = 5_000_000_000
    /// Receives bytes written.
    public var progress: ProgressCounter?
    /// Creates default options.
    public init() {}
  }

  /// Converts a GGUF model into a Hugging Face folder that transformers loads: safetensors weights (dequantized to
  /// ``ReverseOptions/dtype``), config.json, and the tokenizer as far as GGUF keeps it (``tokenizerFiles(_:)``).
  ///
  /// - Throws: `unsupportedDType` resolved by `dtype` for quantized tensors without a dtype; any error of
  ///   ``huggingFaceView(path:)`` and ``HuggingFaceFolder/write(_:config:to:options:)``.
  public static func toHuggingFace(
    gguf path: String, to output: String, options: ReverseOptions = ReverseOptions()
  ) throws -> Report {
    var view = try huggingFaceView(path: path)
    let census = Dequantization.census(view.gguf)
    var table = view.table
    if let dtype = options.dtype {
      if let note = try Dequantization.apply(&table, to: dtype, census: census) { view.notes.append(note) }
      try Dequantization.cast(&table, to: dtype)
      view.config["dtype"] = .string(Dequantization.torchName(dtype))
    } else if !census.isEmpty {
      throw Dequantization.refusal(census, writer: "a Hugging Face folder (safetensors)", file: path)
    }
    let tokenizer = try tokenizerFiles(view.gguf)
    view.notes += tokenizer.notes
    var write = HuggingFaceFolder.WriteOptions()
    write.shardSize = options.shardSize
    write.inputs = [path]
    write.progress = options.progress
    write.extraFiles = tokenizer.files
    var summary = try HuggingFaceFolder.write(table, config: view.config, to: output, options: write)
    summary.notes = view.notes + summary.notes
    return Report(
      architecture: view.architecture, family: view.configuration.family, tensorsIn: view.gguf.count,
      tensorsOut: table.count, tokenizer: tokenizer.description, summary: summary)
  }
}
