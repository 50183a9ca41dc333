// Loading a Compose project allocates many small strings and maps; mimalloc (Microsoft's
// allocator, used by rustc and many CLIs) makes `config` on a 1000-service file ~2x faster
// than glibc malloc. See BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rcompose::cli::main()
}
