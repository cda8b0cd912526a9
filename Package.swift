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
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fieldsync", targets: ["fieldsync"]),
        .executable(name: "fieldsync-bench", targets: ["FieldSyncBenchmarks"]),
        .library(name: "FieldSyncModel", targets: ["FieldSyncModel"]),
        .library(name: "FieldSyncStore", targets: ["FieldSyncStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Records, hybrid logical clock, field changes and merge rules. No I/O.
        .target(
            name: "FieldSyncModel",
            swiftSettings: swiftSettings
        ),
        // The SQLite replica: schema, change capture into the outbox, merge-apply.
        .target(
            name: "FieldSyncStore",
            dependencies: [
                "FieldSyncModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The field CLI.
        .executableTarget(
            name: "fieldsync",
            dependencies: [
                "FieldSyncModel",
                "FieldSyncStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Clients/fieldsync",
            swiftSettings: swiftSettings
        ),
        // `swift run -c release fieldsync-bench`: throughput figures next to raw SQLite.
        .executableTarget(
            name: "FieldSyncBenchmarks",
            dependencies: [
                "FieldSyncModel",
                "FieldSyncStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
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
            name: "FieldSyncModelTests",
            dependencies: ["FieldSyncModel", "FieldSyncTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FieldSyncStoreTests",
            dependencies: [
                "FieldSyncModel",
                "FieldSyncStore",
                "FieldSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FieldSyncCLITests",
            dependencies: [
                "fieldsync",
                "FieldSyncStore",
                "FieldSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
