import ConveyorCore
import ConveyorPostgres

/// Splits one batch of `cv:state` into lanes that share no build, so the hub commits them at once,
/// each in its own transaction on its own pooled connection (`hub_batch_lanes`, docs/architecture.md).
///
/// Ordering: all updates of a build's jobs land in one lane, in the order the stream delivered them,
/// so a lane applies a job's transitions in arrival order exactly as one transaction for the whole
/// batch would. Lanes lock disjoint builds and jobs, so they neither wait for nor reorder each other.
/// The consumer reads the next batch only after every lane of this one committed (`StreamConsumer`
/// awaits the handler), so a job's transition in a later batch never overtakes one in this batch.
enum BatchLanes {
    /// Pure. `buildOf` maps job → build (a job's build never changes); jobs missing from it (unknown
    /// jobs) share the first lane, where the batch reports them. Builds are dealt largest first, each
    /// to the lane with the fewest updates so far; empty lanes are left out.
    static func split<Item>(_ items: [Item], job: (Item) -> Int64, buildOf: [Int64: Int64], lanes: Int) -> [[Item]] {
        if lanes <= 1 || items.isEmpty { return items.isEmpty ? [] : [items] }
        var counts: [Int64?: Int] = [:]
        for item in items { counts[buildOf[job(item)], default: 0] += 1 }
        if counts.count == 1 { return [items] }
        let order = counts.sorted { a, b in
            a.value != b.value ? a.value > b.value : (a.key ?? Int64.min) < (b.key ?? Int64.min)
        }
        var load = Array(repeating: 0, count: lanes)
        var laneOf: [Int64?: Int] = [:]
        for (build, count) in order {
            // Unknown jobs always take the first lane.
            let lane = build == nil ? 0 : load.indices.min { load[$0] < load[$1] }!
            laneOf[build] = lane
            load[lane] += count
        }
        var result = Array(repeating: [Item](), count: lanes)
        for item in items { result[laneOf[buildOf[job(item)]]!].append(item) }
        return result.filter { !$0.isEmpty }
    }

    /// The builds of `jobs`, one unlocked read (the lanes lock what they touch themselves).
    static func builds(of jobs: [Int64], context: NodeContext) async throws -> [Int64: Int64] {
        var result: [Int64: Int64] = [:]
        for row in try await context.postgres.query("SELECT id, build_id FROM jobs WHERE id = ANY($1::bigint[])",
                                                    [.array(Array(Set(jobs)))]).rows {
            result[try row.decode("id")] = try row.decode("build_id")
        }
        return result
    }
}
