import Foundation

extension Strings {
    /// The texts of `language`, read once per process from the module's resource bundle; a key
    /// the language's table lacks reads in English (the tests keep that from shipping).
    public static func load(_ language: Language) -> Strings {
        Strings(language: language, table: withFallback[language] ?? [:])
    }

    /// The language's own table, without the English fallback: what the tests check is complete.
    public static func own(_ language: Language) -> Strings {
        Strings(language: language, table: loaded[language] ?? [:])
    }

    private static let withFallback: [Language: [String: String]] = Dictionary(uniqueKeysWithValues: Language.allCases.map { language in
        (language, (loaded[.english] ?? [:]).merging(loaded[language] ?? [:]) { _, own in own })
    })

    /// The language's texts, or nil when its table is missing or unreadable (see `resourcesFolder`).
    public static var isInstalled: Bool { loaded.count == Language.allCases.count }

    private static let loaded: [Language: [String: String]] = {
        guard let folder = resourcesFolder else { return [:] }
        var tables: [Language: [String: String]] = [:]
        // SwiftPM writes `zh-Hans.lproj` as `zh-hans.lproj`: folder names are matched without case.
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for language in Language.allCases {
            guard let name = folders.first(where: { $0.lowercased() == "\(language.rawValue).lproj".lowercased() }) else { continue }
            let file = folder.appendingPathComponent(name).appendingPathComponent("Localizable.strings")
            guard let data = try? Data(contentsOf: file),
                  let plist = try? PropertyListSerialization.propertyList(from: data, format: nil),
                  let table = plist as? [String: String] else { continue }
            tables[language] = table
        }
        return tables
    }()

    /// Where the `.lproj` folders are. SwiftPM's `Bundle.module` would find the same
    /// bundle but traps when it is missing (a binary copied without it); this looks
    /// beside the executable and beside the main bundle, and a missing table shows keys
    /// instead of stopping (the server logs it at start: `isInstalled`).
    static var resourcesFolder: URL? {
        let bundleName = "FieldSync_FieldSyncLocalization.resources"
        var candidates: [URL] = [
            Bundle.main.bundleURL.appendingPathComponent(bundleName),
            URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent(bundleName),
        ]
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent(bundleName))
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("en.lproj/Localizable.strings").path) }
    }
}

extension Language {
    /// The language a command line speaks: `--lang` if given, else the environment's, else English.
    public static func chosen(flag: Language?, environment: [String: String] = ProcessInfo.processInfo.environment) -> Language {
        flag ?? of(environment: environment) ?? fallback
    }
}
