use std::process::ExitCode;

fn main() -> ExitCode {
    steward_integrations::http::install_tls_provider();
    steward_server::cli::run()
}
