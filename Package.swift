// swift-tools-version: 6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

func system(_ name: String, pkg: String, apt: String) -> Target {
    .systemLibrary(name: name, pkgConfig: pkg, providers: [.apt([apt])])
}

let package = Package(
    name: "conveyor",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "conveyor", targets: ["conveyor"]),
        .library(name: "ConveyorTesting", targets: ["ConveyorTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // C libraries, each the reference client of its protocol.
        // No pkgConfig for hiredis: its .pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM rejects with a warning.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        system("CLibPQ", pkg: "libpq", apt: "libpq-dev"),
        system("CLibSSH2", pkg: "libssh2", apt: "libssh2-1-dev"),
        // No pkgConfig (its -lvirt): libvirt is loaded on first use, see Sources/CLibvirt/shim.h.
        .systemLibrary(name: "CLibvirt", providers: [.apt(["libvirt-dev"])]),
        // No pkgConfig (its -lcurl): libcurl is loaded on first use, see Sources/CCurl/shim.h.
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        system("CPCRE2", pkg: "libpcre2-8", apt: "libpcre2-dev"),
        // Linux's epoll and eventfd headers, for the event loops (part of libc, no package).
        .systemLibrary(name: "CEpoll"),

        // One Swift module per client.
        .target(name: "ConveyorThreads", dependencies: ["CEpoll"], swiftSettings: swiftSettings),
        .target(name: "ConveyorRedis", dependencies: [
            "CHiredis", "ConveyorThreads",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: swiftSettings),
        .target(name: "ConveyorPostgres", dependencies: [
            "CLibPQ", "CEpoll", "ConveyorThreads",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: swiftSettings),
        .target(name: "ConveyorSSH", dependencies: [
            "CLibSSH2", "ConveyorThreads", "ConveyorModel",
        ], swiftSettings: swiftSettings),
        .target(name: "ConveyorVirt", dependencies: [
            "CLibvirt", "ConveyorThreads",
        ], swiftSettings: swiftSettings),
        .target(name: "ConveyorHTTPClient", dependencies: [
            "CCurl", "ConveyorThreads",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),

        // Pure model: config, matrix, conditions, script compiler, state machines. No I/O.
        .target(name: "ConveyorModel", dependencies: [
            "CPCRE2",
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),

        // Shared runtime: settings, key names, events, schema, Lua scripts, stream consumers.
        .target(name: "ConveyorCore", dependencies: [
            "ConveyorRedis", "ConveyorPostgres", "ConveyorModel",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ], resources: [.copy("Migrations"), .copy("Scripts")], swiftSettings: swiftSettings),

        // Repository key pairs, the cluster key, settings env vars (docs/security.md).
        .target(name: "ConveyorSecrets", dependencies: [
            "ConveyorCore", "ConveyorPostgres", "ConveyorModel", "ConveyorThreads",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),

        // One module per role.
        .target(name: "ConveyorGatekeeper", dependencies: ["ConveyorCore", "ConveyorModel", "ConveyorHub", "ConveyorSecrets"], swiftSettings: swiftSettings),
        .target(name: "ConveyorScheduler", dependencies: ["ConveyorCore"], swiftSettings: swiftSettings),
        .target(name: "ConveyorWorker", dependencies: ["ConveyorCore", "ConveyorThreads", "ConveyorSSH", "ConveyorVirt", "ConveyorSecrets", "ConveyorCache"], swiftSettings: swiftSettings),
        // Build caches: the stores (cache_dir, S3) and the `caches` table (docs/cache.md).
        .target(name: "ConveyorCache", dependencies: [
            "ConveyorCore", "ConveyorHTTPClient", "ConveyorThreads",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
        .target(name: "ConveyorHub", dependencies: ["ConveyorCore", "ConveyorHTTPClient", "ConveyorSecrets"], swiftSettings: swiftSettings),
        .target(name: "ConveyorLogs", dependencies: ["ConveyorCore", "ConveyorHTTPClient"], swiftSettings: swiftSettings),
        .target(name: "ConveyorReaper", dependencies: ["ConveyorCore"], swiftSettings: swiftSettings),
        .target(name: "ConveyorWeb", dependencies: [
            "ConveyorCore", "ConveyorHub", "ConveyorLogs", "ConveyorScheduler", "ConveyorSecrets", "ConveyorCache",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("UI")], swiftSettings: swiftSettings),
        .target(name: "ConveyorNode", dependencies: [
            "ConveyorCore", "ConveyorGatekeeper", "ConveyorScheduler", "ConveyorWorker",
            "ConveyorHub", "ConveyorLogs", "ConveyorReaper", "ConveyorWeb",
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "conveyor", dependencies: [
            "ConveyorNode", "ConveyorHTTPClient", "ConveyorModel", "ConveyorThreads", "ConveyorSecrets",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),

        // Test support shipped as a library: reaches the servers that scripts/services.sh starts.
        .target(name: "ConveyorTesting", dependencies: ["ConveyorCore", "ConveyorThreads"], swiftSettings: swiftSettings),

        // Benchmarks (see bench/README.md).
        .executableTarget(name: "conveyor-bench", dependencies: [
            "ConveyorNode", "ConveyorTesting", "ConveyorThreads",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "bench/Sources/conveyor-bench", swiftSettings: swiftSettings),

        .testTarget(name: "ConveyorModelTests", dependencies: ["ConveyorModel"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorThreadsTests", dependencies: ["ConveyorThreads"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorRedisTests", dependencies: ["ConveyorRedis", "ConveyorTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorPostgresTests", dependencies: ["ConveyorPostgres", "ConveyorTesting", "ConveyorThreads"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorClientsTests", dependencies: [
            "ConveyorSSH", "ConveyorVirt", "ConveyorHTTPClient", "ConveyorTesting",
        ], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorCoreTests", dependencies: ["ConveyorCore", "ConveyorTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorWorkerTests", dependencies: ["ConveyorWorker", "ConveyorTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorHubTests", dependencies: ["ConveyorHub", "ConveyorSecrets", "ConveyorTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorSecretsTests", dependencies: ["ConveyorSecrets", "ConveyorTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorLogsTests", dependencies: ["ConveyorLogs", "ConveyorTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorCacheTests", dependencies: ["ConveyorCache", "ConveyorTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorWebTests", dependencies: [
            "ConveyorWeb", "ConveyorLogs", "ConveyorTesting", "ConveyorHub", "ConveyorSecrets",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "ConveyorIntegrationTests", dependencies: [
            "ConveyorNode", "ConveyorTesting",
        ], swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
