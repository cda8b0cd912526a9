import ArgumentParser

@main
struct FieldSync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync",
        abstract: "Keep customer files, visits, faults and complaints in a replica that works offline.",
        discussion: """
            Records live in a SQLite replica in $FIELDSYNC_HOME (default ~/.fieldsync), or the \
            folder given with --home. Every change is recorded offline and queued for the next sync.

            Record ids can be abbreviated to any unique prefix, like git commits. Times are ISO 8601 \
            (2026-11-23T09:30, 2026-11-23T09:30:00+08:00) or 'now'; a time without an offset is local time.
            """,
        subcommands: [
            InitCommand.self, StatusCommand.self, VerifyCommand.self,
            CustomerCommand.self, ContactCommand.self, AgreementCommand.self,
            VisitCommand.self, FaultCommand.self, ComplaintCommand.self, ConflictsCommand.self,
        ]
    )
}
