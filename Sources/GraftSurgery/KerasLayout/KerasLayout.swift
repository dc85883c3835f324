public import GraftCore

/// Converts weight names and layouts between Keras and PyTorch conventions for common layers.
///
/// A pure pass over tensor tables, so a Keras checkpoint can become a PyTorch-named safetensors file and back:
///
/// | Keras | PyTorch | layout |
/// |---|---|---|
/// | `Dense` `kernel` `[in, out]`, `bias` | `Linear` `weight` `[out, in]`, `bias` | transposed |
/// | `Conv2D` `kernel` HWIO, `bias` | `Conv2d` `weight` OIHW, `bias` | permuted |
/// | `Conv1D` `kernel` `[k, in, out]` | `Conv1d` `weight` `[out, in, k]` | permuted |
/// | `BatchNormalization` `gamma`, `beta`, `moving_mean`, `moving_variance` | `BatchNorm` `weight`, `bias`, `running_mean`, `running_var` (+ `num_batches_tracked` = 0) | same |
/// | `LayerNormalization` `gamma`, `beta` | `LayerNorm` `weight`, `bias` | same |
/// | `Embedding` `embeddings` | `Embedding` `weight` | same |
///
/// Keras names are either Keras 2 style (`dense.kernel`, what ``toKeras(_:)`` produces and the HDF5 reader gives
/// for Keras 2 files) or Keras 3 `.weights.h5` paths (`layers.dense.vars.0`), whose variables are identified by
/// position and by the layer's name or the shapes. Tensors that match no rule (optimizer variables, custom layers)
/// pass through unchanged. Transposed tensors are computed lazily (``ProducedBytes``).
///
/// Going back, PyTorch layers are recognised from their variables: running statistics mean BatchNorm, a rank-4
/// weight Conv2d, a rank-3 weight Conv1d, a rank-2 weight Linear unless the layer's name contains `embed`, and a
/// rank-1 weight with a bias LayerNorm.
public enum KerasLayout {
  /// A naming and layout convention to convert a table to.
  public enum Convention: String, Sendable, CaseIterable {
    /// PyTorch names and layouts (``toPyTorch(_:)``).
    case pytorch
    /// Keras 2 style names and Keras layouts (``toKeras(_:)``).
    case keras
  }

  /// Converts a table to `convention`: ``toPyTorch(_:)`` or ``toKeras(_:)``.
  public static func convert(_ table: TensorTable, to convention: Convention) throws -> TensorTable {
    switch convention {
    case .pytorch: return try toPyTorch(table)
    case .keras: return try toKeras(table)
    }
  }

  /// Renames and transposes Keras weights to PyTorch's names and layouts.
  ///
  /// - Throws: ``GraftError`` when two tensors map to one name or a kernel has a sub-byte dtype.
  public static func toPyTorch(_ table: TensorTable) throws -> TensorTable {
    var output = TensorTable()
    output.metadata = table.metadata
    output.lineage = table.lineage + [LineageRecord(operation: "keras-layout.to-pytorch", tool: "graft")]
    for layer in layers(of: table, keras: true) {
      let variables = kerasVariableNames(layer)
      let isBatchNorm = variables.contains("moving_mean")
      for (variable, entry) in zip(variables, layer.entries) {
        let tensor = entry.tensor
        let base = layer.path.joined(separator: ".")
        switch (variable, tensor.shape.count) {
        case ("kernel", 2): try output.append(base + ".weight", try permuted(tensor, [1, 0], name: entry.name))
        case ("kernel", 3): try output.append(base + ".weight", try permuted(tensor, [2, 1, 0], name: entry.name))
        case ("kernel", 4): try output.append(base + ".weight", try permuted(tensor, [3, 2, 0, 1], name: entry.name))
        case ("bias", _), ("beta", _): try output.append(base + ".bias", tensor)
        case ("gamma", _), ("embeddings", _): try output.append(base + ".weight", tensor)
        case ("moving_mean", _): try output.append(base + ".running_mean", tensor)
        case ("moving_variance", _):
          try output.append(base + ".running_var", tensor)
          if isBatchNorm {
            try output.append(
              base + ".num_batches_tracked", Tensor(dtype: .int64, shape: [], copying: [0, 0, 0, 0, 0, 0, 0, 0]))
          }
        default: try output.append(entry.name, tensor)
        }
      }
    }
    return output
  }

  /// Renames and transposes PyTorch weights to Keras 2 style names (`dense.kernel`) and Keras layouts.
  ///
  /// - Throws: ``GraftError`` when two tensors map to one name or a weight has a sub-byte dtype.
  public static func toKeras(_ table: TensorTable) throws -> TensorTable {
    var output = TensorTable()
    output.metadata = table.metadata
    output.lineage = table.lineage + [LineageRecord(operation: "keras-layout.to-keras", tool: "graft")]
    for layer in layers(of: table, keras: false) {
      let byName = Dictionary(layer.entries.map { ($0.name.split(separator: ".").last.map(String.init) ?? "", $0) }) {
        first, _ in first
      }
      let base = layer.path.joined(separator: ".")
      let weight = byName["weight"]?.tensor
      let rank = weight?.shape.count ?? -1
      let isBatchNorm = byName["running_mean"] != nil && byName["running_var"] != nil
      let isEmbedding = rank == 2 && byName["bias"] == nil && (layer.path.last?.lowercased().contains("embed") ?? false)
      let isLayerNorm = rank == 1 && byName["bias"]?.tensor.shape.count == 1 && !isBatchNorm
      var handled = Set<String>()
      func emit(_ torch: String, _ keras: String, permutation: [Int]? = nil) throws {
        guard let entry = byName[torch] else { return }
        let tensor = try permutation.map { try permuted(entry.tensor, $0, name: entry.name) } ?? entry.tensor
        try output.append(base + "." + keras, tensor)
        handled.insert(entry.name)
      }
      if isBatchNorm {
        try emit("weight", "gamma")
        try emit("bias", "beta")
        try emit("running_mean", "moving_mean")
        try emit("running_var", "moving_variance")
        if let tracked = byName["num_batches_tracked"] { handled.insert(tracked.name) }
      } else if isEmbedding {
        try emit("weight", "embeddings")
      } else if isLayerNorm {
        try emit("weight", "gamma")
        try emit("bias", "beta")
      } else if rank >= 2 && rank <= 4 {
        try emit("weight", "kernel", permutation: [[1, 0], [2, 1, 0], [2, 3, 1, 0]][rank - 2])
        try emit("bias", "bias")
      }
      for entry in layer.entries where !handled.contains(entry.name) { try output.append(entry.name, entry.tensor) }
    }
    return output
  }

