//! `crust check`: the kernel's features, or what crust would refuse in a process.

use std::process::ExitCode;

use anyhow::Context;
use engine::kerndat::{self, Need, Report};
use nix::unistd::Pid;

use super::say;
use crate::args::CheckArgs;

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    match args.pid {
        Some(pid) => {
            let allowed = engine::refusal::Allowances {
                external: args.external.iter().copied().collect(),
                file_locks: args.file_locks,
                shell_job: args.shell_job,
                ghost_limit: args.ghost_limit,
            };
            check_process(Pid::from_raw(pid), &allowed)
        }
        None => check_kernel(),
    }
}

fn check_kernel() -> anyhow::Result<ExitCode> {
    let reports = kerndat::check_all();
    for report in &reports {
        say(describe(report))?;
    }

    let required = reports.iter().filter(|r| r.feature.need == Need::Required);
    let missing = required.clone().filter(|r| r.result.is_err()).count();
    let total = required.count();
    if missing > 0 {
        // A probe that needs a capability crust lacks fails for that reason,
        // not because the kernel lacks the feature: say which it is.
        if let Err(lacking) = engine::privileges::require_checkpoint_restore("probe every feature")
        {
            anyhow::bail!(
                "check failed: {missing} of {total} required features could not be confirmed; \
                 {lacking}"
            );
        }
        anyhow::bail!("check failed: {missing} of {total} required kernel features are missing");
    }
    say(format_args!(
        "crust can run here: all {total} required kernel features are present"
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `present  name` or `missing  name (optional): why`.
fn describe(report: &Report) -> String {
    let optional = match report.feature.need {
        Need::Required => "",
        Need::Optional => " (optional)",
    };
    match &report.result {
        Ok(()) => format!("present  {}{optional}", report.feature.name),
        Err(why) => format!("missing  {}{optional}: {why}", report.feature.name),
    }
}

fn check_process(pid: Pid, allowed: &engine::refusal::Allowances) -> anyhow::Result<ExitCode> {
    // Without its capabilities crust may not even read the tree, and could
    // not dump it whatever it holds: that is the one thing to say.
    if let Err(missing) = engine::privileges::require_checkpoint_restore("dump it") {
        say(format_args!("pid {pid}: {missing}"))?;
        anyhow::bail!("pid {pid} cannot be dumped by crust as it runs now");
    }
    let refusals =
        process_refusals(pid, allowed).with_context(|| format!("check of pid {pid} failed"))?;
    if refusals.is_empty() {
        say(format_args!(
            "pid {pid}: nothing in its tree that crust would refuse to dump"
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    for refusal in &refusals {
        say(refusal)?;
    }
    anyhow::bail!(
        "pid {pid} cannot be dumped: {}",
        count_of(refusals.len(), "refusal")
    )
}

/// `1 refusal`, `2 refusals`.
fn count_of(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}

/// What crust would refuse to dump in the tree of `pid` with `allowed` given, one line each.
fn process_refusals(
    pid: Pid,
    allowed: &engine::refusal::Allowances,
) -> anyhow::Result<Vec<String>> {
    let refusals = engine::dump::blockers(pid, allowed)?;
    Ok(refusals.iter().map(ToString::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_of_one_is_singular() {
        assert_eq!(count_of(0, "refusal"), "0 refusals");
        assert_eq!(count_of(1, "refusal"), "1 refusal");
        assert_eq!(count_of(2, "refusal"), "2 refusals");
    }

    #[test]
    fn a_report_line_names_the_feature_and_its_state() {
        let feature = &kerndat::features()[0];
        let report = Report {
            feature,
            result: Ok(()),
        };
        assert_eq!(describe(&report), format!("present  {}", feature.name));
    }
}
