//! The socket pool: nonblocking sockets, preallocated buffer slots, timers and worker threads.
//!
//! In scope: sockets, the poller, buffer slots, timers, threads. Out of scope: any protocol.
