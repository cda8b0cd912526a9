import FieldSyncModel
import FieldSyncProtocol

/// Why a mutation is refused: the English sentence that goes on the wire and into the logs,
/// and, where the rules have one, the same as a text key (`refusal.*`, `record.*`) that a
/// laptop shows in its reader's language (`Rejection.text`). A string literal is a refusal
/// without a key: the protocol-level ones no person at a laptop meets.
package struct Refusal: Sendable, Equatable, ExpressibleByStringInterpolation {
    package var message: String
    package var text: ReasonText?

    package init(_ message: String, key: String? = nil, _ values: [String: String] = [:]) {
        self.message = message
        // Within the bounds a client keeps to (a value may quote what was pushed: a text of 8,192 characters).
        let text = key.map { ReasonText(key: $0, values: values.mapValues { String($0.unicodeScalars.prefix(200)) }) }
        self.text = text?.isWithinBounds == true ? text : nil
    }

    package init(stringLiteral value: String) { self.init(value) }

    package init(stringInterpolation: DefaultStringInterpolation) { self.init(String(stringInterpolation: stringInterpolation)) }

    /// A record's value refused by the schema (`RecordValidationError`), named by its field.
    package init(_ change: FieldChange, _ error: RecordValidationError) {
        self.init("\(change.table.rawValue).\(change.field): \(error.message)", key: error.key, error.values)
    }
}
