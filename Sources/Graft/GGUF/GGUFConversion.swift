/// Hugging Face model folders ↔ GGUF for the Llama family (Llama, Mistral, Mixtral, Qwen2, Qwen3, Qwen2-MoE,
/// Qwen3-MoE), as llama.cpp's `convert_hf_to_gguf.py` lays them out, streaming: tensors are lazy views (permuted,
/// stacked, dequantized on demand) written one chunk at a time, so memory stays bounded whatever the model's size.
public enum GGUFConversion {
  /// How to convert a Hugging Face folder to GGUF.
  public struct Options: Sendable {
    /// The stored type of the weights (`Q8_0`, `Q4_K_M`, `F16`, …).
    ///
    /// Norms, biases and routers stay F32 as `convert_hf_to_gguf.py` keeps them. `nil` keeps each weight's floating-point type (F32, F16 or BF16).
    public var target: GGUF.Target?
    /// Alignment and splits.
    public var layout = GGUF.WriteOptions()
    /// `general.name`; the folder's name when `nil`.
    public var name: String?
    /// Receives bytes written.
    public var progress: ProgressCounter?
    /// Creates default options.
    public init() {}
  }

  /// What a conversion did.
  public struct Report: Sendable {
    /// The GGUF architecture.
    public var architecture: GGUFArchitecture
    /// The transformers family (for GGUF → Hugging Face, the one rebuilt).
    public var family: LLMConfiguration.Family
    /// Tensors read and written.
    public var tensorsIn: Int
    /// Tensors written.
    public var tensorsOut: Int
    /// How the tokenizer was converted.
    public var tokenizer: String
    /// What the writer produced, its notes preceded by the converter's.
    public var summary: WriteSummary
  }

  /// Converts a Hugging Face model folder into a GGUF file (or llama.cpp-style splits).
  ///
  /// - Throws: `unsupported` for a family or setting llama.cpp's architectures cannot represent (naming the
  ///   config.json key), `invalidModel` for tensors that do not match config.json, `invalidArgument` for a folder
  ///   without a tokenizer; any error of the readers and ``GGUF/write(keyValues:tensors:to:options:inputs:progress:)``.
  public static func fromHuggingFace(
    folder path: String, to output: String, options: Options = Options()
  ) throws -> Report {
    let folder = try HuggingFaceFolder.open(path)
    let configuration = try folder.llmConfiguration()
    let arch = GGUFArchitecture(family: configuration.family)
    var notes: [String] = []
    do {
      try checkRepresentable(configuration, architecture: arch, notes: &notes)
    } catch { throw error.inFile(folder.path + "/config.json").on(.input) }
    let tensors: [(name: String, tensor: Tensor)]
    do {
      tensors = try ggufTensors(folder.table, configuration: configuration, architecture: arch, notes: &notes)
    } catch { throw error.inFile(folder.path).on(.input) }
    let target = try options.target ?? sourceTarget(tensors, notes: &notes)
    let facts = GGUF.ModelFacts(
      architecture: arch.rawValue, blockCount: configuration.layerCount,
      expertCount: configuration.mixtureOfExperts?.expertCount ?? 0, headCount: configuration.attentionHeads,
      headCountKV: configuration.keyValueHeads)
    let choices = try GGUF.chooseTypes(tensors, target: target, facts: facts)
    var typeNotes: [String: Int] = [:]
    for c in choices { if let reason = c.reason { typeNotes["\(c.type.name): \(reason)", default: 0] += 1 } }
    for (note, count) in typeNotes.sorted(by: { $0.key < $1.key }) { notes.append("\(count) tensor(s) → \(note)") }

    var keyValues: [GGUFKeyValue] = [
      GGUFKeyValue("general.architecture", .string(arch.rawValue)), GGUFKeyValue("general.type", .string("model")),
      GGUFKeyValue("general.name", .string(options.name ?? lastComponent(folder.path))),
      GGUFKeyValue("general.size_label", .string(sizeLabel(tensors))),
    ]
    do {
      keyValues += try architectureKeyValues(configuration, config: folder.config, architecture: arch, notes: &notes)
    } catch { throw error.inFile(folder.path + "/config.json").on(.input) }
    if let fileType = target.fileType { keyValues.append(GGUFKeyValue("general.file_type", .uint32(fileType))) }
    keyValues.append(GGUFKeyValue("general.quantization_version", .uint32(GGUF.quantizationVersion)))
    let vocabulary: GGUFVocabulary
    do {
      vocabulary = try GGUFVocabulary.read(
        folder: folder.path, config: folder.config, vocabularySize: configuration.vocabularySize, architecture: arch,
        notes: &notes)
    } catch { throw error.side == nil ? error.on(.input) : error }
    keyValues += vocabulary.keyValues

    let plans = zip(tensors, choices).map { GGUF.TensorPlan(name: $0.name, tensor: $0.tensor, type: $1.type) }
    var summary = try GGUF.write(
      keyValues: keyValues, tensors: plans, to: output, options: options.layout,
      inputs: [folder.path] + folder.weightFiles.map { folder.path + "/" + $0 }, progress: options.progress)
    summary.notes = notes + summary.notes
    return Report(
      architecture: arch, family: configuration.family, tensorsIn: folder.table.count, tensorsOut: plans.count,
      tokenizer: vocabulary.source, summary: summary)
  }

