#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "../CLazyLibrary/lazy_library.h"
#include <stddef.h>

/* libvirt is loaded when first used (dlopen), not linked: linked, it and the ~20 libraries it needs
   (glib, gio, libxml2, libssh, ...) were mapped and initialized in every node, about 4.5 MB of resident
   memory, though only the libvirt executor calls it (bench/memory). ConveyorVirt calls the cv_ wrappers
   below; each resolves its function once. Without libvirt.so.0 they fail like libvirt does (NULL, -1),
   and cv_virt_load_error() says why. */
CV_LAZY_LIBRARY(virt, "libvirt.so.0")

#define CV_VIRT_SYMBOL(name) CV_LAZY_SYMBOL(virt, name)
#define CV_VIRT(ret, failed, name, params, args) \
    static inline ret cv_##name params { CV_VIRT_SYMBOL(name) return f ? f args : failed; }
#define CV_VIRT_VOID(name, params, args) \
    static inline void cv_##name params { CV_VIRT_SYMBOL(name) if (f) f args; }

CV_VIRT(int, -1, virInitialize, (void), ())
CV_VIRT_VOID(virSetErrorFunc, (void *userData, virErrorFunc handler), (userData, handler))
CV_VIRT(int, -1, virEventRegisterDefaultImpl, (void), ())
CV_VIRT(int, -1, virEventRunDefaultImpl, (void), ())
CV_VIRT(virErrorPtr, NULL, virGetLastError, (void), ())
CV_VIRT_VOID(virResetLastError, (void), ())
CV_VIRT(virConnectPtr, NULL, virConnectOpen, (const char *name), (name))
CV_VIRT(int, -1, virConnectClose, (virConnectPtr conn), (conn))
CV_VIRT(int, -1, virConnectSetKeepAlive, (virConnectPtr conn, int interval, unsigned int count), (conn, interval, count))
CV_VIRT(int, -1, virConnectListAllDomains, (virConnectPtr conn, virDomainPtr **domains, unsigned int flags), (conn, domains, flags))
CV_VIRT(virDomainPtr, NULL, virDomainLookupByName, (virConnectPtr conn, const char *name), (conn, name))
CV_VIRT(int, -1, virDomainFree, (virDomainPtr domain), (domain))
CV_VIRT(const char *, NULL, virDomainGetName, (virDomainPtr domain), (domain))
CV_VIRT(int, -1, virDomainGetState, (virDomainPtr domain, int *state, int *reason, unsigned int flags), (domain, state, reason, flags))
CV_VIRT(int, -1, virDomainCreate, (virDomainPtr domain), (domain))
CV_VIRT(int, -1, virDomainDestroy, (virDomainPtr domain), (domain))
CV_VIRT(int, -1, virDomainShutdown, (virDomainPtr domain), (domain))
CV_VIRT(virDomainSnapshotPtr, NULL, virDomainSnapshotCreateXML, (virDomainPtr domain, const char *xmlDesc, unsigned int flags), (domain, xmlDesc, flags))
CV_VIRT(int, -1, virDomainSnapshotFree, (virDomainSnapshotPtr snapshot), (snapshot))
CV_VIRT(virDomainSnapshotPtr, NULL, virDomainSnapshotLookupByName, (virDomainPtr domain, const char *name, unsigned int flags), (domain, name, flags))
CV_VIRT(int, -1, virDomainRevertToSnapshot, (virDomainSnapshotPtr snapshot, unsigned int flags), (snapshot, flags))
CV_VIRT(int, -1, virDomainListAllSnapshots, (virDomainPtr domain, virDomainSnapshotPtr **snaps, unsigned int flags), (domain, snaps, flags))
CV_VIRT(const char *, NULL, virDomainSnapshotGetName, (virDomainSnapshotPtr snapshot), (snapshot))
CV_VIRT(int, -1, virDomainSnapshotDelete, (virDomainSnapshotPtr snapshot, unsigned int flags), (snapshot, flags))
