//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};
use engine::external::{External, InheritFd};

const EXIT_CODES: &str = "\
Exit status:
  0   success
  1   the operation failed (one line on stderr says why)
  2   the command line was wrong
  N   `crust restore` without -d: the restored process's own exit status
      (128+SIG if a signal killed it)
  70  crust itself hit an internal error";

/// Checkpoint and restore Linux processes, writing CRIU's image format.
#[derive(Debug, Parser)]
#[command(name = "crust", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Log more: -v info, -vv debug, -vvv trace (default: warnings only).
    #[arg(short, long, action = ArgAction::Count, global = true, display_order = 100)]
    pub verbose: u8,

    /// Write the log to FILE, with timestamps and pid, instead of stderr.
    #[arg(
        short = 'o',
        long = "log-file",
        value_name = "FILE",
        global = true,
        display_order = 101
    )]
    pub log_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checkpoint a running process and all its descendants into a directory of images.
    #[command(
        long_about = "Checkpoint a running process and all its descendants into a \
            directory of images. crust freezes every thread of every process of the \
            tree, saves their memory, registers, files and other kernel state as CRIU \
            image files in the images directory, then kills the tree (or lets it carry \
            on with --leave-running). Anything crust cannot restore faithfully is \
            refused before anything is written, and the tree is left running as it \
            was; `crust check -t PID` lists every such blocker at once.",
        after_help = "Example:\n  crust dump -t 4242 -D /tmp/ckpt\n  \
            crust dump -t 4242 -D /tmp/ckpt --leave-running -v\n  \
            crust dump -t 4242 -D /tmp/ckpt --external 'pipe:[81234]'   \
            # its stdout is a shell's pipe\n  \
            crust dump -t 4242 -D /tmp/ckpt --external 'file[1c:2a3f]'   \
            # its log file is shared with the shell that started it\n  \
            crust dump -t 4242 -D /tmp/ckpt --file-locks   # it holds a lock on its database\n  \
            crust dump -t 4242 -D /tmp/ckpt --shell-job   \
            # a program started from a shell, on its terminal\n  \
            crust dump -t 4242 -D /tmp/ckpt --ghost-limit 64M   \
            # it holds an unlinked file of up to 64 MiB"
    )]
    Dump(DumpArgs),

    /// Bring a process tree back from a directory of images.
    #[command(
        long_about = "Bring a process tree back from a directory of images written by \
            `crust dump`. Every process gets its old pid, parent, process group, \
            session, memory, registers and files back and carries on from where it \
            was frozen. Without -d, crust waits \
            for it and exits with its exit status (128+SIG if a signal killed it), \
            as if it were the process; with -d it prints the pid and returns once \
            the process runs.",
        after_help = "Example:\n  crust restore -D /tmp/ckpt -d\n  \
            crust restore -D /tmp/ckpt; echo \"the process exited with $?\"\n  \
            crust restore -D /tmp/ckpt -d --inherit-fd 'fd[3]:pipe:[81234]' 3>&1 | cat   \
            # its old stdout pipe is now cat's\n  \
            crust restore -D /tmp/ckpt -d --inherit-fd 'fd[3]:file[1c:2a3f]' 3>>/tmp/log   \
            # its log file, shared again\n  \
            crust restore -D /tmp/ckpt --shell-job   \
            # a shell job, back on this terminal"
    )]
    Restore(RestoreArgs),

    /// Print the images in a directory as JSON.
    #[command(
        long_about = "Print the images in a directory as JSON, so that a checkpoint can be read, searched with jq, or compared \
            with another. The output is indented unless --compact is given.",
        after_help = "Example:\n  crust show /tmp/ckpt | less\n  \
            crust show --compact /tmp/ckpt > ckpt.json"
    )]
    Show(ShowArgs),

    /// Tell whether this kernel, or a given process, can be checkpointed.
    #[command(
        long_about = "Tell whether this kernel has what crust needs: one line per \
            kernel feature, present or missing, then a verdict. Exits 0 only if \
            every required feature is present. With -t PID, instead list everything \
            crust would refuse to dump in that process and in each of its \
            descendants, all at once, one line each (pid, resource, reason, and \
            the option that would lift it), and exit 0 only if nothing. The \
            processes are only read, never stopped.",
        after_help = "Example:\n  crust check\n  crust check -t 4242\n  \
            crust check -t 4242 --file-locks   # would it dump with --file-locks?"
    )]
    Check(CheckArgs),

    /// Watch crust checkpoint and restore a small counting program.
    #[command(
        long_about = "Watch crust at work on a small program: it starts a counter \
            that appends a line to a file five times a second, checkpoints it into \
            a temporary directory (which kills it), restores it, and shows that \
            the count goes on from where it stopped, with no number lost or \
            repeated. Everything it starts and writes is removed at the end.",
        after_help = "Example:\n  crust demo"
    )]
    Demo,

    /// The program `crust demo` checkpoints (not for direct use).
    #[command(name = "demo-counter", hide = true)]
    DemoCounter(DemoCounterArgs),
}

