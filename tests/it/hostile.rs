//! Hostile input (issue 7): oversized, malformed, smuggling and flooding requests. Each case
//! asserts a 4xx or a closed connection, no panic, bounded memory, and other clients unaffected.
