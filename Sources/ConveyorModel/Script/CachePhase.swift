/// What the worker offers a job's cache (docs/cache.md). The worker moves archives outside the
/// sandbox; the script packs and unpacks them inside it, as the build user:
/// - before the script runs, the worker may place `.conveyor/cache/fetch.tgz` (and `fetch.from`, the
///   `branch/slug` it came from) in the job's directory;
/// - the store step leaves `.conveyor/cache/store.tgz` only when the cached directories changed and the
///   archive fits `maxBytes`; the worker uploads it after the job.
public struct CacheOptions: Sendable, Hashable {
    public var maxBytes: Int64

    public init(maxBytes: Int64) {
        self.maxBytes = maxBytes
    }

    /// Relative to the job's directory (the directory the script starts in).
    public static let area = ".conveyor/cache"
    public static let fetchFile = area + "/fetch.tgz"
    public static let fetchSourceFile = area + "/fetch.from"
    public static let storeFile = area + "/store.tgz"
}

/// The bash of the cache: setup (fold `cache.1`, after the env, before before_install) and store
/// (before_cache, then fold `cache.2`, after the script and before after_success/after_failure), as
/// travis-build orders them.
enum CachePhase {
    /// Helpers and the setup fold. `options` nil: this worker cannot cache; the log says so.
    static func setup(_ spec: CacheSpec?, options: CacheOptions?, writer: inout ScriptWriter) throws(ShellQuotingError) {
        guard let spec else { return }
        guard let options else {
            writer.raw("echo 'conveyor: this worker does not keep build caches (its executor cannot); cache: is ignored'")
            return
        }
        writer.raw("""
            conveyor_cache_area="$conveyor_job_dir/\(CacheOptions.area)"
            conveyor_cache_timeout=\(spec.timeoutSeconds)
            conveyor_cache_max_bytes=\(options.maxBytes)
            conveyor_cache_dirs=()
            """)
        writer.raw(helpers)
        writer.raw("if [ \"$conveyor_result\" -eq 0 ]; then")
        writer.raw("  conveyor_fold_start cache.1")
        writer.raw("  echo 'Setting up build cache'")
        for directory in spec.directories {
            let path = directory.hasPrefix("~/") ? "$HOME/" + directory.dropFirst(2) : directory
            writer.raw("  conveyor_cache_add \(try ShellQuoting.doubleQuotedExpandingVariables(path))")
        }
        writer.raw("  conveyor_cache_fetch")
        writer.raw("  conveyor_fold_end cache.1")
        writer.raw("fi")
    }

    /// before_cache (failures reported, never failing the job), then the store fold. Runs after a passed
    /// or failed script, not after an errored setup (a half-done install is not worth keeping).
    static func store(_ spec: CacheSpec?, options: CacheOptions?, writer: inout ScriptWriter) throws(ShellQuotingError) {
        guard let spec, options != nil else { return }
        writer.raw("if [ \"$conveyor_result\" -le 1 ] && [ ${#conveyor_cache_dirs[@]} -gt 0 ]; then")
        for (index, command) in spec.beforeCache.enumerated() {
            let display = try ShellQuoting.singleQuoted(writer.masked(command))
            writer.raw("""
                  conveyor_fold_start before_cache.\(index + 1)
                  conveyor_cmd \(display) \(try ShellQuoting.singleQuoted(command)) || conveyor_failed \(display) $? before_cache
                  conveyor_fold_end before_cache.\(index + 1)
                """)
        }
        writer.raw("""
              conveyor_fold_start cache.2
              echo 'store build cache'
              conveyor_cache_store
              conveyor_fold_end cache.2
            fi
            """)
    }

