import ArgumentParser

/// `conveyor-bench`: benchmarks of Conveyor's building blocks (see bench/README.md).
/// Each benchmark is one subcommand; add yours to `subcommands`.
struct ConveyorBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor-bench",
        abstract: "Benchmarks of Conveyor against reference tools, on the servers of scripts/services.sh start.",
        subcommands: [ClientsBenchmark.self, AdmissionBenchmark.self, LogsBench.self, BacklogBenchmark.self]
    )
}

/// The async entry point; at top level `ConveyorBench.main()` would resolve to the synchronous `main()`.
func runBench() async {
    do {
        var command = try ConveyorBench.parseAsRoot()
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    } catch {
        ConveyorBench.exit(withError: error)
    }
}

await runBench()
