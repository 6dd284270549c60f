// Linux epoll (sys/epoll.h) and eventfd (sys/eventfd.h), which the Glibc module does not export:
// Conveyor's event loops (ConveyorThreads.EventLoop) wait on sockets and wake-ups with them.
#include <sys/epoll.h>
#include <sys/eventfd.h>
