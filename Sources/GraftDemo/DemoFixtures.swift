import Graft

/// The repository's committed fixtures, when the binary runs from a checkout.
public enum DemoFixtures {
  /// The `Fixtures` folder of the checkout this binary was built from, if it is still there.
  public static var folder: String? {
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Sources/GraftDemo/DemoFixtures.swift
    let path = parts.joined(separator: "/") + "/Fixtures"
    return FileSystem.isDirectory(path) ? path : nil
  }
}
