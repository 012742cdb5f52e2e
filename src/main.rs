//! The `roku-bridge` binary: the process-wide allocator, then the library's command line.

use std::process::ExitCode;

/// Every request allocates a little (headers, the body, the span); glibc's allocator spent a
/// tenth of the cached-lookup path in malloc, free and their locks. mimalloc's per-thread heaps
/// take that contention away.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    roku_bridge::cli::main()
}
