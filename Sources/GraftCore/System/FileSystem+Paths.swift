extension FileSystem {
  /// `folder/name`, with one slash whatever `folder` ends with (`out/` and `out` both give `out/name`).
  ///
  /// Paths in messages and reports are copied into other commands, so `out//model.safetensors` is avoided.
  public static func join(_ folder: String, _ name: String) -> String {
    let base = withoutTrailingSlashes(folder)
    if base.isEmpty { return name }
    return base == "/" ? "/" + name : base + "/" + name
  }

  /// A path without its trailing slashes (`out//` → `out`; `/` stays `/`).
  public static func withoutTrailingSlashes(_ path: String) -> String {
    var base = Substring(path)
    while base.count > 1 && base.hasSuffix("/") { base = base.dropLast() }
    return String(base)
  }
}
