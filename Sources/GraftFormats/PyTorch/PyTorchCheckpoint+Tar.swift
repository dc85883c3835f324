public import GraftCore

extension PyTorchCheckpoint {
  /// Reads the oldest (torch ≤ 0.3) tar layout.
  static func openTar(_ region: MappedRegion) throws(GraftError) -> PyTorchArchive {
    throw GraftError(
      .unsupported, "the torch <= 0.3 tar checkpoint layout is not supported yet", file: region.path, byteOffset: 0)
  }
}
