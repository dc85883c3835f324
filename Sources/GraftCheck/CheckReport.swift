public import GraftCore

/// The one shape every check in Graft reports in: a titled table of rows, each passed, failed or informational.
///
/// `graft check`, and the proofs run after MoE, DenoiseRep and Mr.DETR surgery, all return a `CheckReport`, so a
/// caller handles them alike: ``passed`` decides, ``lines`` prints, ``json`` feeds scripts. Each check kind chooses
/// its columns; values are typed (numbers keep full precision in JSON and are formatted only for the table).
public struct CheckReport: Sendable {
  /// What a row says about the checked property.
  public enum Outcome: String, Sendable {
    /// The property holds within its bound.
    case passed
    /// The property does not hold.
    case failed
    /// A measurement with no pass/fail criterion (for example the distance of a construction that is not exact).
    case info
  }

  /// How a number is shown in the table (JSON always carries the full value).
  public enum Style: Sendable {
    /// `1.23e-05`.
    case scientific
    /// Fixed-point with this many decimals.
    case fixed(Int)
    /// A fraction shown as a percentage: `100%`.
    case percent
    /// A similarity close to 1 shown as `1 − 3.01e-14`, so the distance from 1 stays visible.
    case cosine
  }

  /// One cell.
  public enum Value: Sendable {
    /// Free text.
    case text(String)
    /// A count.
    case integer(Int)
    /// A measured number.
    case number(Double, Style)
    /// A tensor shape, shown as `4×10`.
    case shape([Int])
  }

  /// A column of the table.
  public struct Column: Sendable {
    /// The key of the column's values in each row and in JSON.
    public var key: String
    /// The heading printed above the column.
    public var title: String
    /// The printed width.
    public var width: Int
    /// Whether values are right-aligned (numbers) or left-aligned (names, text).
    public var alignRight: Bool

    /// Creates a column.
    public init(_ key: String, _ title: String, width: Int, alignRight: Bool = true) {
      self.key = key
      self.title = title
      self.width = width
      self.alignRight = alignRight
    }
  }

  /// One checked property.
  public struct Row: Sendable {
    /// What was checked, such as `output`, `block.0 copies` or `layer blocks.0.mlp.fc1`.
    public var name: String
    /// The verdict.
    public var outcome: Outcome
    /// The row's values by column key; a column without a value prints `-`.
    public var values: [String: Value]
    /// Context: why a row failed, what an informational figure means.
    public var note: String?

    /// Creates a row.
    public init(_ name: String, _ outcome: Outcome, _ values: [String: Value] = [:], note: String? = nil) {
      self.name = name
      self.outcome = outcome
      self.values = values
      self.note = note
    }

    /// Whether the row does not fail (informational rows pass).
    public var passed: Bool { outcome != .failed }

    /// The text in column `key`, if the row has one.
    public func text(_ key: String) -> String? {
      if case .text(let s) = values[key] { return s }
      return nil
    }

    /// The number in column `key`, if the row has one (counts included).
    public func number(_ key: String) -> Double? {
      switch values[key] {
      case .number(let v, _): return v
      case .integer(let v): return Double(v)
      default: return nil
      }
    }
  }

  /// A stable identifier of the check kind: `model`, `moe`, `denoiserep`, `mrdetr`.
  public var kind: String
  /// Lines printed above the table: what ran, on which input, with which bounds.
  public var header: [String]
  /// The table's columns after the row name.
  public var columns: [Column]
  /// The checked properties, in order.
  public var rows: [Row]
  /// Facts about the whole run (configuration, input description, timings), carried into JSON.
  public var facts: JSONObject

  /// Creates a report.
  public init(kind: String, header: [String] = [], columns: [Column], rows: [Row] = [], facts: JSONObject = .init()) {
    self.kind = kind
    self.header = header
    self.columns = columns
    self.rows = rows
    self.facts = facts
  }

  /// Whether no row failed.
  public var passed: Bool { rows.allSatisfy(\.passed) }

  /// The rows that failed.
  public var failures: [Row] { rows.filter { $0.outcome == .failed } }

  /// The first row with this name.
  public func row(_ name: String) -> Row? { rows.first { $0.name == name } }

  /// Appends the header lines and rows of another report of the same columns (one proof running several checks).
  public mutating func append(contentsOf other: CheckReport) {
    header += other.header
    rows += other.rows
    for (key, value) in other.facts { facts[key] = value }
  }
}
