import ArgumentParser
import FieldSyncModel
import FieldSyncStore

/// Hidden: drives the crash-consistency test, which kills this loop at random
/// points and then checks the replica with `fieldsync verify`.
struct WriteLoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-loop", abstract: "Write records in a loop (crash tests).", shouldDisplay: false)

    @OptionGroup var options: HomeOption
    @Option var count = 1_000

    func run() throws {
        let replica = try options.open()
        var generator = SystemRandomNumberGenerator()
        for index in 0..<count {
            let customer = RecordID.make(using: &generator)
            try replica.write([
                RecordEdit(.customer, customer, [("name", .text("Customer \(index)")), ("level", .text("standard"))]),
                RecordEdit(.contact, RecordID.make(using: &generator), [("customer", .text(customer)), ("name", .text("Contact \(index)"))]),
            ])
            print(customer)
        }
    }
}
