public import GraftCore

/// A checkpoint file format Graft reads or writes.
public enum CheckpointFormat: String, Sendable, CaseIterable, Hashable {
  /// A single safetensors file.
  case safetensors
  /// A Hugging Face sharded safetensors checkpoint: shards plus `model.safetensors.index.json`.
  case safetensorsSharded = "safetensors-sharded"
  /// Graft's native format (`Formats/graft.md`).
  case graft
  /// A PyTorch `torch.save` file: zip (torch ≥ 1.6), legacy raw pickle stream or legacy tar.
  case pytorch
  /// A single NumPy array (`.npy`).
  case npy
  /// A zip of NumPy arrays (`.npz`).
  case npz
  /// HDF5: h5py dictionaries, Keras 2 `.h5`, Keras 3 `.weights.h5`.
  case hdf5
  /// GGUF (llama.cpp), one file or `-0000K-of-0000N.gguf` splits (`Formats/gguf.md`).
  case gguf

  /// The usual file extension.
  public var fileExtension: String {
    switch self {
    case .safetensors: return "safetensors"
    case .safetensorsSharded: return "safetensors"
    case .graft: return "graft"
    case .pytorch: return "pth"
    case .npy: return "npy"
    case .npz: return "npz"
    case .hdf5: return "h5"
    case .gguf: return "gguf"
    }
  }

  /// A human-readable name.
  public var displayName: String {
    switch self {
    case .safetensors: return "safetensors"
    case .safetensorsSharded: return "sharded safetensors"
    case .graft: return "Graft native (.graft)"
    case .pytorch: return "PyTorch"
    case .npy: return "NumPy .npy"
    case .npz: return "NumPy .npz"
    case .hdf5: return "HDF5"
    case .gguf: return "GGUF"
    }
  }

  /// The format an output path asks for by its extension, or `nil` when the extension says nothing.
  public static func forOutputPath(_ path: String) -> CheckpointFormat? {
    let lower = path.lowercased()
    if lower.hasSuffix("/") { return .safetensorsSharded }
    let table: [(String, CheckpointFormat)] = [
      (".safetensors", .safetensors), (".graft", .graft), (".pth", .pytorch), (".pt", .pytorch), (".bin", .pytorch),
      (".ckpt", .pytorch), (".npy", .npy), (".npz", .npz), (".h5", .hdf5), (".hdf5", .hdf5), (".keras", .hdf5),
      (".gguf", .gguf),
    ]
    for (suffix, format) in table where lower.hasSuffix(suffix) { return format }
    return nil
  }

  /// Parses a `--to` argument (`safetensors`, `st`, `graft`, `pth`, `pt`, `torch`, `npy`, `npz`, `h5`, `hdf5`, `sharded`,
  /// `gguf`).
  public init?(argument: String) {
    switch argument.lowercased() {
    case "safetensors", "st": self = .safetensors
    case "sharded", "safetensors-sharded", "hf": self = .safetensorsSharded
    case "graft": self = .graft
    case "pth", "pt", "torch", "pytorch", "bin": self = .pytorch
    case "npy": self = .npy
    case "npz": self = .npz
    case "h5", "hdf5", "keras": self = .hdf5
    case "gguf": self = .gguf
    default: return nil
    }
  }
}
