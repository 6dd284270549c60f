import ConveyorCore

/// The Redis side of one committed transition: slot releases, waiting-set entries, cancel keys,
/// scheduler wake-ups and `cv:events` messages.
///
/// Written to `hub_outbox` in the same transaction as the state change and carried out after the
/// commit; a row left behind by a hub that died in between is carried out by another hub's sweep.
/// Every effect is idempotent (set membership, `SET`, `DEL`), so carrying one out twice is harmless
/// — except events, which a consumer may then see twice (notifications dedupe on `deliveries`).
struct HubEffects: Codable, Sendable, Equatable {
    struct Release: Codable, Sendable, Equatable {
        var owner: String
        var job: Int64
        var forget: Bool
    }

    struct Enqueue: Codable, Sendable, Equatable {
        var owner: String
        var job: Int64
        var repo: String
        var queue: String
        var priority: Int
        var createdMillis: Int64
    }

    struct Event: Codable, Sendable, Equatable {
        var type: String
        /// Compact JSON, as `EventPublisher` writes it.
        var data: String
    }

    var setCancelKeys: [Int64] = []
    var releases: [Release] = []
    var clearCancelKeys: [Int64] = []
    var enqueues: [Enqueue] = []
    var wakes: [String] = []
    var events: [Event] = []

    var isEmpty: Bool {
        setCancelKeys.isEmpty && releases.isEmpty && clearCancelKeys.isEmpty && enqueues.isEmpty && wakes.isEmpty && events.isEmpty
    }

    mutating func publish(_ type: String, _ data: [String: JSONScalar]) {
        events.append(Event(type: type, data: String(decoding: JSONScalar.encode(data), as: UTF8.self)))
    }

    mutating func wake(_ owner: String) {
        if !wakes.contains(owner) { wakes.append(owner) }
    }
}
