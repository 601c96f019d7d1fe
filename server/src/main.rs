//! The `confab` binary.

fn main() -> std::process::ExitCode {
    match confab_server::cli::main_with_args(std::env::args_os()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("confab: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
