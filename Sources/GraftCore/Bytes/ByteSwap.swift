extension UnsafeMutableRawBufferPointer {
  /// Reverses the bytes of every `width`-byte element in place (big-endian ↔ little-endian); a trailing partial
  /// element is left as it is.
  @inlinable public func reverseBytes(ofElementsOfWidth width: Int) {
    guard width > 1 else { return }
    var i = 0
    while i + width <= count {
      var a = i
      var b = i + width - 1
      while a < b {
        swapAt(a, b)
        a += 1
        b -= 1
      }
      i += width
    }
  }
}
