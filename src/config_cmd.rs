//! `sniperforge config template|schema|validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use sniperforge_protocol::{BotType, config};

fn bot_type(name: &str) -> Result<BotType, ExitCode> {
    name.parse::<BotType>().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn print_json(value: &serde_json::Value) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(command: &ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Template { bot_type: name } => match bot_type(name) {
            Ok(t) => print_json(&config::template(t)),
            Err(code) => code,
        },
        ConfigCommand::Schema { bot_type: name } => match bot_type(name) {
            Ok(t) => print_json(&config::schema(t)),
            Err(code) => code,
        },
        ConfigCommand::Validate { file } => {
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("error: reading {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            match config::parse(&text) {
                Ok(valid) => {
                    println!(
                        "{}: valid {} configuration for bot {}",
                        file.display(),
                        valid.config.bot_type,
                        valid.config.bot_id
                    );
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{}: {} error(s)", file.display(), errors.len());
                    for e in &errors {
                        eprintln!("  {e}");
                    }
                    ExitCode::from(1)
                }
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete configuration of a bot type with every default.
    Template {
        /// enhanced_arbitrage, triangular_arbitrage, flash_loan_arbitrage, cross_chain_arbitrage,
        /// ml_analytics, portfolio_manager or real_time_dashboard.
        bot_type: String,
    },
    /// Print the JSON Schema of a bot type's configuration (ranges, hot-reload marks).
    Schema {
        /// Bot type (as for `template`).
        bot_type: String,
    },
    /// Check a configuration file; prints every error with its dotted path.
    Validate {
        /// JSON configuration file.
        file: PathBuf,
    },
}
