fn main() -> std::process::ExitCode {
    // Hidden helper entry points re-executed by the runtime (folded into clap later).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(rcompose::runtime::network::netd::NETD_ARG) {
        return rcompose::runtime::network::netd::main(&args[1..]);
    }
    rcompose::cli::main()
}
