/// The known name closest to one typed, for "did you mean …?" in messages: a
/// mistyped branch (`Hangzou`) should point at the registered one, not invite
/// registering the typo.
public enum ClosestName {
    /// The name of `candidates` within a few edits of `typed` (case aside), or nil.
    public static func to(_ typed: String, among candidates: some Sequence<String>) -> String? {
        let target = Array(typed.lowercased())
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(target, Array(candidate.lowercased()))
            // Close enough to be a slip: at most a third of the name, and never a whole other word.
            guard distance > 0 || candidate != typed, distance <= max(1, min(target.count, candidate.count) / 3) else { continue }
            if distance < best?.distance ?? .max { best = (candidate, distance) }
        }
        return best?.name
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
