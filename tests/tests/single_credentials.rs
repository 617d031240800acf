//! Credentials of a process that is not root: uids, gids, supplementary
//! groups, capability sets (effective, permitted, inheritable, bounding,
//! ambient) and no_new_privs are the same after dump, kill and restore as
//! before (the restore had to get through securebits to set them). The
//! workload sets them itself, starting as root.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs;
use std::process::Command;
use std::time::Duration;

use nix::unistd::Pid;
use tests::{compile_c, crust, spawn_in_own_session, wait_for_line, Abi, TempDir};

const CREDENTIALED: &str = r#"
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    gid_t groups[] = {100, 65533};
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    unsigned bind = 1u << CAP_NET_BIND_SERVICE, raw = 1u << CAP_NET_RAW;
    if (prctl(PR_CAPBSET_DROP, CAP_SYS_MODULE) || prctl(PR_SET_KEEPCAPS, 1)
        || setgroups(2, groups) || setresgid(65534, 65533, 65534) || setresuid(65534, 65533, 65534))
        return 2;
    data[0].effective = bind;
    data[0].permitted = bind | raw;
    data[0].inheritable = bind;
    if (syscall(SYS_capset, &header, data)
        || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0)
        || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return 3;
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"#;

const TIMEOUT: Duration = Duration::from_secs(60);
const FIELDS: [&str; 10] = [
    "Uid:",
    "Gid:",
    "Groups:",
    "CapInh:",
    "CapPrm:",
    "CapEff:",
    "CapBnd:",
    "CapAmb:",
    "NoNewPrivs:",
    "Seccomp:",
];

/// The credential lines of /proc/PID/status.
fn credentials(pid: Pid) -> Vec<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .filter(|line| FIELDS.iter().any(|f| line.starts_with(f)))
        .map(str::to_string)
        .collect()
}

#[test]
fn credentials_of_a_non_root_process_survive_dump_and_restore() {
    let temp = TempDir::new("creds").expect("temp dir");
    let output = temp.path().join("output");
    let program = compile_c(CREDENTIALED, Abi::X86_64, &["-O2"]).expect("compile");
    let mut command = Command::new(program);
    command.current_dir("/");
    let mut workload = spawn_in_own_session(&mut command, &output).expect("start it");
    let pid = workload.pid();
    wait_for_line(&output, "ready", TIMEOUT).expect("it set its credentials");
    let before = credentials(pid);
    assert!(
        before
            .iter()
            .any(|line| line.starts_with("Uid:\t65534\t65533\t65534")),
        "{before:?}"
    );

    let images = temp.path().join("images");
    let dumped = crust(
        &[
            "dump",
            "-t",
            &pid.to_string(),
            "-D",
            &images.to_string_lossy(),
        ],
        TIMEOUT,
    )
    .expect("run crust dump");
    assert_eq!(dumped.code(), Some(0), "{}", dumped.stderr);
    workload.collect_dumped(TIMEOUT).expect("the dump kills it");
    let restored = crust(&["restore", "-d", "-D", &images.to_string_lossy()], TIMEOUT)
        .expect("run crust restore");
    assert_eq!(restored.code(), Some(0), "{}", restored.stderr);
    workload.adopt_restored().expect("adopt it");

    assert_eq!(credentials(pid), before);
}
