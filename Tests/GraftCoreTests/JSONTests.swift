import GraftCore
import Testing

@Suite("JSON parser and serializer")
struct JSONTests {
  @Test("parses every value kind and keeps object order")
  func parsesValues() throws {
    let v = try JSONParser.parse(#"{"b":1,"a":[true,false,null,-2,1.5,"x\u00e9\n"],"c":{"d":18446744073709551615}}"#)
    let o = try #require(v.objectValue)
    #expect(o.keys == ["b", "a", "c"])
    #expect(v["b"] == .int(1))
    #expect(v["a"]?.arrayValue == [.bool(true), .bool(false), .null, .int(-2), .double(1.5), .string("xé\n")])
    #expect(v["c"]?["d"] == .uint(UInt64.max))
  }

  @Test("rejects duplicate keys with the byte offset of the second one")
  func duplicates() throws {
    let text = #"{"w":1, "w":2}"#
    #expect(throws: GraftError.self) { try JSONParser.parse(text) }
    do {
      _ = try JSONParser.parse(text)
    } catch {
      #expect(error.code == .duplicateKey)
      #expect(error.byteOffset == 8)
    }
    var lenient = JSONParser.Options()
    lenient.duplicateKeys = .keepLast
    #expect(try JSONParser.parse(text, options: lenient)["w"] == .int(2))
  }

  @Test(
    "reports syntax errors with offsets",
    arguments: [("{", 1), (#"{"a":}"#, 5), ("[1,]", 3), (#"{"a":1} x"#, 8), ("01", 0), (#""\q""#, 1)])
  func syntaxErrors(text: String, offset: Int) {
    do {
      _ = try JSONParser.parse(text)
      Issue.record("expected an error for \(text)")
    } catch {
      #expect(error.code == .invalidJSON)
      #expect(error.byteOffset == offset, "\(text): \(error)")
    }
  }

  @Test("caps nesting depth")
  func depth() {
    let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
    #expect(throws: GraftError.self) { try JSONParser.parse(deep) }
  }

  @Test("compact output matches serde_json and round-trips")
  func serialize() throws {
    let v: JSONValue = ["dtype": "F32", "shape": [1, 2, 3], "data_offsets": [0, 24]]
    #expect(v.serialized() == #"{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}"#)
    let tricky: JSONValue = ["k\"\\": "a\u{1}\t é"]
    let text = tricky.serialized()
    #expect(text == #"{"k\"\\":"a\u0001\t é"}"#)
    #expect(try JSONParser.parse(text) == tricky)
    #expect(JSONValue.string("é😀").serialized(JSONFormatting(asciiOnly: true)) == #""\u00e9\ud83d\ude00""#)
  }

  @Test("python indent=2 layout")
  func indented() {
    let v: JSONValue = ["metadata": ["total_size": 8], "weight_map": ["a": "f"]]
    let expected = "{\n  \"metadata\": {\n    \"total_size\": 8\n  },\n  \"weight_map\": {\n    \"a\": \"f\"\n  }\n}"
    #expect(v.serialized(.pythonIndent2) == expected)
  }
}
