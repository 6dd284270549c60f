extension JSONValue {
    /// Mappings merge key by key, recursively; anything else from `override` replaces the base value.
    /// This is how an API trigger's config is laid over the repository's.
    func deepMerged(with override: JSONValue) -> JSONValue {
        guard case .object(let base) = self, case .object(let top) = override else { return override }
        return .object(base.merging(top) { old, new in old.deepMerged(with: new) })
    }
}
