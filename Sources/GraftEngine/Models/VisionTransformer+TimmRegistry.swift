public import GraftCore

extension VisionTransformer {
  /// The constructor arguments timm registers under an architecture name, or `nil` for a name it does not list.
  static func timmArchitecture(named name: String) -> [(String, JSONValue)]? { nil }
}
