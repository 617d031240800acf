//! A workload taken through a checkpoint cycle: started in a session of its
//! own with its output in a temporary directory, dumped (killed or left
//! running), its images decoded with crit, restored detached and adopted,
//! and at the end killed and waited for until its pid is free.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cc::{compile_c, Abi, CompileError};
use crate::checkpoint::{dump_with, restore_detached, CheckpointError};
use crate::crit::{crit_decode_dir, CritError};
use crate::image_json::{pstree, regular_file_pos, Decoded};
use crate::session::spawn_in_own_session;
use crate::tempdir::TempDir;
use crate::watch::{poll_until, wait_for_line, wait_until_gone, WatchError};
use crate::workload::{Workload, WorkloadError};

/// How long a workload may take to print `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a dumped or killed workload may take to end.
const END_TIMEOUT: Duration = Duration::from_secs(10);

/// A step of the cycle that failed.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// Building the workload failed.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The temporary directory or a file in it could not be made.
    #[error("{path}: {source}")]
    File {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// Starting, collecting or adopting the workload failed.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// Something did not show up in time.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// crust failed.
    #[error(transparent)]
    Crust(#[from] CheckpointError),
    /// crit could not decode an image.
    #[error(transparent)]
    Crit(#[from] CritError),
    /// The pstree image does not hold exactly the dumped process.
    #[error("pstree.img names {found:?}, not the one process {pid} that was dumped")]
    Pstree {
        /// The workload's pid.
        pid: Pid,
        /// (pid, threads) of each pstree entry.
        found: Vec<(u64, Vec<u64>)>,
    },
    /// crust restored a process with another pid.
    #[error("crust restored pid {restored}, but the dumped process was pid {pid}")]
    RestoredPid {
        /// The dumped pid.
        pid: Pid,
        /// What crust printed.
        restored: Pid,
    },
    /// No image records an offset for the file.
    #[error("no image records an offset for {path}")]
    NoFileEntry {
        /// The file.
        path: PathBuf,
    },
    /// A signal could not be sent.
    #[error("kill({pid}, {signal}): {errno}")]
    Signal {
        /// The target.
        pid: Pid,
        /// The signal.
        signal: Signal,
        /// What the kernel said.
        errno: nix::errno::Errno,
    },
    /// No report line appeared.
    #[error("no OK/FAIL report in {path} after {timeout:?}; it holds: {content:?}")]
    NoReport {
        /// The output file.
        path: PathBuf,
        /// How long it was given.
        timeout: Duration,
        /// What the file held.
        content: String,
    },
    /// The workload reported something else than finding itself intact.
    #[error("the workload reported {report:?}, not {expected:?}...")]
    NotOk {
        /// How the report should have started.
        expected: String,
        /// What it was.
        report: String,
    },
}

/// A workload and the directory holding its output and images.
#[derive(Debug)]
pub struct Subject {
    workload: Workload,
    output: PathBuf,
    images: PathBuf,
    ready: String,
    dir: TempDir,
}

impl Subject {
    /// Builds the C workload `source` (-O2) and starts it with its temporary
    /// directory as its one argument, for the files it makes.
    pub fn start_c_in_dir(tag: &str, source: &str) -> Result<Self, CycleError> {
        let program = compile_c(source, Abi::X86_64, &["-O2"])?;
        Self::start(tag, |dir| {
            let mut command = Command::new(&program);
            command.arg(dir);
            command
        })
    }

    /// Makes a temporary directory, starts the command `build` gives for it
    /// in its own session, stdout and stderr into `output` there, and waits
    /// for its `ready` line.
    pub fn start(tag: &str, build: impl FnOnce(&Path) -> Command) -> Result<Self, CycleError> {
        let dir = TempDir::new(tag).map_err(|source| CycleError::File {
            path: std::env::temp_dir(),
            source,
        })?;
        let output = dir.path().join("output");
        let images = dir.path().join("images");
        std::fs::create_dir(&images).map_err(|source| CycleError::File {
            path: images.clone(),
            source,
        })?;
        let workload = spawn_in_own_session(&mut build(dir.path()), &output)?;
        let ready = wait_for_line(&output, "ready", READY_TIMEOUT)?;
        Ok(Self {
            workload,
            output,
            images,
            ready,
            dir,
        })
    }

    /// The temporary directory (for the workload's own files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The workload's pid.
    pub fn pid(&self) -> Pid {
        self.workload.pid()
    }

    /// The `ready ...` line it printed.
    pub fn ready(&self) -> &str {
        &self.ready
    }

    /// The directory its images go to.
    pub fn images(&self) -> &Path {
        &self.images
    }

    /// What is in its image directory: nothing after a refused or failed dump, not even the
    /// dump's staging directory, which lives there.
    pub fn images_left(&self) -> Vec<PathBuf> {
        let entries = std::fs::read_dir(&self.images).into_iter().flatten();
        entries.flatten().map(|entry| entry.path()).collect()
    }

    /// The file its stdout and stderr go to.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Dumps it; unless `leave_running`, reaps it (the dump killed it).
    /// Returns crit's JSON of the images, whose pstree must name this one
    /// process.
    pub fn dump(&mut self, leave_running: bool, timeout: Duration) -> Result<Decoded, CycleError> {
        let extra: &[&str] = if leave_running {
            &["--leave-running"]
        } else {
            &[]
        };
        self.dump_with(extra, timeout)
    }

    /// Dumps it with the options `extra` (`--leave-running`, `--file-locks`, ...); unless they
    /// hold `--leave-running`, reaps it (the dump killed it). Returns crit's JSON of the
    /// images, whose pstree must name this one process.
    pub fn dump_with(&mut self, extra: &[&str], timeout: Duration) -> Result<Decoded, CycleError> {
        dump_with(self.pid(), &self.images, extra, timeout)?;
        if !extra.contains(&"--leave-running") {
            self.workload.collect_dumped(END_TIMEOUT)?;
        }
        let decoded = crit_decode_dir(&self.images)?;
        let tree = pstree(&decoded);
        let pid = u64::try_from(self.pid().as_raw()).unwrap_or(u64::MAX);
        if tree.len() != 1 || tree[0].0 != pid {
            return Err(CycleError::Pstree {
                pid: self.pid(),
                found: tree,
            });
        }
        Ok(decoded)
    }

    /// Sends `signal` to it, by pid.
    pub fn signal(&self, signal: Signal) -> Result<(), CycleError> {
        kill(self.pid(), signal).map_err(|errno| CycleError::Signal {
            pid: self.pid(),
            signal,
            errno,
        })
    }

    /// Asks it for its report (SIGUSR1, the workloads' convention) and waits
    /// for it.
    pub fn ask_report(&self, timeout: Duration) -> Result<String, CycleError> {
        self.signal(Signal::SIGUSR1)?;
        self.report(timeout)
    }

    /// Asks for its report, which must start `OK pid=PID ` then `more` (the workloads'
    /// convention for "I checked myself and found everything as it was"); returns it.
    pub fn ok_report(&self, more: &str, timeout: Duration) -> Result<String, CycleError> {
        let report = self.ask_report(timeout)?;
        let expected = format!("OK pid={} {more}", self.pid());
        if report.starts_with(&expected) {
            return Ok(report);
        }
        Err(CycleError::NotOk { expected, report })
    }

    /// Kills the original process (left running by the dump) and reaps it.
    pub fn kill_original(&mut self) -> Result<(), CycleError> {
        self.signal(Signal::SIGKILL)?;
        self.reap_original().map(drop)
    }

    /// Reaps the original process once it has ended by itself; how it ended.
    pub fn reap_original(&mut self) -> Result<ExitStatus, CycleError> {
        Ok(self.workload.collect_dumped(END_TIMEOUT)?)
    }

    /// Cuts `path` back to the offset the images saved for it, undoing
    /// what the original wrote after a `--leave-running` dump.
    pub fn rewind_to_dump(&self, decoded: &Decoded, path: &Path) -> Result<u64, CycleError> {
        let pos = regular_file_pos(decoded, &path.to_string_lossy()).ok_or_else(|| {
            CycleError::NoFileEntry {
                path: path.to_path_buf(),
            }
        })?;
        let file_error = |source| CycleError::File {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(file_error)?;
        file.set_len(pos).map_err(file_error)?;
        Ok(pos)
    }

    /// `crust restore -d` from the images; the restored process must have
    /// the old pid, and is killed when this subject is finished or dropped.
    pub fn restore(&mut self, timeout: Duration) -> Result<(), CycleError> {
        let restored = restore_detached(&self.images, timeout)?;
        if restored != self.pid() {
            return Err(CycleError::RestoredPid {
                pid: self.pid(),
                restored,
            });
        }
        self.workload.adopt_restored()?;
        Ok(())
    }

    /// Waits for its report: the first line of the output starting with
    /// `OK` or `FAIL`.
    /// Takes charge of the process a restore run elsewhere brought back with its pid.
    pub fn adopt_restored(&mut self) -> Result<(), CycleError> {
        Ok(self.workload.adopt_restored()?)
    }

    pub fn report(&self, timeout: Duration) -> Result<String, CycleError> {
        let found = poll_until(timeout, || {
            let text = std::fs::read_to_string(&self.output).ok()?;
            let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
            complete
                .lines()
                .find(|line| line.starts_with("OK") || line.starts_with("FAIL"))
                .map(str::to_owned)
        });
        found.ok_or_else(|| CycleError::NoReport {
            path: self.output.clone(),
            timeout,
            content: std::fs::read_to_string(&self.output).unwrap_or_default(),
        })
    }

    /// Kills it (if still there) and waits until its pid is free.
    pub fn finish(self) -> Result<(), CycleError> {
        let pid = self.pid();
        drop(self.workload);
        wait_until_gone(pid, END_TIMEOUT)?;
        Ok(())
    }
}
