public import GraftCore

/// A storage named by a persistent id: bytes in `data/<key>` (zip) or a legacy stream record.
public final class TorchStorageRef: PickleExternal {
  /// The storage key (`"0"`, `"1"`, … in zip files; arbitrary strings in legacy files).
  public let key: String
  /// The element type of a typed storage; `uint8` for `UntypedStorage`.
  public let dtype: DType
  /// The element count (bytes for untyped storages).
  public let count: Int
  /// For legacy view storages, the offset of the view in the root storage, in elements.
  public let elementOffset: Int
  /// Whether the storage was an `UntypedStorage` (the tensor's dtype then comes from `_rebuild_tensor_v3`).
  public let isUntyped: Bool

  init(key: String, dtype: DType, count: Int, elementOffset: Int = 0, isUntyped: Bool) {
    self.key = key
    self.dtype = dtype
    self.count = count
    self.elementOffset = elementOffset
    self.isUntyped = isUntyped
  }

  /// The storage's size in bytes.
  public var byteCount: Int? { dtype.byteCount(elements: count) }
  /// `storage 0 F32[6]`.
  public var summary: String { "storage \(key) \(dtype)[\(count)]" }
}

/// A tensor view of a storage, as `_rebuild_tensor_v2/_v3` describe it.
public final class TorchTensorRef: PickleExternal {
  /// The storage the view reads.
  public let storage: TorchStorageRef
  /// The element type.
  public let dtype: DType
  /// The offset of the first element in the storage, in elements.
  public let storageOffset: Int
  /// The sizes.
  public let shape: [Int]
  /// The strides, in elements.
  public let strides: [Int]
  /// Where in the pickle the tensor was rebuilt, for error messages.
  public let pickleOffset: Int

  init(storage: TorchStorageRef, dtype: DType, storageOffset: Int, shape: [Int], strides: [Int], pickleOffset: Int) {
    self.storage = storage
    self.dtype = dtype
    self.storageOffset = storageOffset
    self.shape = shape
    self.strides = strides
    self.pickleOffset = pickleOffset
  }

  /// `tensor F32 [2, 3]`.
  public var summary: String { "tensor \(dtype) \(shape)" }
}

/// A NumPy array or scalar unpickled from `numpy.core.multiarray._reconstruct` + BUILD, or a torch dtype.
public final class NumPyArrayRef: PickleExternal {
  /// The array, once BUILD has supplied its state; `nil` before.
  public var tensor: Tensor?
  /// Whether the array was written by `numpy.core.multiarray.scalar` (a 0-d value).
  public let isScalar: Bool
  /// The NumPy dtype string (`<f4`), once known.
  public var descr: String = ""

  init(tensor: Tensor? = nil, isScalar: Bool = false, descr: String = "") {
    self.tensor = tensor
    self.isScalar = isScalar
    self.descr = descr
  }

  /// The scalar as a Python value (for metadata), when it is a scalar of a plain numeric type.
  public var scalarValue: PickleValue? {
    guard isScalar, let t = tensor, let raw = try? t.readAllBytes() else { return nil }
    func load<T: FixedWidthInteger>(_: T.Type) -> T {
      raw.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }
    switch t.dtype {
    case .float64: return .float(Double(bitPattern: load(UInt64.self)))
    case .float32: return .float(Double(Float(bitPattern: load(UInt32.self))))
    case .int64: return .int(Int(load(Int64.self)))
    case .int32: return .int(Int(load(Int32.self)))
    case .int16: return .int(Int(load(Int16.self)))
    case .int8: return .int(Int(load(Int8.self)))
    case .uint8: return .int(Int(load(UInt8.self)))
    case .uint16: return .int(Int(load(UInt16.self)))
    case .uint32: return .int(Int(load(UInt32.self)))
    case .bool: return .bool(load(UInt8.self) != 0)
    default: return nil
    }
  }

  /// `ndarray F32 [3]` or `np.float64(0.5)`.
  public var summary: String {
    guard let t = tensor else { return "ndarray (no state)" }
    if isScalar, let v = scalarValue { return "np.\(t.dtype.torchName ?? t.dtype.rawValue)(\(v.summary))" }
    return "ndarray \(t.dtype) \(t.shape)"
  }
}

/// A dtype: `torch.float32` or a `numpy.dtype` (with its byte order after BUILD).
public final class DTypeRef: PickleExternal {
  /// The Graft dtype, when there is one.
  public let dtype: DType?
  /// The NumPy type string without byte order (`f4`), or the torch name.
  public let name: String
  /// `<`, `>`, `|` or `=`, for NumPy dtypes.
  public var byteOrder: Character = "="

