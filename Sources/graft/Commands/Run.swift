import ArgumentParser
import Graft

/// `graft run`: build a model from a checkpoint and run it on the CPU engine.
struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a checkpoint on the CPU forward engine.",
    discussion: """
      Builds the model from the checkpoint's tensors (configuration inferred from names and shapes), runs it on a
      .npy input or on a seeded random batch, prints the output's shape, a few values and the timing, and writes
      the output as .npy. The engine computes in Float32 whatever the checkpoint stores.

      Examples:
        graft run vit_s16.safetensors --model vit --random 2 --seed 0
        graft run vit.pth --model vit --input images.npy --output logits.npy --heads 6
      """)

  @Argument(help: "A checkpoint file (any format graft reads).")
  var checkpoint: String
  @Option(help: "The architecture: \(ModelArchitecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var model: String = "vit"
  @Option(help: "Input images as a float32 .npy of shape [N, C, H, W].")
  var input: String?
  @Option(help: "Run on N pseudo-random images instead of --input.")
  var random: Int?
  @Option(help: "The seed for --random.")
  var seed: UInt64 = 0
  @Option(help: "Write the output (logits, or features without a head) to this .npy file.")
  var output: String?
  @Option(help: "The number of attention heads (default: checkpoint metadata, else width / 64).")
  var heads: Int?
  @Option(name: .customLong("repeat"), help: "Timed repetitions after one warm-up run.")
  var repetitions: Int = 1

  func validate() throws {
    if input != nil && random != nil { throw ValidationError("pass either --input or --random, not both") }
    if let random, random < 1 { throw ValidationError("--random needs a positive batch size") }
    if ModelArchitecture(rawValue: model) == nil { throw ValidationError("unknown --model '\(model)'") }
    if let heads, heads < 1 { throw ValidationError("--heads must be positive") }
    if repetitions < 1 { throw ValidationError("--repeat must be positive") }
  }

  func run() throws {
    try Failure.reporting {
      let architecture = ModelArchitecture(rawValue: model) ?? .vit
      let table = try Checkpoint.read(path: checkpoint)
      let clock = ContinuousClock()
      var built: (any ForwardModel)?
      let buildTime = try clock.measure {
        built = try architecture.build(table, options: VisionTransformer.Options(heads: heads))
      }
      guard let network = built else { return }
      let images: FloatTensor
      if let input {
        images = try NpyFile.read(path: input)
      } else {
        images = ModelCheck.randomInput(shape: [random ?? 1] + network.sampleShape, seed: seed)
      }
      var result = try network.forward(images, hiddenStates: false)
      var times: [Duration] = []
      for _ in 0..<repetitions {
        var r: ForwardOutputs?
        times.append(try clock.measure { r = try network.forward(images, hiddenStates: false) })
        if let r { result = r }
      }
      let out = result.output
      print("model: \(architecture.rawValue) \(network.configurationJSON.serialized())")
      print("engine: \(EngineBuildInfo.features), \(EngineBuildInfo.defaultThreadCount) threads")
      print("input: \(images.shape)\(input == nil ? " (random, seed \(seed))" : "")")
      print("output: \(out.shape)")
      let width = out.shape.last ?? out.count
      for row in 0..<min(out.count / max(width, 1), 4) {
        let values = out.values[(row * width)..<(row * width + min(width, 6))].map { "\($0)" }
        var line = "  [\(row)] " + values.joined(separator: ", ") + (width > 6 ? ", …" : "")
        if width > 1, let best = (0..<width).max(by: { out.values[row * width + $0] < out.values[row * width + $1] }) {
          line += "  argmax \(best)"
        }
        print(line)
      }
      let sorted = times.sorted()
      let median = sorted[sorted.count / 2]
      print(
        "build: \(milliseconds(buildTime)) ms; forward: median \(milliseconds(median)) ms over \(times.count) run(s)")
      if let output {
        try NpyFile.write(out, to: output)
        print("wrote \(output)")
      }
    }
  }
}

