//! Backends: servers, balancing algorithms, queues, connect, retries and health checks.
