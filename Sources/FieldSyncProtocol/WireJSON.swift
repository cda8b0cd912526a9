import FieldSyncModel

/// Fast JSON for the two bulk messages, sync requests and responses, which
/// carry up to hundreds of thousands of field changes. Foundation's Codable
/// JSON costs more than the SQLite work around it at that size; the other
/// messages use Codable. Both forms are the same JSON (a test checks it).
public enum WireJSON {
    // MARK: Writing

    /// A sync request whose mutations are already JSON (as the outbox keeps them).
    public static func syncRequest(cursor: Int64, clientTime: UInt64, maxChanges: Int?, mutationBodies: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + mutationBodies.reduce(0) { $0 + $1.count + 1 })
        out.append(contentsOf: #"{"cursor":"#.utf8)
        out.append(contentsOf: String(cursor).utf8)
        out.append(contentsOf: #","client_time":"#.utf8)
        out.append(contentsOf: String(clientTime).utf8)
        if let maxChanges {
            out.append(contentsOf: #","max_changes":"#.utf8)
            out.append(contentsOf: String(maxChanges).utf8)
        }
        out.append(contentsOf: #","mutations":["#.utf8)
        for (index, body) in mutationBodies.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: body)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    public static func encode(_ response: SyncResponse) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + response.changes.count * 200)
        out.append(contentsOf: #"{"accepted":["#.utf8)
        for (index, id) in response.accepted.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendID(id.origin, id.counter, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"rejected":["#.utf8)
        for (index, rejection) in response.rejected.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendID(rejection.origin, rejection.counter, to: &out)
            out.append(contentsOf: #","reason":"#.utf8)
            JSONText.appendString(rejection.reason, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"changes":["#.utf8)
        for (index, change) in response.changes.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            change.appendJSON(to: &out)
        }
        out.append(contentsOf: #"],"cursor":"#.utf8)
        out.append(contentsOf: String(response.cursor).utf8)
        out.append(contentsOf: #","more":"#.utf8)
        out.append(contentsOf: (response.more ? "true" : "false").utf8)
        out.append(contentsOf: #","server_time":"#.utf8)
        out.append(contentsOf: String(response.serverTime).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `{"origin":"…","counter":N` — the object is left open for more keys.
    private static func appendID(_ origin: NodeID, _ counter: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"origin":""#.utf8)
        out.append(contentsOf: origin.description.utf8)
        out.append(contentsOf: #"","counter":"#.utf8)
        out.append(contentsOf: String(counter).utf8)
    }

    // MARK: Reading

    public struct DecodingError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func decodeSyncRequest(_ bytes: some Collection<UInt8>) throws -> SyncRequest {
        let root = try object(try JSONReader.parse(Array(bytes)), "request")
        return SyncRequest(
            cursor: try int(root["cursor"], "cursor"),
            mutations: try array(root["mutations"], "mutations").map(mutation),
            clientTime: UInt64(try int(root["client_time"], "client_time")),
            maxChanges: try root["max_changes"].map { Int(try int($0, "max_changes")) })
    }

    public static func decodeSyncResponse(_ bytes: some Collection<UInt8>) throws -> SyncResponse {
        let root = try object(try JSONReader.parse(Array(bytes)), "response")
        return SyncResponse(
            accepted: try array(root["accepted"], "accepted").map { value in
                let entry = try object(value, "accepted")
                return MutationID(origin: try node(entry["origin"], "origin"), counter: UInt64(try int(entry["counter"], "counter")))
            },
            rejected: try array(root["rejected"], "rejected").map { value in
                let entry = try object(value, "rejected")
                return Rejection(origin: try node(entry["origin"], "origin"), counter: UInt64(try int(entry["counter"], "counter")),
                                 reason: try string(entry["reason"], "reason"))
            },
            changes: try array(root["changes"], "changes").map(change),
            cursor: try int(root["cursor"], "cursor"),
            more: try bool(root["more"], "more"),
            serverTime: UInt64(try int(root["server_time"], "server_time")))
    }

    static func mutation(_ value: JSONReader.Value) throws -> Mutation {
        let entry = try object(value, "mutation")
        return Mutation(origin: try node(entry["origin"], "origin"), counter: UInt64(try int(entry["counter"], "counter")),
                        user: try entry["user"].flatMap { if case .null = $0 { return nil } else { return try string($0, "user") } },
                        changes: try array(entry["changes"], "changes").map(change))
    }

    static func change(_ value: JSONReader.Value) throws -> FieldChange {
        let entry = try object(value, "change")
        guard let table = RecordKind(rawValue: try string(entry["table"], "table")) else {
            throw DecodingError(description: "unknown table in a change")
        }
        let fieldValue: FieldValue
        switch entry["value"] {
        case .null?, nil: fieldValue = .null
        case .int(let number)?: fieldValue = .int(number)
        case .string(let text)?: fieldValue = .text(text)
        default: throw DecodingError(description: "value must be text, a whole number or null")
        }
        return FieldChange(table: table, record: try string(entry["record"], "record"), field: try string(entry["field"], "field"),
                           value: fieldValue, hlc: HLC(rawValue: try unsigned(entry["hlc"], "hlc")), node: try node(entry["node"], "node"),
                           base: HLC(rawValue: try unsigned(entry["base"], "base")))
    }

    private static func object(_ value: JSONReader.Value?, _ name: String) throws -> JSONReader.Object {
        guard case .object(let fields)? = value else { throw DecodingError(description: "\(name) must be an object") }
        return fields
    }

    private static func array(_ value: JSONReader.Value?, _ name: String) throws -> [JSONReader.Value] {
        guard case .array(let items)? = value else { throw DecodingError(description: "\(name) must be an array") }
        return items
    }

    private static func string(_ value: JSONReader.Value?, _ name: String) throws -> String {
        guard case .string(let text)? = value else { throw DecodingError(description: "\(name) must be a string") }
        return text
    }

    private static func int(_ value: JSONReader.Value?, _ name: String) throws -> Int64 {
        guard case .int(let number)? = value else { throw DecodingError(description: "\(name) must be a whole number") }
        return number
    }

    private static func unsigned(_ value: JSONReader.Value?, _ name: String) throws -> UInt64 {
        switch value {
        case .int(let number)? where number >= 0: return UInt64(number)
        case .unsigned(let number)?: return number
        default: throw DecodingError(description: "\(name) must be a non-negative whole number")
        }
    }

    private static func bool(_ value: JSONReader.Value?, _ name: String) throws -> Bool {
        guard case .bool(let flag)? = value else { throw DecodingError(description: "\(name) must be true or false") }
        return flag
    }

    private static func node(_ value: JSONReader.Value?, _ name: String) throws -> NodeID {
        guard let node = NodeID(try string(value, name)) else { throw DecodingError(description: "\(name) must be 16 hex digits") }
        return node
    }
}

/// A small strict JSON parser (RFC 8259) into a value tree.
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

    static func parse(_ bytes: [UInt8]) throws -> Value {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer)
            let value = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.index == buffer.count else { throw parser.error("trailing characters") }
            return value
        }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        func error(_ text: String) -> WireJSON.DecodingError {
            WireJSON.DecodingError(description: "invalid JSON at byte \(index): \(text)")
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
            return .double(number)
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
            if bytes[index] == UInt8(ascii: "\"") {
                defer { index += 1 }
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            }
            var scalars = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: scalars, as: UTF8.self)
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
