// swift-tools-version:6.2
import PackageDescription

/// One settings list for every target: Swift 6 mode with strict concurrency,
/// plus the upcoming features the Swift server packages adopt.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "FieldSync",
    defaultLocalization: "en",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fieldsync", targets: ["fieldsync"]),
        .executable(name: "fieldsync-server", targets: ["fieldsync-server"]),
        .executable(name: "fieldsync-bench", targets: ["FieldSyncBenchmarks"]),
        .executable(name: "fieldsync-battery", targets: ["FieldSyncBattery"]),
        .library(name: "FieldSyncModel", targets: ["FieldSyncModel"]),
        .library(name: "FieldSyncStore", targets: ["FieldSyncStore"]),
        .library(name: "FieldSyncKPI", targets: ["FieldSyncKPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // One trait, not Hummingbird's default two: SwiftPM orders a package's enabled
        // traits differently from one build plan to the next (`swift build` against
        // `swift test`), so two -D flags swapped places and every alternation
        // recompiled Hummingbird (28 s). We do not use swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // Records, hybrid logical clock, field changes and merge rules. No I/O.
        .target(
            name: "FieldSyncModel",
            swiftSettings: swiftSettings
        ),
        // Every user-facing text in English and Chinese (`.strings` in the bundle), the
        // language a person reads, and dates, times and durations as a reader of it expects.
        .target(
            name: "FieldSyncLocalization",
            dependencies: ["FieldSyncModel"],
            exclude: ["README.md"],
            resources: [.process("Resources")],
            swiftSettings: swiftSettings
        ),
        // Service-level KPIs from the records: working-day calendar, periods, the engine, the
        // handbook's documents. No I/O.
        .target(
            name: "FieldSyncKPI",
            dependencies: ["FieldSyncModel", "FieldSyncLocalization"],
            swiftSettings: swiftSettings
        ),
        // The SQLite replica: schema, change capture into the outbox, merge-apply.
        .target(
            name: "FieldSyncStore",
            dependencies: [
                "FieldSyncModel",
                "FieldSyncKPI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The provincial server's PostgreSQL engine: accounts, sync, KPI inputs, `store copy`, migrations, the change log that never skips a row.
        .target(
            name: "FieldSyncPostgres",
            dependencies: [
                "FieldSyncModel", "FieldSyncProtocol", "FieldSyncServerCore", "FieldSyncKPI", "FieldSyncStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What travels between replicas and servers: sync and enrolment messages.
        .target(
            name: "FieldSyncProtocol",
            dependencies: [
                "FieldSyncModel",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The server's rules and storage protocols, with no SQL and no HTTP (README.md there).
        .target(
            name: "FieldSyncServerCore",
            dependencies: ["FieldSyncModel", "FieldSyncProtocol", "FieldSyncKPI", "FieldSyncLocalization", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        // The SQLite engine of the server: users, devices, the change log and the sync's SQL, in the server's replica file.
        .target(
            name: "FieldSyncSQLiteServer",
            dependencies: [
                "FieldSyncServerCore", "FieldSyncModel", "FieldSyncStore", "FieldSyncProtocol", "FieldSyncKPI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        // fieldsync-server's library: the HTTPS app and its routes, the CA, the data folder, the upstream relay.
        .target(
            name: "FieldSyncServer",
            dependencies: [
                "FieldSyncServerCore", "FieldSyncSQLiteServer", "FieldSyncModel", "FieldSyncStore", "FieldSyncProtocol", "FieldSyncKPI",
                "FieldSyncClient", "FieldSyncLocalization",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A branch server's link to its provincial server: the relay loop (README in its folder).
        .target(
            name: "FieldSyncRelay",
            dependencies: [
                "FieldSyncSQLiteServer", "FieldSyncServerCore", "FieldSyncModel", "FieldSyncStore", "FieldSyncProtocol", "FieldSyncClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        // The sync client every laptop (and a branch server's upstream) uses.
        .target(
            name: "FieldSyncClient",
            dependencies: [
                "FieldSyncModel", "FieldSyncStore", "FieldSyncProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What both command lines share: the one-line error style, "did you mean" for a mistyped command.
        .target(
            name: "FieldSyncCommandLine",
            dependencies: [
                "FieldSyncModel",
                "FieldSyncProtocol",
                "FieldSyncLocalization",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fieldsync-server",
            dependencies: [
                "FieldSyncServerCore", "FieldSyncSQLiteServer", "FieldSyncServer", "FieldSyncStore", "FieldSyncModel", "FieldSyncProtocol", "FieldSyncKPI", "FieldSyncClient", "FieldSyncPostgres",
                "FieldSyncCommandLine", "FieldSyncRelay",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The field CLI.
        .executableTarget(
            name: "fieldsync",
            dependencies: [
                "FieldSyncModel",
                "FieldSyncKPI",
                "FieldSyncLocalization",
                "FieldSyncStore",
                "FieldSyncProtocol",
                "FieldSyncClient",
                "FieldSyncCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Clients/fieldsync",
            swiftSettings: swiftSettings
        ),
        // `swift run -c release fieldsync-bench`: throughput figures next to raw SQLite.
        .executableTarget(
            name: "FieldSyncBenchmarks",
            dependencies: [
                "FieldSyncModel", "FieldSyncPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                "FieldSyncKPI",
                "FieldSyncStore",
                "FieldSyncProtocol",
                "FieldSyncServerCore",
                "FieldSyncSQLiteServer",
                "FieldSyncServer",
                "FieldSyncRelay",
                "FieldSyncClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        // `swift run fieldsync-battery [--long]`: real server and laptops under SIGKILL; checks nothing is lost or doubled.
        .executableTarget(
            name: "FieldSyncBattery",
            dependencies: ["FieldSyncModel", "FieldSyncStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the test targets: the replica simulation, temporary folders.
        .target(
            name: "FieldSyncTestSupport",
            dependencies: ["FieldSyncModel"],
            path: "Tests/FieldSyncTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FieldSyncLocalizationTests",
            dependencies: ["FieldSyncModel", "FieldSyncKPI", "FieldSyncLocalization", "FieldSyncCommandLine"],
            // The reviewed documents the tests compare with: read from the source folder.
            exclude: ["Expected"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FieldSyncModelTests",
            dependencies: ["FieldSyncModel", "FieldSyncKPI", "FieldSyncLocalization", "FieldSyncTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FieldSyncStoreTests",
            dependencies: [
                "FieldSyncModel",
                "FieldSyncKPI",
                "FieldSyncStore",
                "FieldSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The wire messages' codecs and digests, against their oracles and pinned vectors.
        .testTarget(
            name: "FieldSyncProtocolTests",
            dependencies: [
                "FieldSyncModel", "FieldSyncProtocol", "FieldSyncTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The server's rules without an engine.
        .testTarget(
            name: "FieldSyncServerCoreTests",
            dependencies: ["FieldSyncModel", "FieldSyncProtocol", "FieldSyncServerCore", "FieldSyncCommandLine", "FieldSyncLocalization"],
            swiftSettings: swiftSettings
        ),
        // The SQLite engine's own tables, migrations and relay pages, without HTTP.
        .testTarget(
            name: "FieldSyncSQLiteServerTests",
            dependencies: [
                "FieldSyncModel", "FieldSyncProtocol", "FieldSyncStore", "FieldSyncServerCore", "FieldSyncSQLiteServer", "FieldSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FieldSyncSyncTests",
            dependencies: [
                "FieldSyncModel", "FieldSyncStore", "FieldSyncProtocol", "FieldSyncServerCore", "FieldSyncSQLiteServer", "FieldSyncServer", "FieldSyncClient",
                "FieldSyncKPI", "FieldSyncRelay", "FieldSyncLocalization",
                "FieldSyncPostgres", "FieldSyncTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FieldSyncCLITests",
            dependencies: [
                "fieldsync",
                "fieldsync-server",
                "FieldSyncKPI",
                "FieldSyncStore",
                "FieldSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
