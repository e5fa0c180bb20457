//! The `sobrio-collector` binary: parse, wire, run.

fn main() -> std::process::ExitCode {
    sobrio_collector::server::main()
}
