//! The threads of a process (`/proc/PID/task`) and its children (`/proc/PID/task/*/children`).

use nix::unistd::Pid;

use super::{proc_path, read_parsed, BadLine, ProcError};

/// The thread ids of `pid`, sorted, the thread group leader first.
pub fn tasks(pid: Pid) -> Result<Vec<Pid>, ProcError> {
    let path = proc_path(pid, "task");
    let list = |source| ProcError::List {
        pid,
        path: path.clone(),
        source,
    };
    let mut tids = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(list)? {
        let name = entry.map_err(list)?.file_name();
        let name = name.to_string_lossy();
        let tid = name
            .parse::<i32>()
            .map_err(|_| ProcError::parse(pid, path.clone(), BadLine::new(&name, "not a tid")))?;
        tids.push(Pid::from_raw(tid));
    }
    tids.sort_by_key(|tid| (*tid != pid, tid.as_raw()));
    Ok(tids)
}

/// The children of every thread of `pid`, sorted and without duplicates.
pub fn children(pid: Pid) -> Result<Vec<Pid>, ProcError> {
    let mut all = Vec::new();
    for tid in tasks(pid)? {
        match read_parsed(pid, &format!("task/{tid}/children"), parse_children) {
            Ok(mut kids) => all.append(&mut kids),
            // A thread that exited between the listing and the read has no children.
            Err(ProcError::Read { source, .. })
                if source.raw_os_error() == Some(nix::libc::ENOENT)
                    || source.raw_os_error() == Some(nix::libc::ESRCH) => {}
            Err(other) => return Err(other),
        }
    }
    all.sort_by_key(|kid| kid.as_raw());
    all.dedup();
    Ok(all)
}

/// Parse a `children` file: pids separated by spaces.
pub fn parse_children(text: &str) -> Result<Vec<Pid>, BadLine> {
    text.split_whitespace()
        .map(|word| {
            word.parse::<i32>()
                .map(Pid::from_raw)
                .map_err(|_| BadLine::new(text, "not a pid"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_list_parses() {
        let kids = parse_children("812 813 \n").unwrap();
        assert_eq!(kids, vec![Pid::from_raw(812), Pid::from_raw(813)]);
        assert!(parse_children("").unwrap().is_empty());
        assert!(parse_children("12 x").is_err());
    }

    #[test]
    fn own_tasks_start_with_the_leader() {
        let me = nix::unistd::getpid();
        let tids = tasks(me).unwrap();
        assert_eq!(tids.first(), Some(&me));
    }
}
