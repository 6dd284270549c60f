/// A log's bytes together with where each part starts: the shape of aggregated content.
///
/// `numbers[i]` is the part number whose bytes start at `offsets[i]` and end where the next part
/// starts (or at the end). Numbers are strictly increasing, so a late part has exactly one place.
public struct LogLayout: Sendable, Hashable {
    public var content: [UInt8]
    public var numbers: [Int]
    public var offsets: [Int]

    public init(content: [UInt8] = [], numbers: [Int] = [], offsets: [Int] = []) {
        self.content = content
        self.numbers = numbers
        self.offsets = offsets
    }

    public var lastNumber: Int? { numbers.last }
    public var isEmpty: Bool { numbers.isEmpty }

    /// The bytes of part `index`.
    public func segment(_ index: Int) -> ArraySlice<UInt8> {
        let end = index + 1 < offsets.count ? offsets[index + 1] : content.count
        return content[offsets[index]..<end]
    }

    /// Merges parts into this layout in number order. Parts whose number is already present are
    /// ignored (the first copy wins), so merging is idempotent.
    public func merging(_ parts: [(number: Int, content: [UInt8])]) -> LogLayout {
        if parts.isEmpty { return self }
        var incoming: [(number: Int, content: [UInt8])] = []
        var seen = Set(numbers)
        for part in parts.sorted(by: { $0.number < $1.number }) where seen.insert(part.number).inserted {
            incoming.append(part)
        }
        if incoming.isEmpty { return self }
        var result = LogLayout()
        result.content.reserveCapacity(content.count + incoming.reduce(0) { $0 + $1.content.count })
        var i = 0
        var j = 0
        while i < numbers.count || j < incoming.count {
            if j >= incoming.count || (i < numbers.count && numbers[i] < incoming[j].number) {
                result.append(number: numbers[i], bytes: segment(i))
                i += 1
            } else {
                result.append(number: incoming[j].number, bytes: incoming[j].content[...])
                j += 1
            }
        }
        return result
    }

    /// The bytes of every part numbered above `number`.
    public func bytes(after number: Int) -> ArraySlice<UInt8> {
        guard let index = numbers.firstIndex(where: { $0 > number }) else { return [] }
        return content[offsets[index]...]
    }

    private mutating func append(number: Int, bytes: ArraySlice<UInt8>) {
        numbers.append(number)
        offsets.append(content.count)
        content.append(contentsOf: bytes)
    }
}