  // MARK: - Grouping

  /// The variables of one layer, in table order.
  struct Layer {
    /// The layer's name components (`["dense"]`, or `["functional", "conv2d"]` for a nested Keras 3 layer).
    var path: [String]
    var entries: [TensorTable.Entry]
    /// The variable names (Keras 2 style) or indices (Keras 3), one per entry.
    var variables: [String]
    var isKeras3: Bool
  }

  /// Groups entries by layer, keeping first-appearance order.
  ///
  /// Keras 3 paths drop their `layers` and `vars` parts;
  /// Keras 3 optimizer variables form their own pass-through group.
  static func layers(of table: TensorTable, keras: Bool) -> [Layer] {
    var order: [[String]] = []
    var groups: [[String]: Layer] = [:]
    for entry in table.entries {
      var parts = entry.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
      let variable = parts.removeLast()
      var isKeras3 = false
      if keras, parts.last == "vars", variable.allSatisfy(\.isNumber), parts.first != "optimizer" {
        parts.removeLast()
        parts = parts.enumerated().filter { $0.offset % 2 == 1 || $0.element != "layers" }.map(\.element)
        isKeras3 = true
      }
      let key = (isKeras3 ? ["#keras3"] : []) + (parts.first == "optimizer" ? ["#optimizer"] : []) + parts
      if groups[key] == nil {
        order.append(key)
        groups[key] = Layer(path: parts, entries: [], variables: [], isKeras3: isKeras3)
      }
      groups[key]?.entries.append(entry)
      groups[key]?.variables.append(variable)
    }
    return order.compactMap { groups[$0] }
  }

  /// Keras variable names for a layer: given for Keras 2 names, inferred for Keras 3 indices from the layer's name
  /// (`dense_3` is a Dense) or, failing that, from the number and ranks of its variables.
  static func kerasVariableNames(_ layer: Layer) -> [String] {
    guard layer.isKeras3 else { return layer.variables }
    let ranks = layer.entries.map(\.tensor.shape.count)
    var kind = (layer.path.last ?? "").lowercased()
    while let last = kind.last, last.isNumber || last == "_" { kind.removeLast() }
    let byKind: [String: [String]] = [
      "dense": ["kernel", "bias"], "conv1d": ["kernel", "bias"], "conv2d": ["kernel", "bias"],
      "batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"],
      "layer_normalization": ["gamma", "beta"], "embedding": ["embeddings"],
    ]
    var names: [String]?
    if let known = byKind[kind], ranks.count <= known.count {
      names = Array(known.prefix(ranks.count))
    } else if ranks.count == 4 && ranks.allSatisfy({ $0 == 1 }) {
      names = byKind["batch_normalization"]
    } else if ranks.count == 2 && ranks == [1, 1] {
      names = byKind["layer_normalization"]
    } else if (ranks.count == 1 || ranks.count == 2) && (2...4).contains(ranks[0])
      && ranks.dropFirst().allSatisfy({ $0 == 1 })
    {
      names = Array(["kernel", "bias"].prefix(ranks.count))
    }
    // Indices must be 0, 1, … in order for positional names to apply; anything else passes through.
    guard let names, layer.variables == (0..<layer.variables.count).map(String.init) else {
      return layer.entries.map { "#" + $0.name }
    }
    return names
  }

  // MARK: - Permutation

  /// A lazily permuted copy: output dimension `d` is input dimension `permutation[d]`.
  static func permuted(_ tensor: Tensor, _ permutation: [Int], name: String) throws(GraftError) -> Tensor {
    guard let size = tensor.dtype.byteWidth else {
      throw GraftError(
        .unsupportedDType, "cannot transpose \(tensor.dtype), whose elements are not whole bytes", tensor: name)
    }
    let inShape = tensor.shape
    let outShape = permutation.map { inShape[$0] }
    var inStrides = [Int](repeating: 1, count: inShape.count)
    for d in stride(from: inShape.count - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * inShape[d + 1] }
    let sourceStrides = permutation.map { inStrides[$0] }
    let source = PermutationSource(tensor)
    let bytes = ProducedBytes(byteCount: tensor.byteCount) { range, buffer in
      try source.withBytes { src in
        var element = range.lowerBound / size
        var index = RowMajorIndex(shape: outShape, element: element)
        while element * size < range.upperBound {
          let offset = index.offset(strides: sourceStrides)
          let lo = max(element * size, range.lowerBound)
          let hi = min(element * size + size, range.upperBound)
          for b in lo..<hi { buffer[b - range.lowerBound] = src[offset * size + (b - element * size)] }
          element += 1
          index.advance()
        }
      }
    }
    return Tensor(dtype: tensor.dtype, shape: outShape, bytes: bytes)
  }
}
