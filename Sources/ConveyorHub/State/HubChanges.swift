/// What one transaction produced besides its rows: effects for after the commit, and observations
/// for metrics.
struct HubChanges: Sendable {
    var effects = HubEffects()
    var observations = HubObservations()
}
