import Synchronization

/// A complete, synced output still under its temporary name (``AtomicOutputFile/stage()``), waiting to be renamed
/// into place together with the other files of one checkpoint.
///
/// A writer of several files stages each one, and only when all are complete calls ``install()`` on each; on any
/// failure before that it calls ``discard()`` on each, so the destination folder is exactly as it was. A staged
/// file that is neither installed nor discarded is removed when it goes away. Until then a signal removes it too
/// (``TemporaryFiles``).
public final class StagedOutputFile: Sendable {
  /// The temporary path holding the complete file.
  public let temporaryPath: String
  /// Where ``install()`` puts it.
  public let destination: String
  private let registration: Int?
  private let settled = Mutex(false)

  init(temporaryPath: String, destination: String, registration: Int?) {
    self.temporaryPath = temporaryPath
    self.destination = destination
    self.registration = registration
  }

  deinit { discard() }

  /// Renames the file into place and syncs its folder.
  ///
  /// - Throws: `io` when the rename fails; the temporary file is then removed.
  public func install() throws(GraftError) {
    guard settle() else { return }
    defer { TemporaryFiles.unregister(registration) }
    do { try AtomicOutputFile.renameIntoPlace(temporaryPath, destination) } catch {
      Syscalls.unlink(temporaryPath)
      throw error
    }
  }

  /// Removes the temporary file; the destination is not touched.
  public func discard() {
    guard settle() else { return }
    Syscalls.unlink(temporaryPath)
    TemporaryFiles.unregister(registration)
  }

  /// Marks the file installed or discarded; `false` when it already was.
  private func settle() -> Bool {
    settled.withLock { done in
      defer { done = true }
      return !done
    }
  }
}
