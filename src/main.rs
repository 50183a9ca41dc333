// Loading a Compose project allocates many small strings and maps; mimalloc (Microsoft's
// allocator, used by rustc and many CLIs) makes `config` on a 1000-service file ~2x faster
// than glibc malloc. See BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // The container monitor re-executes this binary; the lead folds this into clap later.
    if args.get(1).map(String::as_str) == Some(rcompose::runtime::monitor::MONITOR_ARG) {
        return rcompose::runtime::monitor::main(&args[2..]);
    }
    rcompose::cli::main()
}