  /// The target when none is given: the floating-point type of the weights (`convert_hf_to_gguf.py --outtype auto`
  /// picks F16 for F32 weights; Graft keeps F32).
  static func sourceTarget(
    _ tensors: [(name: String, tensor: Tensor)], notes: inout [String]
  ) throws(GraftError) -> GGUF.Target {
    let weights = tensors.filter { $0.tensor.shape.count >= 2 }
    let dtypes = Set(weights.map(\.tensor.dtype))
    guard let first = weights.first, let type = GGMLType(plain: first.tensor.dtype),
      type.plainDType?.isFloatingPoint == true,
      first.tensor.dtype != .float64
    else {
      throw GraftError(
        .unsupportedDType,
        "the weights are \(weights.first?.tensor.dtype.rawValue ?? "absent"); name the GGUF type to store them as",
        tensor: weights.first?.name
      ).resolved(by: "dtype")
    }
    if dtypes.count > 1 {
      notes.append(
        "the weights mix \(dtypes.map(\.rawValue).sorted().joined(separator: ", ")); all stored as \(type.name) "
          + "(the type of \(first.name))")
    }
    return .type(type)
  }

  /// gguf-py's `size_label`: the parameter count rounded to two significant digits with a K/M/B/T suffix, as
  /// `<experts>x<per-expert size>` for MoE models (`GGUFWriter.get_total_parameter_count`).
  static func sizeLabel(_ tensors: [(name: String, tensor: Tensor)]) -> String {
    var total = 0
    var shared = 0
    var expert = 0
    var expertSum = 0
    var expertTensors = 0
    for t in tensors {
      let size = t.tensor.elementCount
      total += size
      if t.name.contains("_exps."), t.tensor.shape.count >= 3 {
        let count = t.tensor.shape[0]
        expert += size / max(count, 1)
        expertSum += count
        expertTensors += 1
      } else {
        shared += size
      }
    }
    func rounded(_ n: Int) -> String {
      let x = Double(n)
      let (scaled, suffix) =
        x > 1e12 ? (x * 1e-12, "T") : x > 1e9 ? (x * 1e-9, "B") : x > 1e6 ? (x * 1e-6, "M") : (x * 1e-3, "K")
      let integer = String(Int(scaled.rounded(.toNearestOrEven)))
      let digits = max(2 - (integer == "0" ? 0 : integer.count), 0)
      return Format.fixed(scaled, digits: digits) + suffix
    }
    return expertTensors > 0 ? "\(expertSum / expertTensors)x" + rounded(shared + expert) : rounded(total)
  }

  static func lastComponent(_ path: String) -> String {
    let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
    return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
  }
}
