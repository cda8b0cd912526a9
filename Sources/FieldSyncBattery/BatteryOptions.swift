import Foundation

struct BatteryOptions {
    /// At least this many server kills before the battery stops (short mode: 12, long: 100).
    var serverKills = 12
    /// And at least this long under fire.
    var seconds = 40.0
    var clients = 3
    var dir: String?

    init(_ arguments: ArraySlice<String>) {
        var rest = arguments
        while let argument = rest.popFirst() {
            switch argument {
            case "--long":
                serverKills = 100
                seconds = 240
            case "--seconds": seconds = Double(rest.popFirst() ?? "") ?? seconds
            case "--clients": clients = max(2, Int(rest.popFirst() ?? "") ?? clients)
            case "--kills": serverKills = Int(rest.popFirst() ?? "") ?? serverKills
            case "--dir": dir = rest.popFirst()
            case "-h", "--help":
                print("usage: fieldsync-battery [--long] [--seconds N] [--kills N] [--clients N] [--dir DIR]")
                exit(0)
            default:
                FileHandle.standardError.write(Data("fieldsync-battery: unknown argument '\(argument)'\n".utf8))
                exit(64)
            }
        }
    }
}