    /// Directories are kept by their path relative to the job's directory, so an archive only ever
    /// names paths inside it (the worker's `.conveyor` excluded). Fingerprint: the sorted list of files
    /// and links with size, mtime and link target, hashed; tar restores mtimes, so an untouched
    /// restored cache fingerprints the same.
    static let helpers = #"""
    conveyor_cache_add() {
      local dir="$1" rel
      case "$dir" in /*) ;; *) dir="$conveyor_job_dir/repo/$dir" ;; esac
      dir=$(realpath -m -- "$dir")
      rel="${dir#"$conveyor_job_dir"/}"
      if [ "$rel" = "$dir" ] || [ -z "$rel" ] || [ "$rel" = .conveyor ] || [ "${rel#.conveyor/}" != "$rel" ]; then
        printf '%s\n' "not caching $1: only directories inside the job's directory ($conveyor_job_dir) can be cached"
        return 0
      fi
      conveyor_cache_dirs+=("./$rel")
      printf 'adding %s to cache\n' "$dir"
    }

    conveyor_cache_fingerprint() {
      (cd "$conveyor_job_dir" && find "${conveyor_cache_dirs[@]}" \( -type f -o -type l \) -printf '%p\t%s\t%T@\t%l\n' 2>/dev/null | LC_ALL=C sort | sha256sum | cut -d' ' -f1)
    }

    conveyor_cache_fetch() {
      local status errors
      [ ${#conveyor_cache_dirs[@]} -gt 0 ] || return 0
      mkdir -p "$conveyor_cache_area"
      echo 'attempting to download cache archive'
      if [ -f "$conveyor_cache_area/fetch.tgz" ]; then
        printf 'fetching %s\n' "$(cat "$conveyor_cache_area/fetch.from" 2>/dev/null)"
        echo 'found cache'
        conveyor_time_start
        (cd "$conveyor_job_dir" && timeout "$conveyor_cache_timeout" tar -xzf "$conveyor_cache_area/fetch.tgz" --no-same-owner -- "${conveyor_cache_dirs[@]}") 2>"$conveyor_cache_area/fetch.err"
        status=$?
        conveyor_time_end
        errors=$(grep -v -e 'Not found in archive' -e 'Exiting with failure status' "$conveyor_cache_area/fetch.err")
        if [ "$status" -eq 124 ]; then
          printf '%s\n' "fetching the cache timed out after $conveyor_cache_timeout seconds (cache: timeout:)"
        elif [ -n "$errors" ]; then
          printf '%s\n' "$errors" "the cache archive could not be fully extracted (tar exited with $status)"
        fi
        rm -f "$conveyor_cache_area/fetch.tgz" "$conveyor_cache_area/fetch.err"
      else
        echo 'could not download cache'
        rm -f "$conveyor_cache_area/fetch.from"
      fi
      (cd "$conveyor_job_dir" && mkdir -p -- "${conveyor_cache_dirs[@]}")
      conveyor_cache_fingerprint > "$conveyor_cache_area/fetched.sha"
    }

    conveyor_cache_store() {
      local size status
      rm -f "$conveyor_cache_area/store.tgz" "$conveyor_cache_area/store.tmp"
      if [ -f "$conveyor_cache_area/fetch.from" ] && [ "$(conveyor_cache_fingerprint)" = "$(cat "$conveyor_cache_area/fetched.sha" 2>/dev/null)" ]; then
        echo 'nothing changed, not updating cache'
        return 0
      fi
      echo 'changes detected, packing new archive'
      conveyor_time_start
      (cd "$conveyor_job_dir" && timeout "$conveyor_cache_timeout" tar -czf "$conveyor_cache_area/store.tmp" -- "${conveyor_cache_dirs[@]}")
      status=$?
      conveyor_time_end
      if [ "$status" -gt 1 ]; then
        [ "$status" -eq 124 ] && printf '%s\n' "packing the cache timed out after $conveyor_cache_timeout seconds (cache: timeout:)"
        printf '%s\n' "the cache was not stored (tar exited with $status)"
        rm -f "$conveyor_cache_area/store.tmp"
        return 0
      fi
      size=$(stat -c %s "$conveyor_cache_area/store.tmp")
      if [ "$size" -gt "$conveyor_cache_max_bytes" ]; then
        printf '%s\n' "the cache archive is $size bytes, more than the $conveyor_cache_max_bytes this worker keeps (max_cache_bytes); not storing it"
        rm -f "$conveyor_cache_area/store.tmp"
        return 0
      fi
      mv "$conveyor_cache_area/store.tmp" "$conveyor_cache_area/store.tgz"
      printf 'uploading archive (%s bytes)\n' "$size"
    }
    """#
}
