import Prometheus

/// Counters and the sync latency histogram, served at `/metrics` in
/// Prometheus text format. Uses its own registry rather than bootstrapping
/// the process-wide metrics system, so several servers can run in one test process.
public struct ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let syncs: Counter
    let changesIn: Counter
    let changesOut: Counter
    let conflicts: Counter
    let rejections: Counter
    let enrolments: Counter
    let enrolmentsLimited: Counter
    let bodiesRefused: Counter
    /// Pushes sent ahead of the answer to the one before them (`follows`), and those refused `out_of_order`.
    let pushesAhead: Counter
    let outOfOrder: Counter
    let latency: DurationHistogram
    /// The upstream edge of a branch server: log rows waiting to be relayed, and the lag of its last success.
    let upstreamPending: Gauge
    let upstreamLastSuccess: Gauge
    let upstreamLag: Gauge
    let upstreamFailures: Counter
    /// Time the one writer spent in sync transactions (SQLite engine): against wall time, how busy it is.
    let writerBusy: Counter

    public init() {
        syncs = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "syncs", unitName: "total", helpText: "Sync requests answered"))
        changesIn = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "changes_in", unitName: "total", helpText: "Field changes accepted from devices"))
        changesOut = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "changes_out", unitName: "total", helpText: "Field changes sent to devices"))
        conflicts = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "conflicts", unitName: "total", helpText: "Conflict records created by this server"))
        rejections = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "rejected_mutations", unitName: "total", helpText: "Mutations refused (validation or scope)"))
        enrolments = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "enrolments", unitName: "total", helpText: "Devices enrolled"))
        enrolmentsLimited = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "enrolments_limited", unitName: "total",
                                                                   helpText: "Enrolment attempts refused for coming too often from one address or for one code"))
        bodiesRefused = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "bodies_refused", unitName: "total",
                                                               helpText: "Sync requests answered busy: no room for their bodies in memory"))
        pushesAhead = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "pushes_ahead", unitName: "total",
                                                             helpText: "Pushes a device sent before the answer to the one they follow"))
        outOfOrder = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "pushes_out_of_order", unitName: "total",
                                                            helpText: "Pushes sent ahead and refused because the one they follow did not commit here"))
        upstreamPending = registry.makeGauge(descriptor: .init(namespace: "fieldsync", metricName: "upstream_pending", unitName: "rows",
                                                               helpText: "Log rows waiting to be relayed to the provincial server"))
        upstreamLastSuccess = registry.makeGauge(descriptor: .init(namespace: "fieldsync", metricName: "upstream_last_success", unitName: "timestamp_seconds",
                                                                   helpText: "When the last sync with the provincial server succeeded"))
        upstreamLag = registry.makeGauge(descriptor: .init(namespace: "fieldsync", metricName: "upstream_lag", unitName: "seconds",
                                                           helpText: "Seconds since the last successful sync with the provincial server"))
        upstreamFailures = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "upstream_failures", unitName: "total",
                                                                 helpText: "Syncs with the provincial server that failed"))
        writerBusy = registry.makeCounter(descriptor: .init(namespace: "fieldsync", metricName: "writer_busy_seconds", unitName: "total",
                                                            helpText: "Seconds the SQLite engine's one writer spent in sync transactions, commits included"))
        latency = registry.makeDurationHistogram(
            descriptor: .init(namespace: "fieldsync", metricName: "sync_duration", unitName: "seconds", helpText: "Time to answer a sync request"),
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)])
    }

    /// A branch server's upstream edge after a round (`UpstreamSync.Metrics`); times in ms.
    public func recordUpstream(failed: Bool, unsent: Int, lastSuccess: UInt64?, lag: UInt64?) {
        if failed { upstreamFailures.increment() }
        upstreamPending.set(Int64(unsent))
        if let lastSuccess { upstreamLastSuccess.set(Double(lastSuccess) / 1000) }
        if let lag { upstreamLag.set(Double(lag) / 1000) }
    }

    public func text() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
