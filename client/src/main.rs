//! The `tessera` binary: scheduler, worker, local cluster and demo.
//! Parses the command line and hands it to `tessera::cli`.

use clap::Parser;

fn main() {
    let cli = tessera::cli::Cli::parse();
    tessera::logging::init(cli.log_format);
    if let Err(e) = tessera::cli::run(cli) {
        eprintln!("tessera: {e}");
        std::process::exit(1);
    }
}