impl Command {
    /// Whether the command seizes, dumps or restores processes, and so must
    /// finish its current step before a termination signal ends crust.
    pub fn touches_processes(&self) -> bool {
        matches!(self, Command::Dump(_) | Command::Restore(_) | Command::Demo)
    }
}

#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// Pid of the process to checkpoint.
    #[arg(short = 't', long = "tree", value_name = "PID", value_parser = pid_parser())]
    pub pid: i32,

    /// Directory to write the images to.
    #[arg(short = 'D', long = "images-dir", value_name = "DIR")]
    pub images_dir: PathBuf,

    /// Let the process carry on after the checkpoint instead of killing it.
    #[arg(long)]
    pub leave_running: bool,

    /// Dump a resource shared with a process outside the dump, as a place for --inherit-fd to
    /// fill at restore. `pipe:[INODE]`, as its fd link shows it (`ls -l /proc/PID/fd`): the
    /// process's end is saved, the data in the pipe is not (it belongs to whoever shares it).
    /// `file[MNT_ID:INODE]` (hexadecimal: the mnt_id of /proc/PID/fdinfo/FD and the inode
    /// stat gives): a regular file, directory or FIFO whose open description a process outside
    /// shares, or that the tree could not reopen by path; only its access mode is saved. The
    /// refusal that asks for it prints the exact name. Repeatable.
    #[arg(long, value_name = "pipe:[INODE]|file[MNT_ID:INODE]")]
    pub external: Vec<External>,

    /// Dump the file locks the process holds (flock, POSIX and OFD locks on files it has
    /// open), to be taken again at restore; without it a held lock is refused. Leases,
    /// mandatory locks and lock requests still waiting are refused even with it.
    #[arg(long)]
    pub file_locks: bool,
    /// Dump a shell job: a process started from a shell on a terminal, in a session (and maybe
    /// a group) the shell leads, whose terminal is a pseudo-terminal held outside (by a
    /// terminal emulator, tmux, sshd). The terminal is recorded as external; restore it with
    /// `crust restore --shell-job` from a terminal.
    #[arg(short = 'j', long)]
    pub shell_job: bool,
    /// Largest unlinked (deleted but still open or mapped) file whose contents are kept in the
    /// images; a bigger one is refused. Bytes, or with a K, M or G suffix (powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    pub ghost_limit: u64,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// Directory holding the images.
    #[arg(short = 'D', long = "images-dir", value_name = "DIR")]
    pub images_dir: PathBuf,

    /// Return as soon as the process runs instead of waiting for it.
    #[arg(short = 'd', long = "restore-detached")]
    pub detach: bool,

    /// Give the process crust's own fd K in place of what was dumped with --external (its end
    /// of a pipe, or a file), at the same fd number. K keeps its own flags and offset, which
    /// it goes on sharing with whoever else has it open (a log opened with >> stays in append
    /// mode). K must be open in crust for the same access (reading or writing) as what it
    /// replaces. Repeatable.
    #[arg(long, value_name = "fd[K]:pipe:[INODE]|fd[K]:file[MNT_ID:INODE]")]
    pub inherit_fd: Vec<InheritFd>,

    /// Restore a shell job (dumped with --shell-job) onto crust's terminal: the process joins
    /// crust's session, leads a process group of its own if it led one, its old terminal is
    /// replaced by crust's (its stdin, stdout or stderr must be a terminal, crust's
    /// controlling one), and its group gets the foreground if it had it.
    #[arg(short = 'j', long)]
    pub shell_job: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Directory holding the images.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print the JSON on one line instead of indented.
    #[arg(long)]
    pub compact: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Check this process and its descendants instead of the kernel.
    #[arg(short = 't', long = "tree", value_name = "PID", value_parser = pid_parser())]
    pub pid: Option<i32>,

    /// With -t: check as `crust dump --external` would (what it names is not a blocker).
    #[arg(long, value_name = "pipe:[INODE]|file[MNT_ID:INODE]", requires = "pid")]
    pub external: Vec<External>,

    /// With -t: check as `crust dump --file-locks` would (held locks are not blockers).
    #[arg(long, requires = "pid")]
    pub file_locks: bool,

    /// With -t: check as `crust dump --shell-job` would (a shell's session, group and
    /// terminal are not blockers).
    #[arg(short = 'j', long, requires = "pid")]
    pub shell_job: bool,

    /// With -t: check as `crust dump --ghost-limit SIZE` would.
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    pub ghost_limit: u64,
}

