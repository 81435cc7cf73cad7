//! The `perpsim` command: parses the command line and maps errors to exit codes
//! (0 success, 1 the work failed, 2 wrong usage).

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    perpsim::cli::main()
}

/// glibc gives memory back to the kernel whenever 128 KB at the top of a heap are free, and
/// the next allocation there takes a page fault per 4 KB to get it back. A Monte Carlo sweep
/// builds an engine per path and configuration, and frees its exchange event log (up to
/// 1.5 MB) when the path ends: with the default, the main job's sweep took 143,000 page
/// faults and 0.3–0.5 s of kernel time (10 % of its time on one thread; 6,400 faults and
/// 0.05 s with this). The binary keeps up to 256 MB free at a heap's top and serves blocks
/// up to 32 MB from the heap, where the next path reuses them. Peak memory: the main job's is
/// unchanged (56 MB); a 1m Monte Carlo sweep's rises from 94 to 110 MB (its 400 KB path
/// columns now come from the heap).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread starts
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}