  init(dtype: DType?, name: String) {
    self.dtype = dtype
    self.name = name
  }

  /// `dtype float32`.
  public var summary: String { "dtype \(name)" }
}

/// The interpretation of the torch and NumPy globals that `torch.save` files use.
///
/// Tensor rebuilds, storages, dtypes, containers, `_codecs.encode` and NumPy arrays are understood; everything
/// else stays symbolic.
final class TorchInterpreter: PickleInterpreter {
  enum Flavor {
    /// `("storage", type, key, location, numel)`.
    case zip
    /// `("storage", type, root_key, location, numel, view_metadata)`.
    case legacy
  }

  let flavor: Flavor
  let file: String
  private(set) var storages: [String: TorchStorageRef] = [:]
  /// Legacy view storages share a root key; their own keys are tracked separately.
  private var views: [String: TorchStorageRef] = [:]
  /// Tensors of the tar layout, by the key its main pickle's persistent ids use.
  var tarObjects: [String: TorchTensorRef] = [:]

  init(flavor: Flavor, file: String) {
    self.flavor = flavor
    self.file = file
  }

  static let storageTypes: [String: DType] = [
    "DoubleStorage": .float64, "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
    "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8, "ByteStorage": .uint8,
    "BoolStorage": .bool, "ComplexFloatStorage": .complex64, "ComplexDoubleStorage": .complex128,
  ]

  /// The dtype of a torch dtype name, including aliases such as `float` and `long`.
  static func torchDType(_ name: String) -> DType? {
    let aliases: [String: DType] = [
      "float": .float32, "double": .float64, "half": .float16, "long": .int64, "int": .int32, "short": .int16,
      "cfloat": .complex64, "cdouble": .complex128,
    ]
    if let d = aliases[name] { return d }
    return DType.allCases.first { $0.torchName == name && $0 != .float4E2M1 }
  }

  /// Globals whose meaning the interpreter knows; they are not listed as "referenced callables".
  static func isUnderstood(_ name: String) -> Bool {
    if name.hasPrefix("torch._utils._rebuild_tensor") || name == "torch._utils._rebuild_parameter"
      || name == "torch._utils._rebuild_parameter_with_state" || name == "torch._tensor._rebuild_from_type_v2"
      || name == "torch._utils._rebuild_device_tensor_from_numpy"
    {
      return true
    }
    let plain: Set<String> = [
      "collections.OrderedDict", "torch.nn.parameter.Parameter", "_codecs.encode", "torch.Size", "torch.Tensor",
      "torch.storage.UntypedStorage", "torch.UntypedStorage", "builtins.set", "builtins.frozenset",
      "builtins.bytearray", "__builtin__.set", "torch.device", "numpy.dtype", "numpy.ndarray",
      "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
      "numpy._core.multiarray.scalar",
    ]
    if plain.contains(name) { return true }
    if let dot = name.lastIndex(of: ".") {
      let module = name[..<dot]
      let leaf = String(name[name.index(after: dot)...])
      if module == "torch" || module == "torch.cuda" {
        return storageTypes[leaf] != nil || torchDType(leaf) != nil
      }
    }
    return false
  }

  private func fail(_ message: String, at offset: Int, code: GraftError.Code = .invalidTensorInfo) -> GraftError {
    GraftError(code, message, file: file, byteOffset: offset)
  }

  private func ints(_ v: PickleValue, _ what: String, at offset: Int) throws(GraftError) -> [Int] {
    guard let items = v.sequence else {
      throw fail("\(what) must be a tuple of integers, got \(v.summary)", at: offset)
    }
    var out: [Int] = []
    out.reserveCapacity(items.count)
    for i in items {
      guard let n = i.int else { throw fail("\(what) must be a tuple of integers, got \(i.summary)", at: offset) }
      out.append(n)
    }
    return out
  }

  // MARK: - Calls

