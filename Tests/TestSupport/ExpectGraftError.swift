public import Testing

/// Runs `body` and returns the GraftError it throws, or records an issue.
public func expectGraftError(
  _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) -> GraftError? {
  do {
    try body()
    Issue.record("expected an error", sourceLocation: sourceLocation)
  } catch let error as GraftError {
    return error
  } catch {
    Issue.record("expected a GraftError, got \(error)", sourceLocation: sourceLocation)
  }
  return nil
}
