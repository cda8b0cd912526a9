import FieldSyncModel

/// A small strict JSON parser (RFC 8259): typed readers for the sync messages
/// (`WireJSON`), and a value tree for skipping keys they do not know.
enum JSONReader {
    indirect enum Value {
        case null
        case bool(Bool)
        case int(Int64)
        case unsigned(UInt64)
        case double(Double)
        case string(String)
        case array([Value])
        case object(Object)
    }

    /// Keys in document order, looked up by a linear scan: wire objects have
    /// at most seven keys, where hashing costs more than comparing.
    struct Object {
        var pairs: [(key: String, value: Value)] = []

        subscript(key: String) -> Value? {
            for pair in pairs where pair.key == key { return pair.value }
            return nil
        }
    }

    /// An object key: its bytes in the document, or the decoded text when it had escapes.
    struct Key {
        let bytes: UnsafeBufferPointer<UInt8>
        let decoded: String?

        static func ~= (pattern: StaticString, key: Key) -> Bool {
            if let decoded = key.decoded { return decoded == pattern.description }
            guard pattern.utf8CodeUnitCount == key.bytes.count else { return false }
            return UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount).elementsEqual(key.bytes)
        }
    }

    /// Runs `body` on a parser over the whole document, which must hold one value.
    static func read<T>(_ bytes: some Collection<UInt8>, maxStringLength: Int = .max, _ body: (inout Parser) throws -> T) throws -> T {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, maxStringLength: maxStringLength)
            let result = try body(&parser)
            parser.skipSpace()
            guard parser.index == buffer.count else { throw parser.error("trailing characters") }
            return result
        }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        /// Reading a push: record ids must be in the documented form and a
        /// mutation may change one record at most `RecordLimits.maxChangesPerRecord` times.
        var checksRecords = false
        /// Strings of keys the reader skips are neither kept nor checked.
        var keeping = true
        /// Longest string kept, in Unicode scalars (JSON Schema's maxLength);
        /// strings of keys the reader skips are bounded by the body only.
        var maxStringLength = Int.max
        var index = 0
        /// Record kinds changes named that this version does not know (a newer peer), each once,
        /// at most `maxUnknownKinds`: their changes are skipped, not fatal.
        var unknownKinds: [String] = []
        static let maxUnknownKinds = 16
        /// The record id of the change read last.
        var lastRecord = ""

        func error(_ text: String) -> WireJSON.DecodingError {
            WireJSON.DecodingError(description: "invalid JSON at byte \(index): \(text)")
        }

        /// Four UTF-8 bytes per character at most; no overflow when unlimited.
        var maxStringBytes: Int {
            let (bytes, overflow) = maxStringLength.multipliedReportingOverflow(by: 4)
            return overflow ? .max : bytes
        }

        func tooLong() -> WireJSON.LimitExceeded {
            WireJSON.LimitExceeded(description: "a string at byte \(index) is over \(maxStringLength) characters")
        }

        /// Refuses a kept string over the limit: more bytes than four per
        /// character is over for certain, otherwise its characters are counted.
        func checkLength(byteCount: Int, _ text: @autoclosure () -> String) throws {
            if keeping, text().containsNUL { throw WireJSON.DecodingError(description: "a string at byte \(index) contains a NUL character") }
            guard byteCount > maxStringLength else { return }
            if byteCount > maxStringBytes || text().unicodeScalars.count > maxStringLength { throw tooLong() }
        }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws -> Value {
            guard depth < 64 else { throw error("nested too deeply") }
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var fields = Object()
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(fields) }
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"))
                    fields.pairs.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    if try next(UInt8(ascii: ","), or: UInt8(ascii: "}")) { continue }
                    return .object(fields)
                }
            case UInt8(ascii: "["):
                index += 1
                var items: [Value] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    if try next(UInt8(ascii: ","), or: UInt8(ascii: "]")) { continue }
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true"); return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false"); return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null"); return .null
            default:
                return try number()
            }
        }

        mutating func expect(_ byte: UInt8) throws {
            guard index < bytes.count, bytes[index] == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
            index += 1
        }

        /// True after `separator`, false after `end`.
        mutating func next(_ separator: UInt8, or end: UInt8) throws -> Bool {
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == separator { index += 1; return true }
            if bytes[index] == end { index += 1; return false }
            throw error("expected '\(Character(Unicode.Scalar(separator)))' or '\(Character(Unicode.Scalar(end)))'")
        }

        mutating func literal(_ word: String) throws {
            for byte in word.utf8 {
                guard index < bytes.count, bytes[index] == byte else { throw error("expected \(word)") }
                index += 1
            }
        }

        mutating func number() throws -> Value {
            let start = index
            if let integer = integer() { return integer }
            index = start
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            var integral = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte >= 0x30 && byte <= 0x39 { index += 1; continue }
                if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+")
                    || (byte == UInt8(ascii: "-") && index > start) {
                    integral = false; index += 1; continue
                }
                break
            }
            guard index > start else { throw error("unexpected character") }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if integral, let number = Int64(text) { return .int(number) }
            if integral, let number = UInt64(text) { return .unsigned(number) }
            guard let number = Double(text) else { throw error("bad number") }
            // JSON Schema counts 5.0 and 5e0 as integers: read them exactly, not through a Double.
            if !integral, let exact = Self.exactInteger(text) { return exact }
            return .double(number)
        }

        /// The integer a number with a fraction or exponent stands for, when it is
        /// whole and fits 64 bits (`12.50e1` is 125), exactly; nil otherwise.
        static func exactInteger(_ text: String) -> Value? {
            var digits: [UInt8] = [], exponent = 0, negative = false
            var bytes = Substring(text).utf8[...]
            if bytes.first == UInt8(ascii: "-") { negative = true; bytes = bytes.dropFirst() }
            var fraction = false
            while let byte = bytes.first, byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") {
                bytes = bytes.dropFirst()
                if byte == UInt8(ascii: ".") { fraction = true; continue }
                guard (0x30...0x39).contains(byte) else { return nil }
                digits.append(byte - 0x30)
                if fraction { exponent -= 1 }
            }
            if !bytes.isEmpty {
                guard let written = Int(String(decoding: bytes.dropFirst(), as: UTF8.self)), abs(written) < 1_000 else { return nil }
                exponent += written
            }
            while exponent < 0, digits.last == 0 { digits.removeLast(); exponent += 1 }
            guard exponent >= 0, exponent < 40 else { return digits.allSatisfy { $0 == 0 } ? .int(0) : nil }
            var magnitude: UInt64 = 0
            for digit in digits + Array(repeating: 0, count: exponent) {
                let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, carry) = times10.addingReportingOverflow(UInt64(digit))
                guard !overflow, !carry else { return nil }
                magnitude = sum
            }
            if !negative { return magnitude <= UInt64(Int64.max) ? .int(Int64(magnitude)) : .unsigned(magnitude) }
            if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            return magnitude == UInt64(Int64.max) + 1 ? .int(.min) : nil
        }

        /// A plain integer read without building a string (stamps and counters
        /// are most of a sync body's numbers), or nil to take the general path.
        private mutating func integer() -> Value? {
            var negative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
            let digits = index
            var magnitude: UInt64 = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, carry) = times10.addingReportingOverflow(UInt64(bytes[index] - 0x30))
                guard !overflow, !carry else { return nil }
                magnitude = sum
                index += 1
            }
            guard index > digits else { return nil }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
            if !negative { return magnitude <= UInt64(Int64.max) ? .int(Int64(magnitude)) : .unsigned(magnitude) }
            if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            return magnitude == UInt64(Int64.max) + 1 ? .int(.min) : nil
        }

        private func checkRecordID() throws {
            guard checksRecords, !RecordID.isValid(lastRecord) else { return }
            throw WireJSON.DecodingError(description: "record: '\(lastRecord.prefix(40))' is not a record id (36 characters, lowercase hex in groups 8-4-4-4-12)")
        }

        /// A change's record id; one equal to the previous change's comes back as
        /// that same string, without a new allocation (a record's changes travel together).
        mutating func recordID() throws -> String {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw WireJSON.DecodingError(description: "record must be a string") }
            let start = index + 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
                let same = lastRecord.utf8.count == text.count
                    && (lastRecord.utf8.withContiguousStorageIfAvailable { $0.elementsEqual(text) } ?? lastRecord.utf8.elementsEqual(text))
                index = end + 1
                if !same {
                    guard text.count <= maxStringBytes else { throw tooLong() }
                    guard let decoded = Self.validUTF8(text) else { throw error("invalid UTF-8 in string") }
                    try checkLength(byteCount: text.count, decoded)
                    lastRecord = decoded
                    try checkRecordID()
                }
                return lastRecord
            }
            lastRecord = try string()
            try checkRecordID()
            return lastRecord
        }

        /// The string these bytes spell, or nil when they are not valid UTF-8.
        /// `String(validating:as:)` looks up generic metadata on every call (a
        /// twentieth of decoding a push); decoding with repair is the fast path,
        /// and it repaired something exactly when its bytes differ from these
        /// (never for ASCII, most strings of a sync: ids, field names, dates).
        static func validUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
            var text = String(decoding: bytes, as: UTF8.self)
            if ByteScan.isASCII(bytes) { return text }
            return text.withUTF8 { ByteScan.equal($0, bytes) } ? text : nil
        }

        mutating func string() throws -> String {
            try expect(UInt8(ascii: "\""))
            let start = index
            // Fast path: no escapes.
            while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                guard bytes[index] >= 0x20 else { throw error("control character in string") }
                index += 1
            }
            guard index < bytes.count else { throw error("unterminated string") }
            guard index - start <= maxStringBytes else { throw tooLong() }
            if bytes[index] == UInt8(ascii: "\"") {
                // Invalid UTF-8 is refused, never repaired into U+FFFD: a value is stored as sent or not at all.
                guard let text = Self.validUTF8(UnsafeBufferPointer(rebasing: bytes[start..<index])) else {
                    throw error("invalid UTF-8 in string")
                }
                try checkLength(byteCount: index - start, text)
                index += 1
                return text
            }
            var scalars = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                guard scalars.count <= maxStringBytes else { throw tooLong() }
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = scalars.withUnsafeBufferPointer(Self.validUTF8) else { throw error("invalid UTF-8 in string") }
                    try checkLength(byteCount: scalars.count, text)
                    return text
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { throw error("unterminated escape") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            try literal("\\u")
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("bad surrogate pair") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("bad \\u escape") }
                        scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: throw error("bad escape")
                    }
                default:
                    guard byte >= 0x20 else { throw error("control character in string") }
                    scalars.append(byte)
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                index += 1
                value <<= 4
                switch byte {
                case 0x30...0x39: value |= UInt32(byte - 0x30)
                case 0x41...0x46: value |= UInt32(byte - 0x41 + 10)
                case 0x61...0x66: value |= UInt32(byte - 0x61 + 10)
                default: throw error("bad hex digit")
                }
            }
            return value
        }
    }
}