  func call(_ callable: String, args: [PickleValue], at offset: Int) throws(GraftError) -> PickleValue? {
    switch callable {
    case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
      return try rebuild(args, explicitDType: nil, at: offset)
    case "torch._utils._rebuild_tensor_v3":
      guard args.count >= 7, case .global(let module, let name) = args[6], module == "torch" else {
        throw fail("_rebuild_tensor_v3 needs a torch dtype as its 7th argument", at: offset)
      }
      guard let dtype = TorchInterpreter.torchDType(name) else {
        throw fail(
          "_rebuild_tensor_v3 uses dtype torch.\(name), which Graft does not support", at: offset,
          code: .unsupportedDType)
      }
      return try rebuild(args, explicitDType: dtype, at: offset)
    case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
      "torch.nn.parameter.Parameter":
      return args.first ?? PickleValue.none
    case "torch._tensor._rebuild_from_type_v2":
      // (func, new_type, args, state): the tensor is func(*args); the subclass type is dropped.
      guard args.count >= 3, let name = args[0].globalName, let inner = args[2].sequence else { return nil }
      return try call(name, args: inner, at: offset)
    case "torch._utils._rebuild_device_tensor_from_numpy":
      return args.first
    case "collections.OrderedDict", "builtins.dict":
      let d = PickleNode(kind: .dict, callable: callable == "builtins.dict" ? "" : "OrderedDict")
      if let first = args.first?.sequence {
        for pair in first {
          guard let kv = pair.sequence, kv.count == 2 else { continue }
          if let s = kv[0].string { d.stringKeys[s] = d.pairs.count }
          d.pairs.append((kv[0], kv[1]))
        }
      }
      return .node(d)
    case "builtins.set", "builtins.frozenset", "__builtin__.set":
      return .node(PickleNode(kind: .set, items: args.first?.sequence ?? args.first?.node?.items ?? []))
    case "builtins.bytearray":
      if case .bytes(let b)? = args.first { return .bytes(b) }
      return .bytes([])
    case "_codecs.encode":
      // Python 3 writes `bytes` at protocol 2 as encode(latin1-decoded text, 'latin1').
      guard let text = args.first?.string else { return nil }
      let encoding = args.count > 1 ? (args[1].string ?? "utf-8") : "utf-8"
      if encoding.lowercased().replacing("-", with: "") == "latin1" {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
          guard s.value < 256 else { throw fail("latin1 text holds U+\(s.value)", at: offset, code: .invalidHeader) }
          out.append(UInt8(s.value))
        }
        return .bytes(out)
      }
      return .bytes(Array(text.utf8))
    case "torch.Size":
      return .node(PickleNode(kind: .tuple, items: args.first?.sequence ?? []))
    case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
      return .external(NumPyArrayRef())
    case "numpy.dtype":
      guard let code = args.first?.string else { return nil }
      return .external(DTypeRef(dtype: NumPyDescr.dtype(code), name: code))
    case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
      guard args.count >= 2, case .external(let e) = args[0], let d = e as? DTypeRef else { return nil }
      guard case .bytes(let raw) = args[1], let dtype = d.dtype else { return nil }
      guard dtype.byteCount(elements: 1) == raw.count else {
        throw fail("numpy scalar of \(d.name) carries \(raw.count) bytes", at: offset, code: .invalidHeader)
      }
      let bytes = d.byteOrder == ">" ? NumPyDescr.swapped(raw, width: NumPyDescr.swapWidth(dtype)) : raw
      return .external(NumPyArrayRef(tensor: Tensor(dtype: dtype, shape: [], copying: bytes), isScalar: true))
    default:
      return nil
    }
  }

  private func rebuild(
    _ args: [PickleValue], explicitDType: DType?, at offset: Int
  ) throws(GraftError)
    -> PickleValue
  {
    guard args.count >= 4 else { throw fail("a tensor rebuild needs at least 4 arguments", at: offset) }
    guard case .external(let e) = args[0], let storage = e as? TorchStorageRef else {
      throw fail("a tensor rebuild's first argument must be a storage, got \(args[0].summary)", at: offset)
    }
    guard let storageOffset = args[1].int else {
      throw fail("storage offset must be an integer, got \(args[1].summary)", at: offset)
    }
    let shape = try ints(args[2], "size", at: offset)
    let strides = try ints(args[3], "stride", at: offset)
    guard shape.count == strides.count else {
      throw fail("size \(shape) and stride \(strides) have different lengths", at: offset)
    }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("negative size in \(shape)", at: offset) }
    guard strides.allSatisfy({ $0 >= 0 }) else {
      throw fail("negative stride in \(strides); torch never produces them", at: offset)
    }
    guard storageOffset >= 0 else { throw fail("negative storage offset \(storageOffset)", at: offset) }
    let dtype = explicitDType ?? storage.dtype
    if explicitDType != nil && !storage.isUntyped && storage.dtype != dtype {
      throw fail("_rebuild_tensor_v3 asks for \(dtype) over a typed \(storage.dtype) storage", at: offset)
    }
    return .external(
      TorchTensorRef(
        storage: storage, dtype: dtype, storageOffset: storageOffset + storage.elementOffset, shape: shape,
        strides: strides, pickleOffset: offset))
  }

  // MARK: - BUILD

  func build(_ target: any PickleExternal, state: PickleValue, at offset: Int) throws(GraftError) -> Bool {
    if let d = target as? DTypeRef {
      // numpy dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags).
      if let items = state.sequence, items.count > 1, let order = items[1].string?.first { d.byteOrder = order }
      return true
    }
    if let a = target as? NumPyArrayRef {
      try buildArray(a, state: state, at: offset)
      return true
    }
    // BUILD on a tensor sets attributes or backward hooks; the data is unaffected.
    return target is TorchTensorRef
  }

  private func buildArray(_ a: NumPyArrayRef, state: PickleValue, at offset: Int) throws(GraftError) {
    // ndarray state: (version, shape, dtype, is_fortran, raw bytes or list).
    guard let items = state.sequence, items.count >= 5 else {
      throw fail("numpy array state must be a 5-tuple, got \(state.summary)", at: offset, code: .invalidHeader)
    }
    let shape = try ints(items[1], "numpy shape", at: offset)
    guard case .external(let e) = items[2], let d = e as? DTypeRef else {
      throw fail("numpy array state has no dtype", at: offset, code: .invalidHeader)
    }
    guard let dtype = d.dtype else {
      throw fail("numpy arrays of dtype '\(d.name)' are not supported", at: offset, code: .unsupportedDType)
    }
    guard case .bytes(let raw) = items[4] else {
      throw fail(
        "numpy array of dtype '\(d.name)' holds Python objects, not raw data", at: offset,
        code: .unsupported)
    }
    let fortran = items[3].int == 1
    guard shape.allSatisfy({ $0 >= 0 }), let n = Checked.product(shape), let size = dtype.byteCount(elements: n),
      size == raw.count
    else {
      throw fail("numpy array of shape \(shape) and dtype \(d.name) carries \(raw.count) bytes", at: offset)
    }
    var data = d.byteOrder == ">" ? NumPyDescr.swapped(raw, width: NumPyDescr.swapWidth(dtype)) : raw
    if fortran && shape.count > 1 {
      data = NumPyDescr.fortranToC(data, shape: shape, width: dtype.byteWidth ?? 1)
    }
    a.tensor = Tensor(dtype: dtype, shape: shape, copying: data)
    a.descr = d.name
  }

  // MARK: - Persistent ids

  func persistentLoad(_ pid: PickleValue, at offset: Int) throws(GraftError) -> PickleValue {
    if !tarObjects.isEmpty, let key = pid.string ?? pid.int.map(String.init) {
      guard let t = tarObjects[key] else {
        throw fail("persistent id '\(key)' names no tensor of the tar file's 'tensors' member", at: offset)
      }
      return .external(t)
    }
    guard let items = pid.sequence, items.count >= 5, items[0].string == "storage" else {
      // ("module", cls, source_file, source) and anything else stays symbolic.
      return .node(PickleNode(kind: .object, items: pid.sequence ?? [pid], callable: "persistent_id", construction: ""))
    }
    guard let typeName = items[1].globalName else {
      throw fail("persistent id storage type must be a global, got \(items[1].summary)", at: offset)
    }
    let leaf = String(typeName.split(separator: ".").last ?? "")
    let untyped = leaf == "UntypedStorage"
    guard let dtype = untyped ? DType.uint8 : TorchInterpreter.storageTypes[leaf] else {
      throw fail(
        "storage type \(typeName) is not supported (quantized or unknown)", at: offset,
        code: .unsupportedDType)
    }
    guard let key = items[2].string ?? items[2].int.map(String.init) else {
      throw fail("storage key must be a string, got \(items[2].summary)", at: offset)
    }
    guard let count = items[4].int, count >= 0 else {
      throw fail("storage element count must be a non-negative integer, got \(items[4].summary)", at: offset)
    }
    let root: TorchStorageRef
    if let existing = storages[key] {
      guard existing.dtype == dtype else {
        throw fail("storage '\(key)' is used as both \(existing.dtype) and \(dtype)", at: offset)
      }
      root = existing
    } else {
      root = TorchStorageRef(key: key, dtype: dtype, count: count, isUntyped: untyped)
      storages[key] = root
    }
    if flavor == .legacy, items.count >= 6, let view = items[5].sequence, view.count >= 3 {
      guard let viewKey = view[0].string, let viewOffset = view[1].int, let viewSize = view[2].int,
        viewOffset >= 0, viewSize >= 0, viewOffset <= root.count, viewSize <= root.count - viewOffset
      else {
        throw fail("legacy view storage \(view.map(\.summary)) does not fit storage '\(key)'", at: offset)
      }
      if let v = views[viewKey] { return .external(v) }
      let v = TorchStorageRef(
        key: key, dtype: dtype, count: viewSize, elementOffset: viewOffset, isUntyped: untyped)
      views[viewKey] = v
      return .external(v)
    }
    return .external(root)
  }
}
