//! Interval and POSIX timers (timer.proto), kept in the task core
//! (`itimers-N.img` and `posix-timers-N.img` are their older, separate homes).

use serde::Serialize;

/// `itimer_entry`: one of ITIMER_REAL/VIRTUAL/PROF, interval then value.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct ItimerEntry {
    #[prost(uint64, required, tag = "1")]
    pub isec: u64,
    #[prost(uint64, required, tag = "2")]
    pub iusec: u64,
    #[prost(uint64, required, tag = "3")]
    pub vsec: u64,
    #[prost(uint64, required, tag = "4")]
    pub vusec: u64,
}

/// `posix_timer_entry`: a `timer_create` timer with its sigevent and state.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct PosixTimerEntry {
    #[prost(uint32, required, tag = "1")]
    pub it_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub clock_id: u32,
    #[prost(uint32, required, tag = "3")]
    pub si_signo: u32,
    #[prost(uint32, required, tag = "4")]
    pub it_sigev_notify: u32,
    #[prost(uint64, required, tag = "5")]
    pub sival_ptr: u64,
    #[prost(uint32, required, tag = "6")]
    pub overrun: u32,
    #[prost(uint64, required, tag = "7")]
    pub isec: u64,
    #[prost(uint64, required, tag = "8")]
    pub insec: u64,
    #[prost(uint64, required, tag = "9")]
    pub vsec: u64,
    #[prost(uint64, required, tag = "10")]
    pub vnsec: u64,
    #[prost(int32, optional, tag = "11")]
    pub notify_thread_id: Option<i32>,
}

/// `task_timers_entry`: the three itimers and every POSIX timer of a task.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TaskTimersEntry {
    #[prost(message, required, tag = "1")]
    pub real: ItimerEntry,
    #[prost(message, required, tag = "2")]
    pub virt: ItimerEntry,
    #[prost(message, required, tag = "3")]
    pub prof: ItimerEntry,
    #[prost(message, repeated, tag = "4")]
    pub posix: Vec<PosixTimerEntry>,
}
