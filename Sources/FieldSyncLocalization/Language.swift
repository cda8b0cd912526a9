/// The languages FieldSync speaks. The raw value names the `.lproj` folder of its
/// texts and is what `--lang`, a customer's setting and the dashboard's `lang=` say.
public enum Language: String, CaseIterable, Sendable, Codable, Hashable {
    case english = "en"
    case chinese = "zh-Hans"

    /// English where nothing says otherwise: the wire, `--json` and logs never change with it.
    public static let fallback = Language.english

    /// `en`, `zh`, `zh-CN`, `zh_CN.UTF-8`, `zh-Hans`, `en-GB;q=0.8`'s tag: the language a
    /// locale or language tag names, or nil for one FieldSync does not speak (or `C`, `POSIX`).
    public init?(tag: String) {
        var primary = Substring(tag)
        if let cut = primary.firstIndex(where: { $0 == "." || $0 == "@" || $0 == ";" }) { primary = primary[..<cut] }
        let subtags = primary.split(whereSeparator: { $0 == "-" || $0 == "_" }).map { $0.lowercased() }
        switch subtags.first {
        case "en": self = .english
        // Traditional Chinese (zh-Hant, zh-TW, zh-HK) is not offered: Simplified is closer than English.
        case "zh": self = .chinese
        default: return nil
        }
    }

    /// What `--lang` accepts, for an error message.
    public static let choices = "en, zh (zh-CN, zh-Hans)"

    /// The language of a laptop's or server's environment, POSIX's order: `LC_ALL`,
    /// then `LC_MESSAGES`, then `LANG`; the first one set decides, even to `C`.
    public static func of(environment: [String: String]) -> Language? {
        for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            guard let value = environment[name], !value.isEmpty else { continue }
            return Language(tag: value)
        }
        return nil
    }

    /// The browser's choice from an `Accept-Language` header (`zh-CN,zh;q=0.9,en;q=0.8`):
    /// the spoken language of highest weight; ties go to the one listed first.
    /// Bounded: at most 32 entries are read.
    public static func of(acceptLanguage header: String) -> Language? {
        var best: (language: Language, weight: Double)?
        for entry in header.split(separator: ",", maxSplits: 32).prefix(32) {
            let parts = entry.split(separator: ";").map { $0.trimmingSpaces }
            guard let tag = parts.first, let language = Language(tag: String(tag)) else { continue }
            var weight = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                weight = Double(parameter.dropFirst(2)).flatMap { (0...1).contains($0) ? $0 : nil } ?? 0
            }
            if weight > 0, weight > (best?.weight ?? 0) { best = (language, weight) }
        }
        return best?.language
    }

    /// The language of a document handed to a customer: the one asked for (`--lang`, `lang=`),
    /// else the customer's own setting (its `language` field), else the reader's.
    public static func ofDocument(asked: Language?, customer setting: String?, reader: Language) -> Language {
        asked ?? setting.flatMap { Language(rawValue: $0) } ?? reader
    }

    /// `lang` attribute of an HTML page.
    public var htmlTag: String { self == .chinese ? "zh-CN" : "en" }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return text
    }
}
