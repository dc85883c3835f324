public import GraftCore

extension GGUF {
  /// llama-quantize's tensor categories (`tensor_get_category`), tested in its order.
  enum Category {
    case output, tokenEmbedding, attentionQKV, attentionKVB, attentionV, attentionK, attentionQ, attentionOutput
    case ffnUp, ffnGate, ffnDown, other

    init(_ name: String) {
      if name == "output.weight" {
        self = .output
      } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        self = .tokenEmbedding
      } else {
        let rules: [(String, Category)] = [
          ("attn_qkv.weight", .attentionQKV), ("attn_kv_b.weight", .attentionKVB), ("attn_v.weight", .attentionV),
          ("attn_k.weight", .attentionK), ("attn_q.weight", .attentionQ), ("attn_output.weight", .attentionOutput),
          ("ffn_up", .ffnUp), ("ffn_gate", .ffnGate), ("ffn_down", .ffnDown),
        ]
        self = rules.first { name.contains($0.0) }?.1 ?? .other
      }
    }

    /// `category_is_attn_v`.
    var isAttentionV: Bool { self == .attentionV || self == .attentionQKV || self == .attentionKVB }
  }

  /// The counters llama-quantize keeps while it walks the tensors (`quantize_state_impl`).
  struct MixState {
    let facts: ModelFacts
    let attentionVCount: Int
    let tiedEmbeddings: Bool
    var attentionV = 0
    var ffnDown = 0
    var ffnGate = 0
    var ffnUp = 0

    init(facts: ModelFacts, names: [String]) {
      self.facts = facts
      attentionVCount = names.filter { Category($0).isAttentionV }.count
      tiedEmbeddings = !names.contains { Category($0) == .output }
    }

    /// `use_more_bits`: the first and last eighth of the layers, and every third one between.
    static func useMoreBits(_ i: Int, _ n: Int) -> Bool { i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2 }

    /// `layer_info`: the layer of an FFN tensor: its position among such tensors, or for MoE models (more than one
    /// expert) the number in its `blk.N.` name.
    func layer(_ counter: Int, _ name: String) throws(GraftError) -> (Int, Int) {
      let n = facts.blockCount
      guard facts.expertCount > 1 else { return (counter, n) }
      guard name.hasPrefix("blk."), let i = Int(name.dropFirst(4).prefix { $0.isNumber || $0 == "-" }) else {
        throw GraftError(.invalidArgument, "Q4_K_M: cannot determine the layer of this MoE tensor", tensor: name)
      }
      guard i >= 0 && i < n else {
        throw GraftError(.invalidArgument, "Q4_K_M: layer \(i) is outside 0..<\(n) (block_count)", tensor: name)
      }
      return (i, n)
    }

    /// `llama_tensor_get_type_impl` for `LLAMA_FTYPE_MOSTLY_Q4_K_M`.
    mutating func q4KM(_ name: String, rowLength: Int) throws(GraftError) -> GGMLType {
      let falcon = facts.architecture == "falcon"
      let category = Category(name)
      var type = GGMLType.q4_K
      if category == .output || (tiedEmbeddings && category == .tokenEmbedding) {
        type = falcon || rowLength % 256 != 0 ? .q8_0 : .q6_K
      } else if category == .tokenEmbedding {
        // The default type.
      } else if category.isAttentionV {
        if Self.useMoreBits(attentionV, attentionVCount) { type = .q6_K }
        if facts.is70B && (type == .q3_K || type == .q4_K) { type = .q5_K }
        if facts.expertCount == 8 { type = .q8_0 }
        attentionV += 1
      } else if category == .attentionK {
        if facts.expertCount == 8 { type = .q8_0 }
      } else if category == .ffnDown {
        let (i, n) = try layer(ffnDown, name)
        if falcon {
          type = i < n / 16 ? .q6_K : Self.useMoreBits(i, n) ? .q5_K : .q4_K
        } else if Self.useMoreBits(i, n) {
          type = .q6_K
        }
        ffnDown += 1
      } else if category == .attentionOutput {
        if !falcon && facts.expertCount == 8 { type = .q5_K }
      } else if category == .ffnGate {
        _ = try layer(ffnGate, name)
        ffnGate += 1
      } else if category == .ffnUp {
        _ = try layer(ffnUp, name)
        ffnUp += 1
      }
      return type
    }
  }

  /// Chooses the stored type of every tensor for `target`, with the reason whenever a rule departs from it.
  ///
  /// - Parameter facts: Required for ``Target/q4_K_M`` (see ``ModelFacts/init(metadata:)``).
  /// - Throws: `unsupportedDType` for a dtype GGUF cannot store under ``Target/keep``; `invalidArgument` when the
  ///   Q4_K_M rule lacks facts or cannot place an MoE tensor in a layer.
  public static func chooseTypes(
    _ tensors: [(name: String, tensor: Tensor)], target: Target, facts: ModelFacts? = nil
  ) throws(GraftError) -> [TypeChoice] {
    var state: MixState?
    if target == .q4_K_M {
      guard let facts else { throw GraftError(.invalidArgument, "the Q4_K_M mix needs the model's facts") }
      state = MixState(facts: facts, names: tensors.map(\.name))
    }
    var choices: [TypeChoice] = []
    for (name, tensor) in tensors {
      let shape = tensor.shape
      let row = shape.last ?? 1
      func choose(_ type: GGMLType, _ reason: String?) {
        choices.append(TypeChoice(name: name, type: type, reason: reason))
      }
      if let code = tensor.quantization?.format.code, target == .keep {
        guard let type = GGMLType(rawValue: UInt32(code)) else {
          throw GraftError(.unsupportedDType, "blocks of scheme \(code) are not a ggml type", tensor: name)
        }
        choose(type, nil)
        continue
      }
      let plain = tensor.isQuantized ? nil : GGMLType(plain: tensor.dtype)
      if target == .keep || (!tensor.isQuantized && !tensor.dtype.isFloatingPoint) {
        guard let plain else {
          throw GraftError(
            .unsupportedDType,
            "GGUF stores F32, F16, BF16, F64, I8, I16, I32, I64 and ggml blocks, not \(tensor.dtype); cast it first",
            tensor: name)
        }
        choose(plain, target == .keep ? nil : "\(tensor.dtype) tensors keep their type")
        continue
      }
      let f32Reason = convertKeepsF32(name, shape: shape)
      switch target {
      case .keep: break
      case .type(let t) where !t.isQuantized || t == .q8_0:
        if let f32Reason, t != .f32 {
          choose(.f32, f32Reason)
        } else if row % t.blockElements != 0 {
          choose(.f16, "rows of \(row) are not whole \(t.name) blocks; F16 as convert_hf_to_gguf falls back")
        } else {
          choose(t, nil)
        }
      case .type(let t):
        if let refusal = quantizeRefusal(name, shape: shape) {
          choose(f32Reason == nil ? .f16 : .f32, (f32Reason ?? refusal))
        } else {
          let stored = row % t.blockElements == 0 ? t : fallback(t, rowLength: row)
          choose(stored, stored == t ? nil : "rows of \(row) are not whole \(t.name) blocks; llama-quantize falls back")
        }
      case .q4_K_M:
        if let refusal = quantizeRefusal(name, shape: shape) {
          choose(f32Reason == nil ? .f16 : .f32, f32Reason ?? refusal)
          continue
        }
        guard var s = state else { continue }
        let mixed = try s.q4KM(name, rowLength: row)
        state = s
        let stored = row % mixed.blockElements == 0 ? mixed : fallback(mixed, rowLength: row)
        let reason =
          stored != mixed
          ? "Q4_K_M picks \(mixed.name) but rows of \(row) are not whole blocks; llama-quantize falls back"
          : (stored == .q4_K ? nil : "Q4_K_M picks \(stored.name) for this tensor")
        choose(stored, reason)
      }
    }
    return choices
  }
}
