//! `crust show`.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::args::ShowArgs;

pub fn run(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let images = images_as_json(&args.dir)
        .with_context(|| format!("show of {} failed", args.dir.display()))?;
    let text = if args.compact {
        serde_json::to_string(&images)
    } else {
        serde_json::to_string_pretty(&images)
    }
    .context("formatting the images as JSON")?;

    match writeln!(io::stdout().lock(), "{text}") {
        // A reader such as `head` that stops early is not a failure.
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(error).context("writing to stdout")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Every image in `dir` as one JSON value.
fn images_as_json(dir: &Path) -> anyhow::Result<serde_json::Value> {
    Ok(engine::images::show_dir(dir)?)
}
