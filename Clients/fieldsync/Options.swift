import ArgumentParser
import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

/// `--home`: where the replica lives.
struct HomeOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(t("cli.home-help"), valueName: "dir"))
    var home: String?

    var folder: String { Self.folder(home: home) }

    static func folder(home: String?) -> String {
        if let home { return home }
        if let env = ProcessInfo.processInfo.environment["FIELDSYNC_HOME"], !env.isEmpty { return env }
        // $HOME first, as a shell's ~ does (Foundation on Linux reads the password database).
        let userHome = ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.path
        return (userHome as NSString).appendingPathComponent(".fieldsync")
    }

    var databasePath: String { (folder as NSString).appendingPathComponent(Replica.fileName) }

    /// The folder raw arguments name, for a message written after the command threw
    /// (a parsed command's options are out of reach there; a `ParsableArguments`
    /// must never be made by hand).
    static func folder(in arguments: [String]) -> String {
        if let index = arguments.firstIndex(of: "--home"), index + 1 < arguments.count { return arguments[index + 1] }
        if let inline = arguments.first(where: { $0.hasPrefix("--home=") }) { return String(inline.dropFirst("--home=".count)) }
        return folder(home: nil)
    }

    /// Opens the replica, or explains how to create one.
    /// `checkpointInBackground` for a sync's run of commits (see `Replica.open`).
    func open(checkpointInBackground: Bool = false) throws -> Replica {
        guard FileManager.default.fileExists(atPath: databasePath) else { throw StoreError.notInitialized(folder) }
        try Self.makePrivate(folder)
        return try Replica.open(path: databasePath, checkpointInBackground: checkpointInBackground)
    }

    /// Holds `<home>/sync.lock` (an exclusive `flock`, waiting for any holder)
    /// for the life of the returned descriptor: one sync, or one `enroll
    /// --new-node`, at a time on a replica, so an acknowledgement never lands on
    /// an outbox renumbered meanwhile. The kernel drops it with the process.
    static func lockForSync(_ folder: String) throws -> Int32 {
        let path = (folder as NSString).appendingPathComponent("sync.lock")
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StoreError.storage(message: t("cli.file.cannot-open", ["path": path, "reason": String(cString: strerror(errno))])) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(descriptor)
                throw StoreError.storage(message: t("cli.file.cannot-lock", ["path": path, "reason": String(cString: strerror(errno))]))
            }
        }
        return descriptor
    }

    /// The replica holds customers' files and the device's token: the folder is
    /// 0700 and every file in it 0600, whatever mode an existing `--home` folder
    /// or an older version left (new files are private from their first byte:
    /// `main` sets the umask).
    static func makePrivate(_ folder: String) throws {
        guard chmod(folder, 0o700) == 0 else {
            throw StoreError.storage(message: t("cli.file.cannot-secure", ["path": folder, "mode": "0700", "reason": String(cString: strerror(errno))]))
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            let path = (folder as NSString).appendingPathComponent(name)
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 != 0 else { continue }
            guard chmod(path, 0o600) == 0 else {
                throw StoreError.storage(message: t("cli.file.cannot-secure", ["path": path, "mode": "0600", "reason": String(cString: strerror(errno))]))
            }
        }
    }
}

/// `--home` and `--json` for commands that print data.
struct CommonOptions: ParsableArguments {
    @OptionGroup var location: HomeOption

    @Flag(name: .long, help: ArgumentHelp(t("cli.json-help")))
    var json = false

    func open(checkpointInBackground: Bool = false) throws -> Replica { try location.open(checkpointInBackground: checkpointInBackground) }

    /// What the server refuses from a manager (handing a file over, naming
    /// someone else as who answers for a case) is refused here at once, on an
    /// enrolled manager's laptop, instead of waiting refused in the outbox.
    func refuseForManager(_ reason: @autoclosure () -> String) throws {
        if try ServerBinding.load(home: location.folder)?.binding.user.role == .manager { throw InputError(reason()) }
    }
}

/// Times typed on the command line.
enum TimeInput {
    /// The clock the CLI reads for 'now'. FIELDSYNC_NOW fixes it (tests, replaying a day's notes).
    static func now() -> Timestamp {
        if let fixed = ProcessInfo.processInfo.environment["FIELDSYNC_NOW"], let time = Timestamp(iso: fixed, defaultOffsetMinutes: localOffsetMinutes) {
            return time
        }
        return Timestamp(epochSeconds: Int64(Date().timeIntervalSince1970), offsetMinutes: localOffsetMinutes)
    }

    static var localOffsetMinutes: Int { TimeZone.current.secondsFromGMT() / 60 }

    /// Parses `now` or an ISO 8601 time into the canonical stored form.
    static func parse(_ text: String, option: String) throws -> String {
        if text.lowercased() == "now" { return now().description }
        guard let time = Timestamp(iso: text, defaultOffsetMinutes: localOffsetMinutes) else {
            throw InputError(t("cli.error.not-a-time", ["option": option, "text": text]))
        }
        return time.description
    }

    static func parseDate(_ text: String, option: String) throws -> String {
        guard Timestamp.isValidDate(text) else {
            throw InputError(t("cli.error.not-a-date", ["option": option, "text": text]))
        }
        return text
    }
}

/// The closed lists parse case-insensitively; `--help` and the error for a
/// wrong value list what is allowed (swift-argument-parser's `CaseIterable` support).
protocol ChoiceArgument: ExpressibleByArgument, CaseIterable, RawRepresentable where RawValue == String {}

extension ChoiceArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ServiceLevel: ChoiceArgument {}
extension VisitKind: ChoiceArgument {}
extension ComplaintChannel: ChoiceArgument {}
extension DispatchState: ChoiceArgument {}

/// Checks a value against a fixed list, naming the option and the allowed values.
func choice(_ value: String, option: String, allowed: [String]) throws -> String {
    let normalized = value.lowercased()
    guard allowed.contains(normalized) else {
        throw InputError(t("cli.error.not-allowed", ["option": option, "value": value, "allowed": allowed.joined(separator: ", ")]))
    }
    return normalized
}

extension Replica {
    /// The signed-in person's name for `manager`, `owner` and `author` fields.
    func userName() throws -> String? { try identity()?.user }

    func require(_ kind: RecordKind, _ prefix: String) throws -> StoredRecord {
        let id = try resolve(kind, prefix)
        guard let record = try record(kind, id) else { throw StoreError.notFound(kind, prefix) }
        return record
    }

    /// Writes a new record with a fresh id; returns the id.
    func create(_ kind: RecordKind, _ fields: [(String, FieldValue)], also extra: [RecordEdit] = []) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let id = RecordID.make(using: &generator)
        try write([RecordEdit(kind, id, fields)] + extra)
        return id
    }
}

extension Optional where Wrapped == String {
    /// A field value from an optional option: absent means "leave unchanged".
    var fieldValue: FieldValue? { self.map { FieldValue.text($0) } }
}
