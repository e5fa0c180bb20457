//! The `sobrio-agent` binary: parse, wire, run.

fn main() -> std::process::ExitCode {
    sobrio_agent::cli::main()
}
