/// The order a config's mappings were written in. `JSONValue` objects are unordered, but an env hash
/// (`env: {FOO: 1, BAR: $FOO}`) must export in the order written, as travis-yml keeps it. Recorded while
/// converting YAML, looked up by a mapping's set of keys: the first mapping written with that set wins.
public struct KeyOrder: Sendable, Hashable {
    private var orders: [[String]: [String]] = [:]

    public init() {}

    /// Mappings of one key need no order.
    mutating func record(_ keys: [String]) {
        guard keys.count > 1 else { return }
        let sorted = keys.sorted()
        if orders[sorted] == nil { orders[sorted] = keys }
    }

    /// `keys` in written order when known, else sorted (a mapping built by merging, or from JSON).
    func ordered(_ keys: some Collection<String>) -> [String] {
        let sorted = keys.sorted()
        return orders[sorted] ?? sorted
    }

    /// Orders of `other` fill in sets this one lacks (an API override's mappings).
    func merging(_ other: KeyOrder) -> KeyOrder {
        var merged = self
        merged.orders.merge(other.orders) { mine, _ in mine }
        return merged
    }
}