/// Milliseconds with two decimals.
func milliseconds(_ d: Duration) -> String {
  let ms = Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
  let hundredths = Int((ms * 100).rounded())
  let frac = hundredths % 100
  return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}

/// Minimal NumPy `.npy` reading and writing for little-endian float32 (and reading float64/float16) C-order arrays.
///
/// The full NumPy support belongs in GraftFormats; this covers what `graft run` and `graft check` exchange.
enum NpyFile {
  static func read(path: String) throws -> FloatTensor {
    let bytes = try FileSystem.readAll(path)
    guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
      throw GraftError(.unrecognizedFormat, "not a .npy file (no \\x93NUMPY magic)", file: path)
    }
    let major = bytes[6]
    let headerLength: Int
    let headerStart: Int
    if major == 1 {
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      headerStart = 10
    } else {
      guard bytes.count >= 12 else { throw GraftError(.truncated, "header length missing", file: path) }
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
      headerStart = 12
    }
    guard headerStart + headerLength <= bytes.count else {
      throw GraftError(.truncated, "header of \(headerLength) bytes runs past the end", file: path)
    }
    let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
    func value(_ key: String) -> Substring? {
      let needle = Array("'\(key)':".utf8)
      let hay = Array(header.utf8)
      guard hay.count >= needle.count else { return nil }
      for start in 0...(hay.count - needle.count) where Array(hay[start..<(start + needle.count)]) == needle {
        let rest = String(decoding: hay[(start + needle.count)...], as: UTF8.self)
        return Substring(rest).drop { $0 == " " }
      }
      return nil
    }
    guard let descrField = value("descr"), let shapeField = value("shape") else {
      throw GraftError(
        .invalidHeader, "header lacks 'descr' or 'shape': \(header)", file: path, byteOffset: headerStart)
    }
    let descr = descrField.dropFirst().prefix { $0 != "'" }
    if let fortran = value("fortran_order"), fortran.hasPrefix("True") {
      throw GraftError(
        .unsupported, "Fortran-order arrays are not supported; save with np.ascontiguousarray", file: path)
    }
    let shapeText = shapeField.dropFirst().prefix { $0 != ")" }
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingPrefix(" ")) }
    let count = shape.reduce(1, *)
    let data = Array(bytes[(headerStart + headerLength)...])
    var values = [Float](repeating: 0, count: count)
    switch descr {
    case "<f4":
      guard data.count >= count * 4 else { throw GraftError(.truncated, "data ends early", file: path) }
      for i in 0..<count {
        var bits: UInt32 = 0
        for b in 0..<4 { bits |= UInt32(data[i * 4 + b]) << (8 * b) }
        values[i] = Float(bitPattern: bits)
      }
    case "<f8":
      guard data.count >= count * 8 else { throw GraftError(.truncated, "data ends early", file: path) }
      for i in 0..<count {
        var bits: UInt64 = 0
        for b in 0..<8 { bits |= UInt64(data[i * 8 + b]) << (8 * b) }
        values[i] = Float(Double(bitPattern: bits))
      }
    case "<f2":
      guard data.count >= count * 2 else { throw GraftError(.truncated, "data ends early", file: path) }
      for i in 0..<count { values[i] = Float(Float16(bitPattern: UInt16(data[i * 2]) | UInt16(data[i * 2 + 1]) << 8)) }
    default:
      throw GraftError(.unsupportedDType, "dtype '\(descr)' is not supported; use float32", file: path)
    }
    return try FloatTensor(shape: shape, values: values)
  }

  static func write(_ tensor: FloatTensor, to path: String) throws {
    let shape = tensor.shape.map(String.init).joined(separator: ", ") + (tensor.shape.count == 1 ? "," : "")
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape)), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
    bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
    bytes += Array(header.utf8)
    bytes.reserveCapacity(bytes.count + tensor.count * 4)
    for v in tensor.values {
      let bits = v.bitPattern
      bytes += [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24)]
    }
    try FileSystem.writeAll(bytes, to: path)
  }
}
