//! `--no-RULE` for every coverage rule, made from the rule list itself: a new rule gets its flag
//! without a line here.
use clap::{Arg, ArgAction, ArgMatches, Command};
use slimctl::pipeline::types::coverage_rules;

#[derive(Debug, Clone, Default)]
pub struct RuleArgs {
    /// The rules turned off, by name.
    pub off: Vec<String>,
}

fn flag(name: &str) -> String {
    format!("no-{name}")
}

impl clap::FromArgMatches for RuleArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let off =
            coverage_rules().iter().filter(|r| m.get_flag(&flag(r.name()))).map(|r| r.name().to_owned()).collect();
        Ok(RuleArgs { off })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for RuleArgs {
    fn augment_args(cmd: Command) -> Command {
        coverage_rules().iter().fold(cmd, |cmd, r| {
            cmd.arg(
                Arg::new(flag(r.name()))
                    .long(flag(r.name()))
                    .action(ArgAction::SetTrue)
                    .help(format!("Coverage rule {} off: do not keep {}", r.name(), r.about()))
                    .help_heading("Coverage rules"),
            )
        })
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
