#include <curl/curl.h>
#include "../CLazyLibrary/lazy_library.h"
#include <stddef.h>

/* libcurl is loaded when first used (dlopen), not linked: linked, it and the libraries only it needs
   (nghttp2, libssh2, librtmp, libidn2, libpsl, brotli, ...) were mapped into every node, about 1 MB of
   resident memory, though only hub notifications, the S3 cache and the log archive call it
   (bench/README.md "Results: memory"; the mechanism: Sources/CLazyLibrary/lazy_library.h). ConveyorHTTPClient
   calls the cv_ wrappers below; each resolves its function once. Without libcurl.so.4 they fail like
   curl does (NULL, CURLE_FAILED_INIT), and cv_curl_load_error() says why. */
CV_LAZY_LIBRARY(curl, "libcurl.so.4")

#define CV_CURL_SYMBOL(name) CV_LAZY_SYMBOL(curl, name)
#define CV_CURL(ret, failed, name, params, args) \
    static inline ret cv_##name params { CV_CURL_SYMBOL(name) return f ? f args : failed; }
#define CV_CURL_VOID(name, params, args) \
    static inline void cv_##name params { CV_CURL_SYMBOL(name) if (f) f args; }

CV_CURL(CURLcode, CURLE_FAILED_INIT, curl_global_init, (long flags), (flags))
CV_CURL(CURL *, NULL, curl_easy_init, (void), ())
CV_CURL_VOID(curl_easy_cleanup, (CURL *curl), (curl))
CV_CURL_VOID(curl_easy_reset, (CURL *curl), (curl))
CV_CURL(CURLcode, CURLE_FAILED_INIT, curl_easy_perform, (CURL *curl), (curl))
CV_CURL(const char *, "libcurl is not loaded", curl_easy_strerror, (CURLcode code), (code))
CV_CURL(struct curl_slist *, NULL, curl_slist_append, (struct curl_slist *list, const char *line), (list, line))
CV_CURL_VOID(curl_slist_free_all, (struct curl_slist *list), (list))

/* curl_easy_setopt / getinfo are variadic; Swift cannot call them directly: one wrapper per argument type. */
#define CV_CURL_VARIADIC(name, handle, key, value) \
    CV_CURL_SYMBOL(name) return f ? f(handle, key, value) : CURLE_FAILED_INIT;
static inline CURLcode cv_curl_set_long(CURL *h, CURLoption o, long v) { CV_CURL_VARIADIC(curl_easy_setopt, h, o, v) }
static inline CURLcode cv_curl_set_ptr(CURL *h, CURLoption o, const void *v) { CV_CURL_VARIADIC(curl_easy_setopt, h, o, v) }
static inline CURLcode cv_curl_set_off(CURL *h, CURLoption o, curl_off_t v) { CV_CURL_VARIADIC(curl_easy_setopt, h, o, v) }
static inline CURLcode cv_curl_set_write_cb(CURL *h, size_t (*cb)(char *, size_t, size_t, void *)) {
    CV_CURL_VARIADIC(curl_easy_setopt, h, CURLOPT_WRITEFUNCTION, cb)
}
static inline CURLcode cv_curl_set_read_cb(CURL *h, size_t (*cb)(char *, size_t, size_t, void *)) {
    CV_CURL_VARIADIC(curl_easy_setopt, h, CURLOPT_READFUNCTION, cb)
}
static inline CURLcode cv_curl_set_header_cb(CURL *h, size_t (*cb)(char *, size_t, size_t, void *)) {
    CV_CURL_VARIADIC(curl_easy_setopt, h, CURLOPT_HEADERFUNCTION, cb)
}
static inline CURLcode cv_curl_get_long(CURL *h, CURLINFO i, long *v) { CV_CURL_VARIADIC(curl_easy_getinfo, h, i, v) }
