import ArgumentParser
import FieldSyncLocalization
import FieldSyncModel
import Foundation

/// How both command lines (`fieldsync`, `fieldsync-server`) end on an error: one
/// line on stderr, `error: …`, naming the fix where there is one, and an exit
/// code saying which kind of mistake it was. Help and version print as
/// ArgumentParser writes them.
public enum CommandLineFailure {
    /// Prints `error: message` and exits with `code`.
    public static func exit(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((CommandLanguage.strings("cli.error", ["message": message]) + "\n").utf8))
        Foundation.exit(code)
    }

    /// Ends the program for an error ArgumentParser raised or a command threw:
    /// help and `--version` as ArgumentParser prints them, anything else as one line.
    public static func exit(_ error: any Error, root: any ParsableCommand.Type, arguments: [String]) -> Never {
        let code = root.exitCode(for: error)
        if code == .success {
            // Help, in the reader's language: ArgumentParser's own words (headings, -h) through the tables.
            // Anything else that ends cleanly (a completion script, a help dump) as ArgumentParser writes it.
            let text = root.fullMessage(for: error)
            guard text.hasPrefix("OVERVIEW:") || text.hasPrefix("USAGE:") else { root.exit(withError: error) }
            print(HelpText.localized(text, CommandLanguage.strings))
            Foundation.exit(0)
        }
        if code == .validationFailure, !(error is ValidationError) {
            let (command, unknown) = reading(root: root, arguments: arguments)
            exit(unknown ?? CommandLanguage.strings("cli.see-help", ["message": parserMessage(root.message(for: error)), "command": command]),
                 code: code.rawValue)
        }
        let message = root.message(for: error)
        // `throw ExitCode.failure` after the command printed what it found: no empty "error:" line.
        if message.isEmpty { Foundation.exit(code.rawValue) }
        exit(message, code: code.rawValue)
    }

    /// ArgumentParser's message about what was typed, in the reader's language where it has one of its
    /// usual forms (a missing argument or value, an unknown option, a value not among the choices).
    static func parserMessage(_ message: String) -> String {
        let t = CommandLanguage.strings
        guard t.language != .english else { return message }
        if let match = message.wholeMatch(of: /Missing expected argument '(?<name>.+)'/) {
            return t("cli.parse.missing-argument", ["argument": String(match.output.name)])
        }
        if let match = message.wholeMatch(of: /Missing value for '(?<name>.+)'/) {
            return t("cli.parse.missing-value", ["option": String(match.output.name)])
        }
        if let match = message.wholeMatch(of: /Unexpected argument '(?<name>.+)'/) {
            return t("cli.parse.unexpected", ["argument": String(match.output.name)])
        }
        if let match = message.wholeMatch(of: /Unknown option '(?<name>[^']+)'\. Did you mean '(?<close>[^']+)'\?/) {
            return t("cli.parse.unknown-option-close", ["option": String(match.output.name), "close": String(match.output.close)])
        }
        if let match = message.wholeMatch(of: /Unknown option '(?<name>.+)'/) {
            return t("cli.parse.unknown-option", ["option": String(match.output.name)])
        }
        if let match = message.wholeMatch(of: /The value '(?<value>.*)' is invalid for '(?<name>[^']+)'\. Please provide one of (?<choices>.+)\./) {
            return t("cli.parse.not-a-choice", ["value": String(match.output.value), "option": String(match.output.name),
                                                "choices": String(match.output.choices.replacing(" and ", with: ", ").replacing(" or ", with: ", "))])
        }
        if let match = message.wholeMatch(of: /The value '(?<value>.*)' is invalid for '(?<name>[^']+)'.*/) {
            return t("cli.parse.invalid-value", ["value": String(match.output.value), "option": String(match.output.name)])
        }
        return message
    }

    /// The command the arguments name (`fieldsync visit log`), for "see '… --help'", and,
    /// when a word names no subcommand where one was expected, "'custmer' is not a
    /// fieldsync command; did you mean 'fieldsync customer'?".
    static func reading(root: any ParsableCommand.Type, arguments: [String]) -> (command: String, unknown: String?) {
        var level = Level(root)
        var path = [level.name]
        for word in arguments {
            // After an option or at a command without subcommands, the rest are its arguments.
            if word.hasPrefix("-") || level.subcommands.isEmpty { break }
            if let next = level.subcommands.first(where: { $0.name == word || $0.aliases.contains(word) }) {
                level = next
                path.append(word)
                continue
            }
            let names = level.subcommands.filter(\.shown).map(\.name)
            let command = path.joined(separator: " ")
            let suggestion = ClosestName.to(word, among: names).map { CommandLanguage.strings("cli.unknown-command.did-you-mean", ["command": "\(command) \($0)"]) }
                ?? CommandLanguage.strings("cli.unknown-command.one-of", ["names": names.joined(separator: ", ")])
            return (command, CommandLanguage.strings("cli.unknown-command", ["word": word, "command": command, "suggestion": suggestion]))
        }
        return (path.joined(separator: " "), nil)
    }

    /// A command's name, aliases and subcommands, read through a generic so the
    /// compiler need not open the existential metatype (Swift 6.3 crashed on it).
    private struct Level {
        let name: String
        let aliases: [String]
        /// Listed in help (debug commands are not suggested).
        let shown: Bool
        let subcommandTypes: [any ParsableCommand.Type]

        init(_ type: any ParsableCommand.Type) {
            (name, aliases, shown, subcommandTypes) = Self.describe(type)
        }

        var subcommands: [Level] { subcommandTypes.map(Level.init) }

        private static func describe<Command: ParsableCommand>(_ type: Command.Type) -> (String, [String], Bool, [any ParsableCommand.Type]) {
            (Command._commandName, Command.configuration.aliases, Command.configuration.shouldDisplay, Command.configuration.subcommands)
        }
    }
}
