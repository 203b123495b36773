//! The `covenant` command, with no generated rules linked in (see `lib.rs`).

fn main() -> std::process::ExitCode {
    covenant_cli::main_with(&[])
}
