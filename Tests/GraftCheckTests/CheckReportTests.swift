import GraftCheck
import GraftCore
import GraftEngine
import TestSupport
import Testing

@Suite("The shared check report")
struct CheckReportTests {
  @Test("informational rows never fail a report; one failed row does, and the summary names it")
  func verdicts() {
    var report = CheckReport(kind: "test", columns: [.init("value", "value", width: 8)])
    report.rows.append(.init("a", .passed, ["value": .number(1e-7, .scientific)]))
    report.rows.append(.init("b", .info, ["value": .number(0.3, .scientific)], note: "not exact"))
    #expect(report.passed)
    #expect(report.summary == "PASS: 1 of 1 checks hold, 1 informational")
    report.rows.append(.init("c", .failed, ["value": .integer(2)]))
    #expect(!report.passed)
    #expect(report.summary == "FAIL: 1 of 2 checks failed (c)")
    #expect(report.lines.contains { $0.hasPrefix("b") && $0.contains("info") && $0.contains("not exact") })
  }

  @Test("JSON keeps full precision and spells non-finite numbers as strings")
  func json() throws {
    var report = CheckReport(kind: "test", columns: [.init("max_abs", "max|Δ|", width: 10)])
    report.rows.append(.init("x", .failed, ["max_abs": .number(.infinity, .scientific)]))
    report.rows.append(.init("y", .passed, ["max_abs": .number(1.234_567_890_123e-7, .scientific)]))
    let rows = try #require(report.json.objectValue?["rows"]?.arrayValue)
    #expect(rows[0].objectValue?["max_abs"]?.stringValue == "inf")
    #expect(rows[1].objectValue?["max_abs"]?.doubleValue == 1.234_567_890_123e-7)
    #expect(report.json.objectValue?["passed"]?.boolValue == false)
  }

  @Test("a model comparison row is judged by max|Δ| ≤ atol + rtol·max|before| and shows that ratio")
  func modelRow() throws {
    let before = try FloatTensor(shape: [2, 2], values: [1, -4, 2, 0.5])
    let after = try FloatTensor(shape: [2, 2], values: [1, -4.002, 2, 0.5])
    let c = TensorComparison(before: before, after: after, argmax: true)
    #expect(abs(c.maxAbs - 0.002) < 1e-6 && c.scale == 4)
    #expect(c.argmaxAgreement == 1)
    let tight = ModelCheck.row("output", c, atol: 0, rtol: 1e-4)
    let loose = ModelCheck.row("output", c, atol: 0, rtol: 1e-3)
    #expect(tight.outcome == .failed && loose.outcome == .passed)
    #expect(abs((loose.number("relative") ?? 0) - 5e-4) < 1e-6)
  }

  @Test("shapes that differ or non-finite values are a failure with a reason, never a pass")
  func incomparable() throws {
    let a = try FloatTensor(shape: [2], values: [1, 2])
    let b = try FloatTensor(shape: [2], values: [1, .nan])
    let c = TensorComparison(before: a, after: b)
    #expect(!c.isComparable && c.problem == "1 non-finite values")
    #expect(ModelCheck.row("t", c, atol: 1, rtol: 1).outcome == .failed)
    let d = TensorComparison(before: a, after: try FloatTensor(shape: [1, 2], values: [1, 2]))
    #expect(d.problem?.hasPrefix("shapes differ") == true)
  }
}
