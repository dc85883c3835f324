import TestSupport
import Testing

@testable import Graft

/// Model folders for the Hugging Face ↔ GGUF tests: a fixture's config and weights plus a committed tokenizer.
enum GGUFModels {
  /// The Fixtures/llm models llama.cpp's architectures represent, and the all-sparse MoE fixtures of gguf-llm.
  static let convertible = [
    "llama", "llama_bf16", "llama_linear_tied", "llama_llama3", "llama_dynamic", "mistral", "qwen2", "qwen3", "mixtral",
    "gguf-llm/qwen2_moe_sparse", "gguf-llm/qwen3_moe_sparse",
  ]

  /// The fixture folder of a model name (`llama` → Fixtures/llm/llama; `gguf-llm/x` → Fixtures/gguf-llm/x).
  static func source(_ name: String) -> String {
    TestPaths.fixture(name.hasPrefix("gguf-llm/") ? name : "llm/" + name)
  }

  /// A scratch model folder: the fixture's config.json and weights, and the `spm` or `bpe` tokenizer fixture.
  static func folder(_ name: String, tokenizer: String? = "spm") throws -> String {
    let out = try TestPaths.scratchFolder("gguf-model")
    let from = source(name)
    for file in try FileSystem.contents(of: from)
    where file == "config.json" || (file.hasPrefix("model") && file != "io.safetensors") {
      try FileSystem.writeAll(FileSystem.readAll(from + "/" + file), to: out + "/" + file)
    }
    if let tokenizer {
      let t = TestPaths.fixture("gguf-llm/tokenizer-\(tokenizer)")
      for file in try FileSystem.contents(of: t) {
        try FileSystem.writeAll(FileSystem.readAll(t + "/" + file), to: out + "/" + file)
      }
    }
    return out
  }

  /// Converts a fixture to GGUF in a scratch folder; returns the file.
  static func convert(
    _ name: String, target: GGUF.Target? = .type(.f32), tokenizer: String = "spm"
  ) throws -> (path: String, report: GGUFConversion.Report) {
    let folder = try folder(name, tokenizer: tokenizer)
    var options = GGUFConversion.Options()
    options.target = target
    let path = folder + "/model.gguf"
    let report = try GGUFConversion.fromHuggingFace(folder: folder, to: path, options: options)
    return (path, report)
  }

  /// llama.cpp's value types for the keys the converter writes (`llama-model-loader.cpp` rejects any other type).
  static func expectedType(_ key: String) -> GGUFValueType? {
    let exact: [String: GGUFValueType] = [
      "general.architecture": .string, "general.type": .string, "general.name": .string,
      "general.size_label": .string, "general.file_type": .uint32, "general.quantization_version": .uint32,
      "tokenizer.ggml.model": .string, "tokenizer.ggml.pre": .string, "tokenizer.ggml.tokens": .array,
      "tokenizer.ggml.token_type": .array, "tokenizer.ggml.scores": .array, "tokenizer.ggml.merges": .array,
      "tokenizer.chat_template": .string, "tokenizer.ggml.add_space_prefix": .bool,
    ]
    if let t = exact[key] { return t }
    if key.hasPrefix("tokenizer.ggml.add_") { return .bool }
    if key.hasPrefix("tokenizer.ggml.") && key.hasSuffix("_token_id") { return .uint32 }
    let floats = [
      "attention.layer_norm_rms_epsilon", "rope.freq_base", "rope.scaling.factor", "rope.scaling.yarn_beta_fast",
      "rope.scaling.yarn_beta_slow", "rope.scaling.yarn_attn_factor",
    ]
    if floats.contains(where: { key.hasSuffix("." + $0) }) { return .float32 }
    if key.hasSuffix(".rope.scaling.type") { return .string }
    let counts = [
      "context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
      "attention.head_count_kv", "attention.key_length", "attention.value_length", "vocab_size",
      "rope.dimension_count", "expert_count", "expert_used_count", "expert_feed_forward_length",
      "expert_shared_feed_forward_length", "rope.scaling.original_context_length",
    ]
    if counts.contains(where: { key.hasSuffix("." + $0) }) { return .uint32 }
    return nil
  }

  /// Every tensor's dtype, shape and bytes by name.
  static func contents(_ table: TensorTable) throws -> [String: (DType, [Int], [UInt8])] {
    var out: [String: (DType, [Int], [UInt8])] = [:]
    for e in table.entries { out[e.name] = (e.tensor.dtype, e.tensor.shape, try e.tensor.readAllBytes()) }
    return out
  }

  /// Σ(a − b)² / Σ b².
  static func nmse(_ a: [Float], _ b: [Float]) -> Double {
    var num = 0.0
    var den = 0.0
    for (x, y) in zip(a, b) {
      num += Double(x - y) * Double(x - y)
      den += Double(y) * Double(y)
    }
    return num / max(den, .leastNormalMagnitude)
  }
}
