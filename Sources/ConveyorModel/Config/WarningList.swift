/// Warnings in the order first seen, each once (a global secure var would otherwise warn per job).
struct WarningList {
    private(set) var items: [String] = []
    private var seen: Set<String> = []

    mutating func add(_ warning: String) {
        if seen.insert(warning).inserted { items.append(warning) }
    }
}
