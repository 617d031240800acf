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
    let total = required.clone().count();
    let failed = required.filter(|r| r.result.is_err());
    let gated = failed.clone().filter(|r| lacks_gate(r)).count();
    let missing = failed.count() - gated;
    if missing > 0 {
        anyhow::bail!("check failed: {missing} of {total} required kernel features are missing");
    }
    if gated > 0 {
        say(format_args!(
            "crust can run here with what it holds: {gated} of {total} required features need \
             a privilege crust has not (the 'needs' lines say what it does without)"
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    say(format_args!(
        "crust can run here: all {total} required kernel features are present"
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Whether the report failed because crust lacks the privilege its probe needs.
fn lacks_gate(report: &Report) -> bool {
    report.result.is_err() && report.feature.gate.is_some_and(|gate| !gate.held())
}

/// `present  name`, `missing  name (optional): why` or `needs    name: privilege ...`.
fn describe(report: &Report) -> String {
    let optional = match report.feature.need {
        Need::Required => "",
        Need::Optional => " (optional)",
    };
    let name = report.feature.name;
    match (&report.result, report.feature.gate) {
        (Ok(()), _) => format!("present  {name}{optional}"),
        (Err(_), Some(gate)) if !gate.held() => format!(
            "needs    {name}: {}, which crust has not; without it {}",
            gate.needs, gate.without
        ),
        (Err(why), _) => format!("missing  {name}{optional}: {why}"),
    }
}

fn check_process(pid: Pid, allowed: &engine::refusal::Allowances) -> anyhow::Result<ExitCode> {
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
