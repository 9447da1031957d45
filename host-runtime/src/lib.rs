//! Linux/Unix runtime for `ipc-core`: shared memory, processes, queues and pools.
