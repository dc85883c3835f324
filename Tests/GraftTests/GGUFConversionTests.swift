import TestSupport
import Testing

@testable import Graft

@Suite("Hugging Face ↔ GGUF: names, key-values, permutation, round trips")
struct GGUFConversionTests {
  @Test(
    "HF → GGUF: llama.cpp's tensor set and shapes, every key with llama.cpp's type", arguments: GGUFModels.convertible)
  func namesAndKeys(_ name: String) throws {
    let (path, report) = try GGUFModels.convert(name)
    let file = try GGUFFile.open(path: path)
    let hf = try HuggingFaceFolder.open(GGUFModels.source(name))
    let c = try hf.llmConfiguration()
    let arch = GGUFArchitecture(family: c.family)
    #expect(file.architecture == arch.rawValue && report.architecture == arch)
    for kv in file.keyValues {
      let expected = try #require(GGUFModels.expectedType(kv.key), "unexpected key \(kv.key)")
      #expect(kv.value.type == expected, "\(kv.key) is \(kv.value.type)")
    }
    let a = arch.rawValue
    for key in ["context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count"] {
      #expect(file.value(forKey: "\(a).\(key)")?.type == .uint32, "\(key)")
    }
    #expect(file.value(forKey: "\(a).attention.layer_norm_rms_epsilon") == .float32(1e-5))
    #expect(file.value(forKey: "\(a).block_count") == .uint32(UInt32(c.layerCount)))
    #expect(file.value(forKey: "\(a).attention.head_count_kv") == .uint32(UInt32(c.keyValueHeads)))
    #expect(file.value(forKey: "\(a).rope.freq_base") == .float32(Float(c.rope.theta)))
    if let moe = c.mixtureOfExperts {
      #expect(file.value(forKey: "\(a).expert_count") == .uint32(UInt32(moe.expertCount)))
      #expect(file.value(forKey: "\(a).expert_used_count") == .uint32(UInt32(moe.topK)))
    }
    if c.headDim * c.attentionHeads != c.hiddenSize {
      #expect(file.value(forKey: "\(a).attention.key_length") == .uint32(UInt32(c.headDim)))
    }
    #expect(file.value(forKey: "general.file_type") == .uint32(0))
    // Exactly the tensors llama.cpp's loader creates, with ggml's reversed dimensions.
    #expect(Set(file.tensors.map(\.name)) == GGUFConversion.expectedTensors(c, architecture: arch))
    let embedding = try #require(file.tensorInfo(named: "token_embd.weight"))
    #expect(embedding.dimensions == [c.hiddenSize, c.vocabularySize] && embedding.type == .f32)
    for info in file.tensors where info.dimensions.count == 1 { #expect(info.type == .f32, "\(info.name)") }
    if c.mixtureOfExperts != nil {
      let gate = try #require(file.tensorInfo(named: "blk.0.ffn_gate_exps.weight"))
      let moe = try #require(c.mixtureOfExperts)
      #expect(gate.dimensions == [c.hiddenSize, moe.expertIntermediateSize, moe.expertCount])
    }
  }

  @Test(
    "GGUF → HF: the tensors (Q/K un-permuted, experts unstacked) and the configuration equal the original's",
    arguments: GGUFModels.convertible)
  func roundTrip(_ name: String) throws {
    // bf16 weights stay BF16 without a target, so every model round-trips bit for bit.
    let (path, _) = try GGUFModels.convert(name, target: nil)
    let view = try GGUFConversion.huggingFaceView(path: path)
    let hf = try HuggingFaceFolder.open(GGUFModels.source(name))
    var original = try GGUFModels.contents(hf.table)
    if name == "qwen2_moe" || name.hasSuffix("qwen2_moe_sparse"), hf.table["lm_head.weight"] == nil {
      original["lm_head.weight"] = original["model.embed_tokens.weight"]
    }
    let back = try GGUFModels.contents(view.table)
    #expect(Set(back.keys) == Set(original.keys))
    for (k, v) in original {
      let w = try #require(back[k], "\(k) missing")
      if v.0 == w.0 {
        #expect(v.1 == w.1 && v.2 == w.2, "\(k) differs")
      } else {
        // GGUF keeps 1-D tensors in F32 (convert_hf_to_gguf.py's rule): exact widenings of the BF16 originals.
        let widened = try #require(hf.table[k]).dequantized(to: w.0)
        let bytes = try widened.readAllBytes()
        #expect(v.1 == w.1 && bytes == w.2 && v.1.count == 1, "\(k) differs")
      }
    }
    let a = try hf.llmConfiguration()
    let b = view.configuration
    #expect(b.family == (a.family == .mistral ? .llama : a.family))
    #expect(
      [b.vocabularySize, b.hiddenSize, b.intermediateSize, b.layerCount, b.attentionHeads, b.keyValueHeads, b.headDim]
        == [
          a.vocabularySize, a.hiddenSize, a.intermediateSize, a.layerCount, a.attentionHeads, a.keyValueHeads,
          a.headDim,
        ])
    #expect(b.rmsNormEpsilon == a.rmsNormEpsilon && b.rope.theta == a.rope.theta)
    #expect(
      [b.qkvBias, b.outputBias, b.mlpBias, b.queryKeyNorm] == [a.qkvBias, a.outputBias, a.mlpBias, a.queryKeyNorm])
    #expect(b.mixtureOfExperts == a.mixtureOfExperts)
    switch (a.rope.scaling, b.rope.scaling) {
    case (.dynamic, _): #expect(b.rope.scaling == .none)  // GGUF cannot store dynamic NTK (noted on conversion)
    case (.llama3(let f, let l, let h, let o), .llama3(let f2, let l2, let h2, let o2)):
      // GGUF keeps only the per-frequency factors; the rebuilt parameters must reproduce them exactly.
      let d = a.headDim
      let theta = a.rope.theta
      #expect(
        GGUFConversion.llama3Factors(theta: theta, headDim: d, factor: f, low: l, high: h, original: o)
          == GGUFConversion.llama3Factors(theta: theta, headDim: d, factor: f2, low: l2, high: h2, original: o2))
    default: #expect(b.rope.scaling == a.rope.scaling)
    }
  }

  @Test("the Q/K permutation moves row h·D + s·D/2 + i to h·D + 2i + s, and its inverse restores every row")
  func permutation() throws {
    let heads = 3
    let d = 8
    let cols = 2
    let values = (0..<(heads * d * cols)).map(Float.init)
    let t = Tensor(float32: values, shape: [heads * d, cols])
    let p = try LazyTensorViews.permutedHeads(t, heads: heads, toGGUF: true, name: "t")
    let out = try floatValues(p)
    for h in 0..<heads {
      for i in 0..<(d / 2) {
        for s in 0..<2 {
          let gguf = h * d + 2 * i + s
          let hf = h * d + s * d / 2 + i
          #expect(out[gguf * cols] == values[hf * cols] && out[gguf * cols + 1] == values[hf * cols + 1])
        }
      }
    }
    #expect(try floatValues(LazyTensorViews.permutedHeads(p, heads: heads, toGGUF: false, name: "t")) == values)
    let bias = Tensor(float32: Array(values.prefix(heads * d)), shape: [heads * d])
    #expect(
      try floatValues(LazyTensorViews.permutedHeads(bias, heads: heads, toGGUF: true, name: "t"))
        == (0..<(heads * d)).map {
          Float(($0 / d) * d + ($0 % 2) * d / 2 + ($0 % d) / 2)
        })
    #expect(throws: GraftError.self) { _ = try LazyTensorViews.permutedHeads(bias, heads: 5, toGGUF: true, name: "t") }
  }

  @Test("GGUF → HF folder: config.json, weights and tokenizer that load back as the same model")
  func folder() throws {
    for name in ["llama", "mixtral", "gguf-llm/qwen2_moe_sparse"] {
      let (path, _) = try GGUFModels.convert(name)
      let out = try TestPaths.scratchFolder("gguf-hf") + "/model"
      let report = try GGUFConversion.toHuggingFace(gguf: path, to: out)
      let back = try HuggingFaceFolder.open(out)
      let original = try HuggingFaceFolder.open(GGUFModels.source(name))
      let x = try GGUFModels.contents(back.table)
      for (k, v) in try GGUFModels.contents(original.table) {
        let w = try #require(x[k], "\(name): \(k)")
        #expect(v.1 == w.1 && v.2 == w.2, "\(name): \(k)")
      }
      #expect(back.tokenizerFiles.sorted() == ["tokenizer.model", "tokenizer_config.json"])
      #expect(report.summary.notes.contains { $0.contains("SentencePiece BPE") })
      let spm = try SentencePieceModel.read(path: out + "/tokenizer.model")
      let source = try SentencePieceModel.read(path: TestPaths.fixture("gguf-llm/tokenizer-spm/tokenizer.model"))
      #expect(spm.pieces == source.pieces && spm.bosID == source.bosID && spm.eosID == source.eosID)
      let config = try #require(back.config["model_type"]?.stringValue)
      #expect(config == original.config["model_type"]?.stringValue)
    }
  }

  @Test("byte-level BPE: gpt2 vocabulary, qwen2 pre-tokenizer, merges, special ids; rebuilt as tokenizer.json")
  func bytePairTokenizer() throws {
    let (path, report) = try GGUFModels.convert("qwen2", tokenizer: "bpe")
    #expect(report.tokenizer.contains("pre qwen2"))
    let file = try GGUFFile.open(path: path)
    #expect(file.value(forKey: "tokenizer.ggml.model") == .string("gpt2"))
    #expect(file.value(forKey: "tokenizer.ggml.pre") == .string("qwen2"))
    let tokens = try #require(file.value(forKey: "tokenizer.ggml.tokens")?.arrayValue?.strings)
    #expect(tokens.count == 96 && tokens[0] == "!" && tokens.last == "[PAD95]")
    let merges = try #require(file.value(forKey: "tokenizer.ggml.merges")?.arrayValue?.strings)
    #expect(merges.first == "\u{0120} t" && merges.count == 40)
    let end = try #require(tokens.firstIndex(of: "<|im_end|>"))
    #expect(file.value(forKey: "tokenizer.ggml.eos_token_id") == .uint32(UInt32(end)))
    #expect(file.value(forKey: "tokenizer.ggml.padding_token_id") == .uint32(UInt32(end - 2)))
    #expect(file.value(forKey: "tokenizer.ggml.add_bos_token") == .bool(false))
    let types = try #require(file.value(forKey: "tokenizer.ggml.token_type")?.arrayValue)
    #expect(types[end] == .int32(3) && types[0] == .int32(1) && types[95] == .int32(5))
    #expect(file.value(forKey: "tokenizer.ggml.scores") == nil)
    let rebuilt = try GGUFConversion.tokenizerFiles(GGUF.read(path: path))
    #expect(rebuilt.files.map(\.name) == ["tokenizer.json", "tokenizer_config.json"])
    let json = try JSONParser.parse(String(decoding: rebuilt.files[0].bytes, as: UTF8.self))
    #expect(json["model"]?["vocab"]?["<|im_end|>"]?.intValue == end)
    #expect(json["pre_tokenizer"]?["pretokenizers"]?.arrayValue?.count == 2)
  }

  @Test("SentencePiece vocabulary: pieces, scores, types, special ids, add_bos, chat template")
  func sentencePieceTokenizer() throws {
    let (path, _) = try GGUFModels.convert("llama")
    let file = try GGUFFile.open(path: path)
    let spm = try SentencePieceModel.read(path: TestPaths.fixture("gguf-llm/tokenizer-spm/tokenizer.model"))
    #expect(file.value(forKey: "tokenizer.ggml.model") == .string("llama"))
    #expect(file.value(forKey: "tokenizer.ggml.pre") == .string("default"))
    #expect(file.value(forKey: "tokenizer.ggml.tokens")?.arrayValue?.strings == spm.pieces.map(\.piece))
    #expect(file.value(forKey: "tokenizer.ggml.scores")?.arrayValue == GGUFArray(float32: spm.pieces.map(\.score)))
    #expect(
      file.value(forKey: "tokenizer.ggml.token_type")?.arrayValue == GGUFArray(int32: spm.pieces.map(\.type.rawValue)))
    #expect(file.value(forKey: "tokenizer.ggml.bos_token_id") == .uint32(1))
    #expect(file.value(forKey: "tokenizer.ggml.eos_token_id") == .uint32(2))
    #expect(file.value(forKey: "tokenizer.ggml.add_bos_token") == .bool(true))
    #expect(file.value(forKey: "tokenizer.ggml.add_eos_token") == .bool(false))
    #expect(file.value(forKey: "tokenizer.chat_template")?.stringValue?.hasPrefix("{% for m in messages %}") == true)
  }
}
