import CairnCore

/// Values by blob ID, at most `budget` bytes of them: putting a value evicts the least
/// recently used ones until it fits. Every operation is O(1): the slots form a doubly linked
/// list, newest to oldest, by index. Not thread-safe (kept behind a `Locked`).
struct LRUCache<Value> {
    private struct Slot {
        var key: ID
        var value: Value?
        var cost: Int
        var newer = -1, older = -1
    }
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var slotOf: [ID: Int] = [:]
    private var newest = -1, oldest = -1
    let budget: Int
    private(set) var cost = 0

    init(budget: Int) { self.budget = max(0, budget) }

    var count: Int { slotOf.count }

    /// The value, now the most recently used.
    mutating func get(_ key: ID) -> Value? {
        guard let i = slotOf[key] else { return nil }
        unlink(i)
        pushNewest(i)
        return slots[i].value
    }

    /// Keeps a value that costs `cost` bytes (none larger than the whole budget).
    mutating func put(_ key: ID, _ value: Value, cost c: Int) {
        if let i = slotOf[key] { remove(i) }
        guard c <= budget else { return }
        while cost + c > budget, oldest >= 0 { remove(oldest) }
        let slot = Slot(key: key, value: value, cost: c)
        let i: Int
        if let f = freeSlots.popLast() { i = f; slots[i] = slot } else { i = slots.count; slots.append(slot) }
        slotOf[key] = i
        cost += c
        pushNewest(i)
    }

    private mutating func remove(_ i: Int) {
        unlink(i)
        slotOf[slots[i].key] = nil
        cost -= slots[i].cost
        slots[i].value = nil
        freeSlots.append(i)
    }

    private mutating func unlink(_ i: Int) {
        let n = slots[i].newer, o = slots[i].older
        if n >= 0 { slots[n].older = o } else { newest = o }
        if o >= 0 { slots[o].newer = n } else { oldest = n }
        slots[i].newer = -1; slots[i].older = -1
    }

    private mutating func pushNewest(_ i: Int) {
        slots[i].older = newest
        slots[i].newer = -1
        if newest >= 0 { slots[newest].newer = i }
        newest = i
        if oldest < 0 { oldest = i }
    }
}
