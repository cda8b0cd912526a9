import FieldSyncLocalization
import Foundation

/// The language a command line speaks, chosen once per run: `--lang` anywhere on the
/// command line (before a `--`), else `LC_ALL`, `LC_MESSAGES` or `LANG`, else English.
/// `--lang` is taken off the arguments before ArgumentParser reads them, so every
/// command accepts it without declaring it, and help texts (built when first read)
/// are in the chosen language too.
public enum CommandLanguage {
    /// The arguments without `--lang`, the language it named, and an error for a bad one.
    public static func split(_ arguments: [String]) -> (arguments: [String], flag: Language?, error: String?) {
        var kept: [String] = []
        var flag: Language?
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let word = arguments[index]
            if word == "--" {
                kept += arguments[index...]
                break
            }
            var value: String?
            if word == "--lang" {
                guard index + 1 < arguments.endIndex else { return (kept, flag, "--lang needs a value: en or zh") }
                value = arguments[index + 1]
                index += 2
            } else if word.hasPrefix("--lang=") {
                value = String(word.dropFirst("--lang=".count))
                index += 1
            } else {
                kept.append(word)
                index += 1
                continue
            }
            guard let value, let language = Language(tag: value) else {
                return (kept, flag, "--lang: '\(value ?? "")' is not a language FieldSync speaks (\(Language.choices))")
            }
            flag = language
        }
        return (kept, flag, nil)
    }

    /// This run's `--lang`, if given.
    public static let flag: Language? = split(Array(CommandLine.arguments.dropFirst())).flag

    /// This run's language.
    public static let language: Language = Language.chosen(flag: flag)

    /// This run's texts.
    public static let strings: Strings = Strings.load(language)
}