#[derive(Debug, clap::Args)]
pub struct DemoCounterArgs {
    /// File to append the count to.
    pub file: PathBuf,
}

/// `4096`, `512K`, `1M`, `2G`: a size in bytes, the suffix a power of 1024.
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 10),
        Some((at, 'm' | 'M')) => (&text[..at], 20),
        Some((at, 'g' | 'G')) => (&text[..at], 30),
        _ => (text, 0),
    };
    let number: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a size (a number, optionally followed by K, M or G)")
    })?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text} is too large"))
}

fn pid_parser() -> clap::builder::RangedI64ValueParser<i32> {
    clap::value_parser!(i32).range(1..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn verbosity_counts_and_works_after_the_subcommand() {
        let cli = Cli::try_parse_from(["crust", "dump", "-t", "7", "-D", "d", "-vv"]);
        assert!(matches!(cli, Ok(Cli { verbose: 2, .. })));
    }

    #[test]
    fn ghost_limit_takes_suffixes_and_defaults_to_one_mebibyte() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("3m"), Ok(3 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999G").is_err());
        let cli = Cli::try_parse_from(["crust", "dump", "-t", "7", "-D", "d"]);
        let Ok(Cli {
            command: Command::Dump(args),
            ..
        }) = cli
        else {
            panic!("{cli:?}");
        };
        assert_eq!(args.ghost_limit, 1 << 20);
    }

    #[test]
    fn a_pid_must_be_positive() {
        assert!(Cli::try_parse_from(["crust", "dump", "-t", "0", "-D", "d"]).is_err());
        assert!(Cli::try_parse_from(["crust", "check", "-t", "-3"]).is_err());
    }

    #[test]
    fn external_pipes_are_parsed_and_repeatable() {
        let cli = Cli::try_parse_from([
            "crust",
            "dump",
            "-t",
            "7",
            "-D",
            "d",
            "--external",
            "pipe:[12]",
            "--external",
            "pipe:[34]",
        ]);
        let Ok(Cli {
            command: Command::Dump(args),
            ..
        }) = cli
        else {
            panic!("{cli:?}");
        };
        let inodes: Vec<External> = [12, 34].map(|inode| External::Pipe { inode }).into();
        assert_eq!(args.external, inodes);
    }

    #[test]
    fn inherited_fds_are_parsed_and_repeatable() {
        let cli = Cli::try_parse_from([
            "crust",
            "restore",
            "-D",
            "d",
            "--inherit-fd",
            "fd[3]:pipe:[12]",
            "--inherit-fd=fd[4]:pipe:[34]",
        ]);
        let Ok(Cli {
            command: Command::Restore(args),
            ..
        }) = cli
        else {
            panic!("{cli:?}");
        };
        let given: Vec<String> = args.inherit_fd.iter().map(ToString::to_string).collect();
        assert_eq!(given, ["fd[3]:pipe:[12]", "fd[4]:pipe:[34]"]);
    }

    #[test]
    fn bad_names_are_usage_errors_quoting_the_argument() {
        let dump = [
            "crust",
            "dump",
            "-t",
            "7",
            "-D",
            "d",
            "--external",
            "pipe:12",
        ];
        let restore = ["crust", "restore", "-D", "d", "--inherit-fd", "3:pipe:[12]"];
        for (args, bad) in [(&dump[..], "pipe:12"), (&restore[..], "3:pipe:[12]")] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.kind(), clap::error::ErrorKind::ValueValidation);
            assert!(error.to_string().contains(bad), "{error}");
        }
    }

    #[test]
    fn the_help_shows_the_options_with_an_example() {
        for (subcommand, option) in [("dump", "--external"), ("restore", "--inherit-fd")] {
            let mut command = Cli::command();
            let help = command
                .find_subcommand_mut(subcommand)
                .map(|sub| sub.render_long_help().to_string())
                .unwrap_or_default();
            assert!(help.contains(&format!("{option} <")), "{help}");
            assert!(help.contains(&format!("{option} '")), "{help}");
        }
    }

    #[test]
    fn shell_job_is_a_flag_of_dump_and_restore() {
        let dump = Cli::try_parse_from(["crust", "dump", "-t", "7", "-D", "d", "-j"]);
        assert!(matches!(
            dump,
            Ok(Cli {
                command: Command::Dump(DumpArgs {
                    shell_job: true,
                    ..
                }),
                ..
            })
        ));
        let restore = Cli::try_parse_from(["crust", "restore", "-D", "d", "--shell-job"]);
        assert!(matches!(
            restore,
            Ok(Cli {
                command: Command::Restore(RestoreArgs {
                    shell_job: true,
                    ..
                }),
                ..
            })
        ));
    }

    #[test]
    fn the_demo_counter_is_hidden() {
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("demo-counter"));
    }
}
