// `swift run fieldsync-battery [--long] [--seconds N] [--clients N] [--dir DIR]`
//
// The crash battery: a real `fieldsync-server` and several real `fieldsync`
// laptops on 127.0.0.1, writing and syncing without pause, while the server is
// killed with SIGKILL at random moments and restarted (or frozen with SIGSTOP
// past the laptops' timeout), laptops' syncs are killed mid-run, and the last
// laptop talks through a relay that cuts, stalls and slows its connections. Then everything syncs once more and the battery checks that
// every database passes `PRAGMA integrity_check`, that every visit a laptop
// wrote is on the server and on every laptop exactly once (nothing acknowledged
// is lost, nothing is applied twice), and that all replicas hold the same records.
// It stops by itself: the short mode (CI) in about a minute, `--long` after at
// least 100 server kills. Exit 0 when every check holds, 1 otherwise.

import Foundation

let options = BatteryOptions(CommandLine.arguments.dropFirst())
let battery = try Battery(options: options)
let outcome = try battery.run()
print(outcome.report)
exit(outcome.passed ? 0 : 1)
