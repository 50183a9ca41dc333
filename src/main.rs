fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // The container monitor re-executes this binary; the lead folds this into clap later.
    if args.get(1).map(String::as_str) == Some(rcompose::runtime::monitor::MONITOR_ARG) {
        return rcompose::runtime::monitor::main(&args[2..]);
    }
    rcompose::cli::main()
}
