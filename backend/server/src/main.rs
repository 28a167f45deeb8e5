use std::process::ExitCode;

fn main() -> ExitCode {
    steward_server::cli::run()
}
