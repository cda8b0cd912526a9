/// A plain text table, columns padded to the widest cell (CJK characters count double).
public struct TextTable: Sendable {
    public var headers: [String]
    public var rows: [[String]] = []

    public init(_ headers: String...) { self.headers = headers }
    public init(_ headers: [String]) { self.headers = headers }

    public mutating func add(_ cells: String...) { rows.append(cells) }

    /// The table as lines, each ending in a newline; `empty` alone when there are no rows.
    public func rendered(empty: String) -> String {
        guard !rows.isEmpty else { return empty + "\n" }
        let cells = rows.map { $0.map { Self.clip($0, to: 48) } }
        var widths = headers.map(Self.width)
        for row in cells {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], Self.width(cell)) }
        }
        func line(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - Self.width(cell))
            }.joined(separator: "  ")
        }
        return ([line(headers.map { $0.uppercased() })] + cells.map(line)).map { $0 + "\n" }.joined()
    }

    public static func width(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + (isWide($1) ? 2 : 1) }
    }

    public static func isWide(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
            return true
        default:
            return false
        }
    }

    public static func clip(_ text: String, to limit: Int) -> String {
        let flat = String(text.map { $0 == "\n" ? " " : $0 })
        guard width(flat) > limit else { return flat }
        var result = "", used = 0
        for character in flat {
            let w = width(String(character))
            if used + w > limit - 1 { break }
            result.append(character)
            used += w
        }
        return result + "…"
    }
}

