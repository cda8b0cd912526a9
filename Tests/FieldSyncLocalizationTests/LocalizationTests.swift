import FieldSyncCommandLine
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import Foundation
import Testing

/// Both languages complete, the code's keys all present, the glossary's terms the ones on
/// screen, the language chosen the usual way, and dates as a reader of each expects.
@Suite struct LocalizationTests {
    static let english = Strings.load(.english)
    static let chinese = Strings.load(.chinese)
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyKeyHasBothLanguagesWithTheSamePlaceholders() {
        // Each language's own table: `load` falls back to English, which would hide a missing key.
        let english = Strings.own(.english), chinese = Strings.own(.chinese)
        #expect(Strings.isInstalled, "the resource bundle with both tables is found")
        #expect(english.keys.count > 150)
        #expect(english.keys == chinese.keys,
                "only in English: \(english.keys.subtracting(chinese.keys).sorted()); only in Chinese: \(chinese.keys.subtracting(english.keys).sorted())")
        for key in english.keys.sorted() {
            let englishText = english.text(of: key) ?? "", chineseText = chinese.text(of: key) ?? ""
            for text in [englishText, chineseText] {
                let opens = text.filter { $0 == "{" }.count, closes = text.filter { $0 == "}" }.count
                #expect(opens == closes, "\(key): unbalanced braces in \(text)")
            }
            #expect(!englishText.isEmpty && !chineseText.isEmpty, "\(key) is empty in a language")
            // A format picks from what the code offers (`{mm}` or `{month}`); a sentence fills the same names in both.
            if !key.hasPrefix("format."), !key.hasPrefix("limit.") {
                #expect(Strings.placeholders(in: englishText) == Strings.placeholders(in: chineseText), "\(key): \(englishText) / \(chineseText)")
            }
        }
    }

    /// Every literal key the code looks up (`t("…")`, `strings("…")`) is in the tables, and every
    /// term built from a name (a kind, a state, a KPI, a choice) has its key.
    @Test func everyKeyTheCodeUsesIsInTheTables() throws {
        var used: Set<String> = []
        let pattern = try Regex(#"\b(?:t|strings|text|ErrorText|key: )\(?"([a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)+)""#)
        // The command line's table headings (`columns("id", "name")`) and counted nouns (`count(n, "record")`).
        let headings = try Regex(#"\bcolumns\(((?:"[a-z-]+"(?:, )?)+)\)"#), counted = try Regex(#"\bcount\([^,()]+(?:\([^()]*\))?, "([a-z-]+)"\)"#)
        for folder in ["Sources", "Clients"] {
            let base = Self.root.appendingPathComponent(folder)
            let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
            for file in files {
                let source = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                for match in source.matches(of: pattern) { used.insert(String(match.output[1].substring ?? "")) }
                for match in source.matches(of: headings) where folder == "Clients" {
                    for name in (match.output[1].substring ?? "").split(separator: ",") { used.insert("column." + name.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))) }
                }
                for match in source.matches(of: counted) where folder == "Clients" {
                    let noun = String(match.output[1].substring ?? "")
                    used.formUnion(["count.\(noun).one", "count.\(noun).other"])
                }
            }
        }
        #expect(used.count > 60, "the scan found the code's keys")
        let missing = used.subtracting(Self.english.keys)
        #expect(missing.isEmpty, "keys used but not in the tables: \(missing.sorted())")
        for kind in RecordKind.allCases { #expect(Self.english.has("kind.\(kind.rawValue)")) }
        for kpi in KPI.allCases { #expect(Self.english.has("kpi.\(kpi.rawValue)")) }
        for kind in [RecordKind.fault, .complaint] {
            for state in WorkflowStatus.states(for: kind) { #expect(Self.english.has("state.\(kind.rawValue).\(state)")) }
        }
        for choice in RecordSchema.serviceLevels + RecordSchema.visitKinds + RecordSchema.complaintChannels + RecordSchema.dispatchStates
            + RecordSchema.calendarDayKinds + RecordSchema.documentLanguages { #expect(Self.english.has("choice.\(choice)"), "choice \(choice)") }
        #expect(RecordSchema.documentLanguages == Language.allCases.map(\.rawValue), "a customer's document language is one FieldSync speaks")
        for weekday in 1...7 { #expect(Self.chinese.has("weekday.\(weekday)")) }
    }

    /// Every refusal of a value (each field of each kind, given values of every wrong type) and of a
    /// workflow step carries a key both tables hold, with every name its texts ask for.
    @Test func recordAndWorkflowRefusalsHaveTexts() {
        var refusals: [RecordValidationError] = []
        func collect(_ body: () throws -> Void) {
            do { try body() } catch let error as RecordValidationError { refusals.append(error) } catch { Issue.record(error) }
        }
        let wrong: [FieldValue] = [.null, .int(-1), .text(""), .text("x"), .text("a\u{0}b"), .text(String(repeating: "x", count: RecordLimits.maxTextLength + 1))]
        for kind in RecordKind.allCases {
            let schema = kind.schema
            collect { try schema.check(field: "no_such_field", value: .null) }
            for spec in schema.fields { for value in wrong { collect { try schema.check(field: spec.name, value: value) } } }
            for (earlier, later) in schema.timeOrder {
                var values: [String: FieldValue] = [:]
                for spec in schema.fields where spec.required { values[spec.name] = Self.valid(spec.type, of: kind) }
                collect {
                    try schema.check(record: values.merging([earlier: .text("2026-11-23T10:00:00+08:00"), later: .text("2026-11-23T09:00:00+08:00")]) { _, new in new })
                }
            }
            for action in [CaseAction.feedback(at: "t"), .resolve(at: "t", result: nil), .close(at: "t", report: nil), .escalate(at: "t", reason: nil), .reopen] {
                for status in [WorkflowStatus(round: 1, rank: 0), WorkflowStatus(round: 1, rank: WorkflowStatus.closed),
                               WorkflowStatus(round: WorkflowStatus.maxRound, rank: WorkflowStatus.done)] {
                    let current = CaseType.of(kind) == nil ? [:] : ["status": FieldValue.text(status.text(for: kind))]
                    collect { _ = try CaseWorkflow.fields(for: action, on: kind, current: current) }
                }
            }
        }
        #expect(refusals.count > 100)
        var keys: Set<String> = []
        for refusal in refusals {
            guard let key = refusal.key else {
                Issue.record("no text key for '\(refusal.message)'")
                continue
            }
            keys.insert(key)
            var offered = Set(refusal.values.keys)
            for (name, derived) in [("table", "kind"), ("target", "target-kind"), ("field", "field-name"), ("earlier", "earlier-name"),
                                    ("later", "later-name"), ("state", "state-name"), ("done", "done-name")] where offered.contains(name) {
                offered.insert(derived)
            }
            for strings in [Strings.own(.english), Strings.own(.chinese)] {
                guard let text = strings.text(of: key) else {
                    Issue.record("\(key) is missing in \(strings.language)")
                    continue
                }
                #expect(Strings.placeholders(in: text).isSubset(of: offered), "\(key) asks for more than \(offered.sorted())")
            }
        }
        #expect(keys.count >= 25, "\(keys.sorted())")
    }

    static func valid(_ type: FieldType, of kind: RecordKind) -> FieldValue {
        switch type {
        case .text, .any: .text("x")
        case .bool: .int(0)
        case .int, .hours: .int(1)
        case .time: .text("2026-11-23T08:00:00+08:00")
        case .date: .text("2026-11-23")
        case .choice(let allowed): .text(allowed[0])
        case .status: .text(WorkflowStatus.opened.text(for: kind))
        case .reference: .text("00000000-0000-4000-8000-000000000000")
        }
    }

    /// The command lines' files whose every message, table heading, help text (abstract, discussion,
    /// option help) and error goes through the tables: a literal with English words in them fails here.
    /// Every file of `fieldsync` and of the shared command-line module, so a new one is checked too;
    /// the hidden crash-test command is the one left out.
    static var localizedFiles: [String] {
        let folders = ["Clients/fieldsync", "Sources/FieldSyncCommandLine", "Sources/fieldsync-server"]
        let files = folders.flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? [])
                .filter { $0.hasSuffix(".swift") }.map { "\(folder)/\($0)" }
        }
        return files.filter { $0 != "Clients/fieldsync/DebugCommands.swift" }.sorted()
    }

    @Test func localizedFilesPrintNoEnglishOfTheirOwn() throws {
        let sinks = ["print(\"", "TextTable(\"", "empty: \"", "abstract: \"", "discussion: \"", "InputError(\"", "+ \"", "help: \"", "ArgumentHelp(\"",
                     "ValidationError(\"", "refuseForManager(\"", "note = \"", "return \"", "message: \"", "subject: \"", "detail: \"", "action: \"",
                     "title: \"", "Data(\""]
        #expect(Self.localizedFiles.count >= 25, "the command lines' files were found")
        for file in Self.localizedFiles {
            let source = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            #expect(!source.contains("discussion: \"\"\""), "\(file): a help text written in the code")
            for (number, line) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                for sink in sinks {
                    var rest = Substring(line)
                    while let start = rest.range(of: sink) {
                        let literal = Self.literal(rest[start.upperBound...])
                        #expect(literal.firstMatch(of: /[A-Za-z]{2}/) == nil, "\(file):\(number + 1): '\(literal)' is not from the tables")
                        rest = rest[start.upperBound...]
                    }
                }
            }
        }
    }

    /// A string literal's text up to its closing quote, without its interpolations.
    static func literal(_ text: Substring) -> String {
        var out = "", depth = 0, escaped = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if depth > 0 {
                if character == "(" { depth += 1 } else if character == ")" { depth -= 1 }
            } else if escaped {
                if character == "(" { depth = 1 }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                break
            } else {
                out.append(character)
            }
            index = text.index(after: index)
        }
        return out
    }

    /// The Chinese and English on screen are the glossary's (Protocol/GLOSSARY.md); a
    /// glossary term's parenthesised gloss (客户档案（客户服务资料档案）) may be left off.
    @Test func theScreensUseTheGlossarysTerms() throws {
        let glossary = try String(contentsOf: Self.root.appendingPathComponent("Protocol/GLOSSARY.md"), encoding: .utf8)
        func section(_ heading: String) -> [Substring] {
            guard let start = glossary.range(of: "\n## \(heading)") else { return [] }
            let rest = glossary[start.upperBound...]
            let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
            return rest[..<end].split(separator: "\n")
        }
        func rows(_ lines: [Substring]) -> [(keys: [String], chinese: [String], english: [String])] {
            lines.filter { $0.hasPrefix("| `") }.map { line in
                let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                let keys = cells[0].split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
                let split = { (cell: String) in cell.components(separatedBy: " / ") }
                return (keys, split(cells[1]), split(cells[2]))
            }
        }
        func matches(_ shown: String?, _ term: String) -> Bool {
            guard let shown else { return false }
            let short = term.replacingOccurrences(of: #"（[^）]*）$"#, with: "", options: .regularExpression)
                .replacingOccurrences(of: #" \([^)]*\)$"#, with: "", options: .regularExpression)
            return shown == term || shown == short
        }
        var checked = 0
        func check(_ key: String, _ chinese: String, _ english: String) {
            #expect(matches(Self.chinese.text(of: key), chinese), "\(key): \(Self.chinese.text(of: key) ?? "missing") against the glossary's \(chinese)")
            #expect(matches(Self.english.text(of: key), english), "\(key): \(Self.english.text(of: key) ?? "missing") against the glossary's \(english)")
            checked += 1
        }
        for row in rows(section("Records")) { check("kind.\(row.keys[0])", row.chinese[0], row.english[0]) }
        let tables = ["Customer file": "customers", "Contact": "contacts", "Service agreement": "agreements", "Visit record": "visits",
                      "Fault report": "faults", "Complaint": "complaints"]
        for (heading, table) in tables {
            let lines = section("Fields")
            guard let start = lines.firstIndex(where: { $0.hasPrefix("### \(heading) (") }) else {
                Issue.record("no glossary section \(heading)")
                continue
            }
            let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("### ") } ?? lines.endIndex
            for row in rows(Array(lines[start..<end])) { check("field.\(table).\(row.keys[0])", row.chinese[0], row.english[0]) }
        }
        for row in rows(section("Choices")) where row.keys.count == row.chinese.count {
            for (index, key) in row.keys.enumerated() { check("choice.\(key)", row.chinese[index], row.english[index]) }
        }
        for row in rows(section("KPIs (客户经理考核指标)")) { check("kpi.\(row.keys[0])", row.chinese[0], row.english[0]) }
        #expect(checked > 90)
    }

    /// Every form of limit the KPI engine writes reads back: unchanged in English (the API's
    /// wording), in Chinese without a word of English but the ids.
    @Test func kpiLimitsReadInEachLanguage() {
        let forms: [(String, String)] = [
            ("60 min", "60分钟"), ("30 min (VIP)", "30分钟（VIP）"), ("2 h", "2小时"), ("1 h (VIP)", "1小时（VIP）"),
            ("3 working days", "3个工作日"), ("2 working days after resolution", "办结后2个工作日"),
            ("agreed 2026-11-20T18:00:00+08:00", "约定于2026年11月20日 18:00"), ("4 h (agreement HZ 2024-017)", "4小时（协议 HZ 2024-017）"),
            ("8 h FieldSync default", "8小时（系统默认时限）"), ("4 h (VIP) province default", "4小时（VIP，全省默认时限）"),
            ("due 2026-11-28 (HZ-7 ends 2027-02-28)", "应于2026年11月28日前（协议 HZ-7 于2027年2月28日到期）"), ("week 2026-W07", "2026年第7周"),
        ]
        for (english, chinese) in forms {
            #expect(KPILimitText.localized(english, Self.chinese) == chinese)
            if !english.hasPrefix("agreed") { #expect(KPILimitText.localized(english, Self.english) == english) }
        }
        #expect(KPILimitText.localized("agreed 2026-11-20T18:00:00+08:00", Self.english) == "agreed 2026-11-20 18:00")
        for unknown in ["", "h", "9999999 h", "week 2026", "due x", "4 h (agreement", "something new"] {
            #expect(KPILimitText.localized(unknown, Self.chinese) == unknown, "a form it does not know shows as it is")
        }
    }

    /// `--lang` is taken off anywhere before `--`, the last one wins, a bad or missing value is an error.
    @Test func langIsTakenOffTheCommandLine() {
        let split = CommandLanguage.split(["visit", "log", "--lang", "zh", "C1", "--summary", "x", "--lang=en"])
        #expect(split.arguments == ["visit", "log", "C1", "--summary", "x"] && split.flag == .english && split.error == nil)
        let after = CommandLanguage.split(["visit", "log", "--summary", "--", "--lang", "zh"])
        #expect(after.arguments == ["visit", "log", "--summary", "--", "--lang", "zh"] && after.flag == nil, "after --, a value like any other")
        #expect(CommandLanguage.split(["status", "--lang", "fr"]).error?.contains("'fr' is not a language") == true)
        #expect(CommandLanguage.split(["status", "--lang"]).error == "--lang needs a value: en or zh")
        #expect(CommandLanguage.split(["status", "--lang="]).error != nil)
    }

    @Test func theLanguageIsChosenTheUsualWay() {
        #expect(Language(tag: "zh_CN.UTF-8") == .chinese && Language(tag: "zh-Hans") == .chinese && Language(tag: "zh-TW") == .chinese)
        #expect(Language(tag: "en_GB.UTF-8") == .english && Language(tag: "C") == nil && Language(tag: "POSIX") == nil && Language(tag: "") == nil)
        #expect(Language.of(environment: ["LANG": "zh_CN.UTF-8"]) == .chinese)
        #expect(Language.of(environment: ["LANG": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"]) == .english, "LC_ALL overrides LANG")
        #expect(Language.of(environment: ["LANG": "zh_CN.UTF-8", "LC_MESSAGES": "C"]) == nil, "the first one set decides, even C")
        #expect(Language.of(environment: ["LC_ALL": "", "LANG": "zh_CN.UTF-8"]) == .chinese, "an empty one is unset")
        #expect(Language.chosen(flag: .english, environment: ["LANG": "zh_CN.UTF-8"]) == .english, "--lang overrides the environment")
        #expect(Language.chosen(flag: nil, environment: [:]) == .english)
        #expect(Language.of(acceptLanguage: "zh-CN,zh;q=0.9,en;q=0.8") == .chinese)
        #expect(Language.of(acceptLanguage: "fr-FR, en;q=0.5, zh;q=0.7") == .chinese)
        #expect(Language.of(acceptLanguage: "en-US,en;q=0.9") == .english)
        #expect(Language.of(acceptLanguage: "fr, de;q=0.9") == nil)
        #expect(Language.of(acceptLanguage: "zh;q=0, en;q=abc") == nil, "a refused language and a bad weight count for nothing")
        #expect(Language.of(acceptLanguage: String(repeating: "xx,", count: 10_000) + "zh") == nil, "only the first 32 entries are read")
    }

    @Test func datesTimesAndDurationsReadAsEachLanguageExpects() throws {
        let monday = try #require(LocalDate(iso: "2026-11-23"))
        let time = try #require(Timestamp(iso: "2026-11-23T09:30:00+08:00"))
        #expect(Self.chinese.date(monday) == "2026年11月23日")
        #expect(Self.chinese.dateWithWeekday(monday) == "2026年11月23日（星期一）")
        #expect(Self.chinese.time(time) == "2026年11月23日 09:30")
        #expect(Self.english.date(monday) == "2026-11-23")
        #expect(Self.english.dateWithWeekday(monday) == "Mon 2026-11-23")
        #expect(Self.english.time(time) == "2026-11-23 09:30")
        // In the time's own zone (the record's), not the reader's: 09:30 in Hangzhou is 01:30 UTC.
        #expect(Self.chinese.time(Timestamp(epochSeconds: time.epochSeconds, offsetMinutes: 0)) == "2026年11月23日 01:30")
        #expect(Self.chinese.duration(seconds: 45 * 60) == "45分钟")
        #expect(Self.chinese.duration(seconds: 2 * 3_600 + 10 * 60) == "2小时10分钟")
        #expect(Self.chinese.duration(seconds: 51 * 3_600) == "2天3小时")
        #expect(Self.english.duration(seconds: 2 * 3_600 + 10 * 60) == "2 h 10 min")
        #expect(Self.chinese("report.late-by", ["duration": "5分钟"]) == "超时5分钟")
        #expect(Self.english("no.such.key") == "no.such.key", "a missing key shows itself, never traps")
        #expect(Self.english("report.late-by", [:]) == "late by {duration}", "an unfilled placeholder shows its name")
        #expect(Strings(language: .english, table: ["k": "a{b"])("k", ["b": "x"]) == "a{b", "an unclosed brace is kept once")
        #expect(Strings(language: .english, table: ["k": "{a}{b}"])("k", ["a": "{b}", "b": "2"]) == "{b}2", "a value is never filled again")
    }
}
