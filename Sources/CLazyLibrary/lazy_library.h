#ifndef CONVEYOR_LAZY_LIBRARY_H
#define CONVEYOR_LAZY_LIBRARY_H
/* One mechanism for C libraries loaded on first use (dlopen) instead of linked: included by
   Sources/CCurl/shim.h and Sources/CLibvirt/shim.h (why: bench/README.md "Results: memory").
   CV_LAZY_LIBRARY(lib, soname) defines cv_<lib>_library() (the handle, opened once) and
   cv_<lib>_load_error() (NULL when loaded, else dlerror()'s message). CV_LAZY_SYMBOL(lib, name),
   inside a wrapper's body, declares `f`, the function resolved once (NULL when it can't be). */
#include <dlfcn.h>

#define CV_LAZY_LIBRARY(lib, soname) \
    static inline void *cv_##lib##_library(void) { \
        static void *handle; \
        void *h = __atomic_load_n(&handle, __ATOMIC_ACQUIRE); \
        if (!h) { \
            h = dlopen(soname, RTLD_NOW | RTLD_LOCAL); \
            if (h) __atomic_store_n(&handle, h, __ATOMIC_RELEASE); \
        } \
        return h; \
    } \
    static inline const char *cv_##lib##_load_error(void) { \
        if (cv_##lib##_library()) return NULL; \
        const char *error = dlerror(); \
        return error ? error : soname " could not be loaded"; \
    }

#define CV_LAZY_SYMBOL(lib, name) \
    static __typeof__(&name) fn; \
    __typeof__(&name) f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE); \
    if (!f) { \
        void *h = cv_##lib##_library(); \
        f = h ? (__typeof__(&name))dlsym(h, #name) : NULL; \
        if (f) __atomic_store_n(&fn, f, __ATOMIC_RELEASE); \
    }

#endif
