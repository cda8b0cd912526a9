import FieldSyncModel
import Foundation
import Testing

/// `JSONText.appendString` copies runs of plain bytes whole and escapes the rest:
/// every string must read back exactly through Foundation's JSON reader, with
/// the escapes RFC 8259 asks for and nothing else escaped.
@Suite struct JSONTextTests {
    @Test func everyStringReadsBackExactly() throws {
        var texts = (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        texts += ["", "plain", "\"quoted\" \\ back\\slash", "line\nbreak\r\ttab\u{0}nul\u{1F}", "中文 客户经理 ✓", "📡 \u{7F} \u{10FFFF}",
                  String(repeating: "a\"", count: 500), "ends with escape\n", "\\"]
        for text in texts {
            var out: [UInt8] = []
            JSONText.appendString(text, to: &out)
            let back = try JSONDecoder().decode(String.self, from: Data(out))
            #expect(back == text, "\(Array(text.utf8))")
            let body = String(decoding: out.dropFirst().dropLast(), as: UTF8.self)
            let escapes = text.unicodeScalars.filter { $0.value < 0x20 || $0 == "\"" || $0 == "\\" }.count
            #expect(body.filter { $0 == "\\" }.count >= escapes, "every quote, backslash and control character escaped")
        }
        var out: [UInt8] = []
        JSONText.appendString("a\u{1}b\"c\\d\ne\u{1F}", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""a\u0001b\"c\\d\ne\u001f""#)
    }
}
