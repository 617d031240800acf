//! `crust check -t` freezes the tree for its look and lets it go as it was: a thread waiting
//! in semop and one waiting in sigwaitinfo (rt_sigtimedwait with no timeout), which any stop
//! makes return EINTR, are put back into their waits, and see no EINTR.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::time::Duration;

use tests::{crust, Subject};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The main thread waits for SIGUSR1 in sigwaitinfo, another thread in semop on a private
/// semaphore; each counts the EINTRs it gets. SIGUSR1 ends both waits, and the report says
/// whether any wait was interrupted.
const PROGRAM: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/sem.h>
#include <unistd.h>
static int semid;
static int semop_eintr;
static void *waiter(void *arg) {
    (void)arg;
    struct sembuf down = { 0, -1, 0 };
    while (semop(semid, &down, 1) != 0)
        if (errno == EINTR) semop_eintr++;
    return NULL;
}
int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    semid = semget(IPC_PRIVATE, 1, 0600);
    if (semid < 0) return 1;
    pthread_t thread;
    if (pthread_create(&thread, NULL, waiter, NULL) != 0) return 1;
    printf("ready %d\n", getpid());
    fflush(stdout);
    int wait_eintr = 0;
    for (;;) {
        siginfo_t info;
        int got = sigwaitinfo(&set, &info);
        if (got == SIGUSR1) break;
        if (got < 0 && errno == EINTR) wait_eintr++;
    }
    struct sembuf up = { 0, 1, 0 };
    semop(semid, &up, 1);
    pthread_join(thread, NULL);
    semctl(semid, 0, IPC_RMID);
    if (wait_eintr == 0 && semop_eintr == 0)
        printf("OK pid=%d waits\n", getpid());
    else
        printf("FAIL pid=%d sigwaitinfo_eintr=%d semop_eintr=%d\n", getpid(), wait_eintr, semop_eintr);
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn waits_without_timeout_see_no_eintr_from_a_check() {
    let subject =
        Subject::start_c_in_dir("check-waits", PROGRAM).unwrap_or_else(|error| panic!("{error}"));
    // Time for both threads to enter their waits.
    std::thread::sleep(Duration::from_millis(200));
    let pid = subject.pid().to_string();
    for _ in 0..3 {
        let checked = crust(&["check", "-t", &pid], TIMEOUT).expect("run crust check");
        assert!(checked.code().is_some(), "{checked:?}");
    }
    subject
        .ok_report("waits", TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
}
