//! `bench [ITERATIONS] [SIZE_MIB] [TMPFS_DIR]`: compel's costs on this machine.
//!
//! Forks a victim that fills SIZE_MIB of anonymous memory and waits, then
//! measures, in one run:
//! - seize + infect + cure, and seize + infect + start parasite + cure
//!   (median and 90th percentile of ITERATIONS), with the shared area
//!   mapped through map_files (if this process may) and through a memfd;
//! - draining the victim's memory through the parasite (into a discarding
//!   callback, and spliced into a tmpfs file);
//! - reading the same memory with pread on /proc/PID/mem;
//! - writing the same size to a tmpfs file from a buffer.
//!
//! Each tmpfs measurement follows a warm-up write and delete of a file of
//! that size: the first touch of memory the host hands back is slow.
//!
//! Used by scripts/bench-compel.sh. Public API only.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compel::infect::{AreaSharing, DrainSink, PageRange};
use compel::{InfectOptions, Victim};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe, ForkResult, Pid};

type Error = Box<dyn std::error::Error>;

const CHUNK: usize = 1 << 20;

/// The forked victim: fills `size` bytes, says so on `ready`, then waits.
fn victim_main(size: usize, ready: std::os::fd::OwnedFd) -> ! {
    // SAFETY: a fresh private anonymous mapping in the child; nothing else uses it.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        std::process::exit(2);
    }
    let words = mem.cast::<u64>();
    for i in 0..size / 8 {
        // SAFETY: i < size / 8, inside the mapping made above.
        unsafe { words.add(i).write(i as u64 ^ 0x5a5a_5a5a_0000_0000) };
    }
    let address = (mem as u64).to_ne_bytes();
    let _ = File::from(ready).write_all(&address);
    loop {
        // SAFETY: pause has no arguments and only waits for a signal.
        unsafe { libc::pause() };
    }
}

fn start_victim(size: usize) -> Result<(Pid, u64), Error> {
    let (read, write) = pipe()?;
    // SAFETY: the bench is single-threaded here; the child only maps, writes
    // and pauses.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(read);
            victim_main(size, write)
        }
        ForkResult::Parent { child } => {
            drop(write);
            let mut address = [0u8; 8];
            File::from(read).read_exact(&mut address)?;
            Ok((child, u64::from_ne_bytes(address)))
        }
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q) as usize]);
    (at(0.5), at(0.9))
}

fn latency(
    pid: Pid,
    iterations: usize,
    with_parasite: bool,
    sharing: AreaSharing,
) -> Result<(f64, f64), Error> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let options = InfectOptions {
            sharing,
            ..InfectOptions::default()
        };
        let infection = Victim::seize(pid)?.infect_with(options)?;
        if with_parasite {
            infection.start_parasite()?.cure()?;
        } else {
            infection.cure()?;
        }
        samples.push(start.elapsed());
    }
    Ok(percentiles(samples))
}

fn rate(bytes: usize, elapsed: Duration) -> String {
    let gbs = bytes as f64 / elapsed.as_secs_f64() / 1e9;
    format!("{:8.1} ms  {gbs:6.2} GB/s", elapsed.as_secs_f64() * 1e3)
}

fn drain(pid: Pid, range: PageRange, file: Option<&Path>) -> Result<Duration, Error> {
    let mut parasite = Victim::seize(pid)?.infect()?.start_parasite()?;
    let start = Instant::now();
    match file {
        Some(path) => {
            let out = File::create(path)?;
            parasite.drain(&[range], DrainSink::Fd(out.as_fd()))?;
        }
        None => {
            let mut total = 0usize;
            let mut count = |chunk: &[u8]| {
                total += chunk.len();
                Ok(())
            };
            parasite.drain(&[range], DrainSink::Callback(&mut count))?;
        }
    }
    let elapsed = start.elapsed();
    parasite.cure()?;
    Ok(elapsed)
}

fn read_proc_mem(pid: Pid, range: PageRange) -> Result<Duration, Error> {
    let mem = File::open(format!("/proc/{pid}/mem"))?;
    let mut buffer = vec![0u8; CHUNK];
    let start = Instant::now();
    let mut offset = 0u64;
    while offset < range.len {
        let n = mem.read_at(&mut buffer, range.start + offset)?;
        if n == 0 {
            return Err("short read from /proc/PID/mem".into());
        }
        offset += n as u64;
    }
    Ok(start.elapsed())
}

fn write_file(path: &Path, size: usize) -> Result<Duration, Error> {
    let buffer = vec![0x5au8; CHUNK];
    let start = Instant::now();
    let mut file = File::create(path)?;
    for _ in 0..size / CHUNK {
        file.write_all(&buffer)?;
    }
    Ok(start.elapsed())
}

/// Writes and deletes a file of `size` bytes so that the next write of that
/// size meets memory the machine has touched already.
fn warm_up(file: &Path, size: usize) -> Result<(), Error> {
    write_file(file, size)?;
    Ok(std::fs::remove_file(file)?)
}

fn bench(pid: Pid, range: PageRange, iterations: usize, dir: &Path) -> Result<(), Error> {
    let size = range.len as usize;
    let file = dir.join(format!("compel-bench-{}", std::process::id()));

    let mut ways = vec![("memfd", AreaSharing::Memfd)];
    if AreaSharing::Auto.resolve() == AreaSharing::MapFiles {
        ways.insert(0, ("map_files", AreaSharing::MapFiles));
    }
    for (name, sharing) in ways {
        let (median, p90) = latency(pid, iterations, false, sharing)?;
        println!(
            "seize+infect+cure {name:<12}   median {median:.3} ms  p90 {p90:.3} ms  (n={iterations})"
        );
        let (median, p90) = latency(pid, iterations, true, sharing)?;
        println!(
            "  +parasite {name:<12}       median {median:.3} ms  p90 {p90:.3} ms  (n={iterations})"
        );
    }

    println!("memory: {} MiB", size >> 20);
    println!(
        "  drain via parasite (read)    {}",
        rate(size, drain(pid, range, None)?)
    );
    warm_up(&file, size)?;
    let spliced = drain(pid, range, Some(&file));
    std::fs::remove_file(&file)?;
    println!("  drain via parasite (tmpfs)   {}", rate(size, spliced?));
    println!(
        "  pread /proc/PID/mem          {}",
        rate(size, read_proc_mem(pid, range)?)
    );
    warm_up(&file, size)?;
    let written = write_file(&file, size);
    std::fs::remove_file(&file)?;
    println!("  tmpfs write (limit)          {}", rate(size, written?));
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iterations = args.first().map(|v| v.parse()).transpose()?.unwrap_or(1000);
    let mib: usize = args.get(1).map(|v| v.parse()).transpose()?.unwrap_or(1024);
    let dir = PathBuf::from(args.get(2).map(String::as_str).unwrap_or("/dev/shm"));
    let size = mib << 20;

    let (pid, start) = start_victim(size)?;
    let result = bench(
        pid,
        PageRange {
            start,
            len: size as u64,
        },
        iterations,
        &dir,
    );
    kill(pid, Signal::SIGKILL)?;
    waitpid(pid, None)?;
    result
}
