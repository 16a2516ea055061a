//! The `moonproxy` binary: parse the command line, load the configuration, run.
fn main() {
    std::process::exit(moonproxy::cli::main());
}
