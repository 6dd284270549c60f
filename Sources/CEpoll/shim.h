// Linux epoll (sys/epoll.h), which the Glibc module does not export: the Postgres statement loop
// waits on every connection socket with it.
#include <sys/epoll.h>
