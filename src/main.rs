// Loading a Compose project allocates many small strings and maps; mimalloc (Microsoft's
// allocator, used by rustc and many CLIs) makes `config` on a 1000-service file ~2x faster
// than glibc malloc. See BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Helper processes the runtime re-executes this binary as: a container's monitor and the
    // network daemon (DNS, port proxies). They bypass the CLI parser on purpose: their
    // arguments are an internal protocol, not a user interface.
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(rcompose::runtime::monitor::MONITOR_ARG) => {
            rcompose::runtime::monitor::main(&args[2..])
        }
        Some(rcompose::runtime::network::netd::NETD_ARG) => {
            rcompose::runtime::network::netd::main(&args[2..])
        }
        _ => rcompose::cli::main(),
    }
}
