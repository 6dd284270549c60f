import ArgumentParser
import ConveyorCore
import ConveyorThreads
import Foundation
import Logging

/// `conveyor repair`: rebuild Redis from PostgreSQL now (docs/runbook.md#redis-lost-or-behind).
struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Rebuild Redis from PostgreSQL: consumer groups, owner slots and waiting sets, queue entries, pending requests, the epoch.",
        discussion: "Safe while the cluster runs, and safe to repeat. With --check, only prints whether Redis's epoch says it lost writes.")

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Only report the epoch; change nothing.")
    var check = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let settings = try options.load()
        let context = try NodeContext.make(settings: settings, logger: Logger(label: "conveyor.repair"))
        try await withCleanup {
            try await repair(context)
        } cleanup: {
            await context.close()
        }
    }

    private func repair(_ context: NodeContext) async throws {
        let status = try await RedisEpoch(context: context).check()
        if check {
            print(json ? "{\"epoch\":\"\(status)\",\"needs_repair\":\(status.needsRepair)}" : "epoch: \(status)\(status.needsRepair ? " — run conveyor repair" : "")")
            return
        }
        guard let report = try await RedisRepair(context: context).repair(reason: "conveyor repair (epoch \(status))") else {
            print("another node was repairing Redis; it has finished")
            return
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("""
                Redis rebuilt from PostgreSQL (epoch was \(status), now \(report.epoch))
                  consumer groups  \(report.groups)
                  owners           \(report.owners)
                  slots            \(report.slots)
                  queue entries    \(report.requeued) re-added
                  waiting jobs     \(report.waiting)
                  requests         \(report.requests) re-streamed
                """)
        }
    }
}
