import FieldSyncLocalization
import FieldSyncModel
import Foundation

/// ArgumentParser writes its own words into every help page (the headings, `-h, --help`,
/// `(default: …)`): they are replaced here by the tables' (`help.*`), so a help page reads in
/// one language. The commands' own texts already come from the tables.
public enum HelpText {
    public static func localized(_ text: String, _ t: Strings) -> String {
        guard t.language != .english else { return text }
        // "(values: a, b; default: a)" after an option's help, possibly wrapped over lines: one phrase in the tables' words.
        let original = text
        var text = text
        text.replace(/(?<space>[ ]?)\((?<body>(?:values|default):\s[^()]*)\)/) { match in
            // The space that joins it to the help before it is the phrase's own; an indentation's is kept.
            let indented = match.output.space.isEmpty || match.range.lowerBound == original.startIndex
                || original[original.index(before: match.range.lowerBound)] == " "
            let body = match.output.body.replacing(/\n */, with: " ")
            let parts = body.split(separator: "; ").map { part -> String in
                guard let colon = part.firstIndex(of: ":") else { return String(part) }
                let kind = part[..<colon], value = part[part.index(after: colon)...].drop { $0 == " " }
                return kind == "values" || kind == "default" ? t("help.\(kind)", ["value": String(value)]) : String(part)
            }
            return (indented ? String(match.output.space) : "") + t("help.parenthesis", ["parts": parts.joined(separator: t("list.semicolon"))])
        }
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(line)
            for heading in ["OVERVIEW", "USAGE", "ARGUMENTS", "OPTIONS", "SUBCOMMANDS"] where line.hasPrefix("\(heading):") {
                let rest = line.dropFirst(heading.count + 1)
                let localized = t("help.heading.\(heading.lowercased())")
                // A full-width colon needs no space after it.
                line = localized + (localized.hasSuffix("：") && rest.hasPrefix(" ") ? rest.dropFirst() : rest)
            }
            line = line.replacingOccurrences(of: "Show help information.", with: t("help.show-help"))
            if line.hasPrefix(t("help.heading.usage")) {
                line = line.replacingOccurrences(of: "<subcommand>", with: t("help.placeholder.subcommand"))
                    .replacingOccurrences(of: "<options>", with: t("help.placeholder.options"))
            }
            // A subcommand's "(default)" sits in the names' column: the columns after it keep their place.
            line.replace(/[ ]\(default\)(?<pad> *)/) { match in
                let marker = t("help.default-subcommand")
                let pad = max(1, match.output.pad.count + 10 - TextTable.width(marker))
                return match.output.pad.isEmpty ? marker : marker + String(repeating: " ", count: pad)
            }
            if let match = line.firstMatch(of: /See '(?<command>[^']+) <subcommand>' for detailed help\./) {
                line.replaceSubrange(match.range, with: t("help.see-detailed", ["command": String(match.output.command)]))
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
