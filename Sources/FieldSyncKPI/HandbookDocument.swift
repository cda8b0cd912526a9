import FieldSyncLocalization

/// A document the handbook asks the account manager to hand a customer (服务报告,
/// 投诉处理报告单, 故障处理报告, 服务到期通知), as blocks rendered to Markdown or to one
/// self-contained HTML page made to print on A4: no script, no external file, a CJK
/// font stack (the fonts `scripts/install-deps` installs), tables that break cleanly
/// across pages and a sign-off block at the end.
public struct HandbookDocument: Sendable, Equatable {
    public enum Block: Sendable, Equatable {
        case heading(String)
        /// A form's label–value rows (登记单 style).
        case fields([Field])
        case table(headings: [String], rows: [[String]], empty: String)
        case paragraph(String)
        /// Signature lines: a label each, with room to sign and date.
        case signatures([String])
    }

    public struct Field: Sendable, Equatable {
        public var label: String
        public var value: String
        public init(_ label: String, _ value: String) {
            self.label = label
            self.value = value
        }
    }

    public var language: Language
    public var title: String
    /// Under the title: who it is for and what it covers.
    public var subtitle: String
    public var blocks: [Block]
    /// The last line: who made it and when (the replica's view, "as of").
    public var footer: String
    /// What follows a label in running text: ": " in English, "：" in Chinese.
    public var colon: String

    public init(language: Language, title: String, subtitle: String, blocks: [Block], footer: String, colon: String = ": ") {
        self.language = language
        self.colon = colon
        self.title = title
        self.subtitle = subtitle
        self.blocks = blocks
        self.footer = footer
    }

    /// Text as Markdown shows it, never as structure: what people typed (a complaint's
    /// content, a note) cannot open a heading, a list, a table cell, a link or HTML.
    /// `singleLine` turns line breaks into spaces (titles, cells); else they stay breaks.
    /// `standalone` text starts a line of its own (a paragraph), where `1.` or `-` would open a list.
    public static func markdownText(_ text: String, singleLine: Bool = true, standalone: Bool = false) -> String {
        var out = ""
        var lineStart = standalone, leadingDigits = false
        for character in text {
            if character == "\n" || character == "\r" || character == "\r\n" {
                out += singleLine ? " " : "  \n"
                lineStart = !singleLine
                leadingDigits = false
                continue
            }
            let escape = "\\`*_[]<>#|!".contains(character)
                || (lineStart && "-+=~".contains(character))
                || (leadingDigits && (character == "." || character == ")"))
            if escape { out += "\\" }
            out.append(character)
            leadingDigits = (lineStart || leadingDigits) && character.isASCII && character.isNumber
            lineStart = lineStart && character == " "
        }
        return out
    }

    public var markdown: String {
        let cell = { (text: String) in Self.markdownText(text) }
        let line = { (text: String) in Self.markdownText(text, standalone: true) }
        var text = "# \(cell(title))\n\n\(line(subtitle))\n"
        for block in blocks {
            switch block {
            case .heading(let heading): text += "\n## \(cell(heading))\n"
            case .paragraph(let paragraph): text += "\n\(Self.markdownText(paragraph, singleLine: false, standalone: true))\n"
            case .fields(let fields):
                text += "\n"
                for field in fields { text += "- **\(cell(field.label))**\(colon)\(cell(field.value))\n" }
            case .table(let headings, let rows, let empty):
                text += "\n"
                if rows.isEmpty {
                    text += "\(line(empty))\n"
                    continue
                }
                text += "| " + headings.map(cell).joined(separator: " | ") + " |\n"
                text += "|" + String(repeating: "---|", count: headings.count) + "\n"
                for row in rows { text += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
            case .signatures(let labels):
                text += "\n" + labels.map { "\(cell($0))\(colon)____________________" }.joined(separator: "\n\n") + "\n"
            }
        }
        return text + "\n\(line(footer))\n"
    }

    /// Fonts in order: Noto Sans CJK (fonts-noto-cjk), WenQuanYi (fonts-wqy-zenhei), then the system's.
    public static let fontStack = "\"Noto Sans CJK SC\", \"Noto Sans SC\", \"WenQuanYi Zen Hei\", \"Source Han Sans SC\", \"PingFang SC\", \"Microsoft YaHei\", sans-serif"

    public var html: String {
        let escape = HTMLText.escaped
        var page = """
            <!doctype html>
            <html lang="\(language.htmlTag)"><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
            <title>\(escape(title))</title>
            <style>
            @page { size: A4; margin: 18mm 16mm; }
            body { font-family: \(Self.fontStack); margin: 2em; color: #1d2733; font-size: 11pt; line-height: 1.45; }
            @media print { body { margin: 0; } }
            h1 { font-size: 18pt; text-align: center; margin: 0 0 0.3em; }
            h2 { font-size: 13pt; margin: 1.2em 0 0.4em; border-bottom: 1px solid #1d2733; break-after: avoid; }
            table { border-collapse: collapse; width: 100%; margin-bottom: 0.8em; }
            tr { break-inside: avoid; }
            thead { display: table-header-group; }
            th, td { border: 1px solid #8a96a3; padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
            th { background: #eef1f4; }
            table.form th { width: 28%; }
            .meta { color: #4b5663; text-align: center; }
            .empty { color: #4b5663; }
            .signatures { display: flex; flex-wrap: wrap; gap: 1.2em 3em; margin-top: 2.5em; break-inside: avoid; }
            .signatures div { min-width: 40%; border-bottom: 1px solid #1d2733; padding-bottom: 2.2em; }
            footer { margin-top: 2em; color: #4b5663; font-size: 9pt; }
            </style></head><body>
            <h1>\(escape(title))</h1>
            <p class="meta">\(escape(subtitle))</p>

            """
        for block in blocks {
            switch block {
            case .heading(let heading): page += "<h2>\(escape(heading))</h2>\n"
            case .paragraph(let paragraph): page += "<p>\(escape(paragraph))</p>\n"
            case .fields(let fields):
                page += "<table class=\"form\">\n"
                for field in fields { page += "<tr><th>\(escape(field.label))</th><td>\(escape(field.value))</td></tr>\n" }
                page += "</table>\n"
            case .table(let headings, let rows, let empty):
                if rows.isEmpty {
                    page += "<p class=\"empty\">\(escape(empty))</p>\n"
                    continue
                }
                page += "<table><thead><tr>" + headings.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
                for row in rows { page += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
                page += "</tbody></table>\n"
            case .signatures(let labels):
                page += "<div class=\"signatures\">" + labels.map { "<div>\(escape($0))</div>" }.joined() + "</div>\n"
            }
        }
        return page + "<footer>\(escape(footer))</footer>\n</body></html>\n"
    }
}
