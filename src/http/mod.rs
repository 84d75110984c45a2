//! The sans-IO HTTP/1.1 core: bytes in, events out. No socket, no clock, no thread here.
