//! `/proc/PID/limits`: resource limits of another task (crust cannot `prlimit` them without
//! `CAP_SYS_RESOURCE`, so /proc is the source).

use nix::unistd::Pid;

use super::{read_parsed, BadLine, ProcError};

/// `RLIM_INFINITY`, which limits prints as `unlimited`.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// One row of limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// The row name (`Max open files`).
    pub name: String,
    /// The `RLIMIT_*` number of the row.
    pub resource: Option<u32>,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Row names in the kernel's order, which is `RLIMIT_*` order.
const ROWS: &[&str] = &[
    "Max cpu time",
    "Max file size",
    "Max data size",
    "Max stack size",
    "Max core file size",
    "Max resident set",
    "Max processes",
    "Max open files",
    "Max locked memory",
    "Max address space",
    "Max file locks",
    "Max pending signals",
    "Max msgqueue size",
    "Max nice priority",
    "Max realtime priority",
    "Max realtime timeout",
];

/// Read `/proc/PID/limits`.
pub fn limits(pid: Pid) -> Result<Vec<Limit>, ProcError> {
    read_parsed(pid, "limits", parse_limits)
}

/// Parse a limits file (header line first).
pub fn parse_limits(text: &str) -> Result<Vec<Limit>, BadLine> {
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(parse_row)
        .collect()
}

fn parse_row(line: &str) -> Result<Limit, BadLine> {
    let position = ROWS.iter().position(|name| line.starts_with(name));
    let name = position
        .and_then(|i| ROWS.get(i))
        .ok_or(BadLine::new(line, "unknown limit"))?;
    let mut values = line[name.len()..].split_whitespace();
    let mut value = || match values.next() {
        Some("unlimited") => Ok(RLIM_INFINITY),
        Some(number) => number
            .parse()
            .map_err(|_| BadLine::new(line, "bad limit value")),
        None => Err(BadLine::new(line, "missing limit value")),
    };
    let (soft, hard) = (value()?, value()?);
    let resource = position.and_then(|i| u32::try_from(i).ok());
    Ok(Limit {
        name: name.to_string(),
        resource,
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max stack size            8388608              unlimited            bytes     
Max open files            20000                20000                files     
Max nice priority         0                    0                    
Max realtime timeout      unlimited            unlimited            us        
";

    #[test]
    fn rows_parse() {
        let rows = parse_limits(SAMPLE).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!((rows[0].soft, rows[0].hard), (RLIM_INFINITY, RLIM_INFINITY));
        assert_eq!(
            (rows[1].resource, rows[1].soft, rows[1].hard),
            (Some(3), 8388608, RLIM_INFINITY)
        );
        assert_eq!(
            (rows[2].resource, rows[2].soft),
            (Some(libc::RLIMIT_NOFILE), 20000)
        );
        assert_eq!(rows[3].resource, Some(13));
    }

    #[test]
    fn own_limits_have_all_rows() {
        assert_eq!(limits(nix::unistd::getpid()).unwrap().len(), ROWS.len());
    }
}
