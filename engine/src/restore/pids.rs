//! Claiming the pids a restore needs.
//!
//! The pids of a tree that was just killed by its dump may still be held by
//! zombies until their reaper collects them (pid 1 of a container may take a
//! second or more), so a pid held by a zombie is waited for, within a bound.

use std::time::{Duration, Instant};

use super::RestoreError;

/// How long a restore waits for a zombie to release a pid it needs.
pub const ZOMBIE_WAIT: Duration = Duration::from_secs(3);

/// Who holds a pid now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidHolder {
    /// Nobody: the pid is free.
    Free,
    /// A zombie that its parent has not reaped yet.
    Zombie,
    /// A live task, with its name.
    Live(String),
}

/// Reads who holds `pid` from /proc.
pub fn holder(pid: i32) -> PidHolder {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return PidHolder::Free;
    };
    parse_holder(&stat)
}

fn parse_holder(stat: &str) -> PidHolder {
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return PidHolder::Live(String::new());
    };
    let comm = stat.get(open + 1..close).unwrap_or_default().to_string();
    match stat.get(close + 2..close + 3) {
        Some("Z") | Some("X") => PidHolder::Zombie,
        _ => PidHolder::Live(comm),
    }
}

/// Waits until every pid in `pids` is free; zombies are waited for up to
/// [`ZOMBIE_WAIT`], a live holder is an error at once.
pub fn wait_until_free(pids: &[i32]) -> Result<(), RestoreError> {
    let deadline = Instant::now() + ZOMBIE_WAIT;
    let mut announced = false;
    for &pid in pids {
        loop {
            match holder(pid) {
                PidHolder::Free => break,
                PidHolder::Live(comm) => return Err(RestoreError::PidInUse { pid, comm }),
                PidHolder::Zombie if Instant::now() >= deadline => {
                    return Err(RestoreError::PidHeldByZombie {
                        pid,
                        waited: ZOMBIE_WAIT,
                    })
                }
                PidHolder::Zombie => {
                    if !announced {
                        // Shown by default: the user sees why the restore pauses.
                        log::warn!(
                            "pid {pid} is still held by a zombie (its reaper has not run yet); \
                             waiting up to {ZOMBIE_WAIT:?}"
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_state_after_the_last_parenthesis() {
        assert_eq!(
            parse_holder("12 (a) b) S 1 12"),
            PidHolder::Live("a) b".into())
        );
        assert_eq!(parse_holder("12 (sleep) Z 1 12"), PidHolder::Zombie);
    }

    #[test]
    fn own_pid_is_live() {
        let me = std::process::id() as i32;
        assert!(matches!(holder(me), PidHolder::Live(_)));
        assert!(matches!(
            wait_until_free(&[me]),
            Err(RestoreError::PidInUse { .. })
        ));
    }
}
