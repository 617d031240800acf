//! Bad input to `crust dump` and `crust restore`: each gets one clear line
//! and exit status 1, no panic, no hang, and nothing left running or half
//! made.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tests::{compile_c, crust, crust_binary, run_with_timeout, Abi, Finished, TempDir, Workload};

const TIMEOUT: Duration = Duration::from_secs(60);

/// One dump or restore at a time: they fight over pids otherwise.
static SERIAL: Mutex<()> = Mutex::new(());

/// Sleeps in pause(2) holding 4 MiB of memory (more than a pipe holds), in a
/// session of its own.
const SLEEPER: &str = r#"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
volatile char *kept;
int main(void) {
    char *pages = malloc(4 << 20);
    memset(pages, 0x5a, 4 << 20);
    kept = pages;
    for (;;) pause();
}
"#;

fn run(args: &[&str]) -> Finished {
    match crust(args, TIMEOUT) {
        Ok(finished) => finished,
        Err(error) => panic!("crust {}: {error}", args.join(" ")),
    }
}

/// The one line crust printed on failure (exit status 1).
fn failure_line(finished: &Finished) -> String {
    assert_eq!(
        finished.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        finished.stdout,
        finished.stderr
    );
    let lines = finished.stderr_lines();
    assert_eq!(lines.len(), 1, "expected one line, got {lines:?}");
    lines[0].to_string()
}

/// Holds a pipe, both ends open, with bytes queued in it, and sleeps.
const PIPE_HOLDER: &str = r#"
#include <unistd.h>
int main(void) {
    int ends[2];
    if (pipe(ends) != 0 || write(ends[1], "queued", 6) != 6)
        return 1;
    for (;;) pause();
}
"#;

/// Starts the sleeper, built for `abi`, in its own session with no inherited fds.
fn start_sleeper(abi: Abi) -> Workload {
    start_program_in(SLEEPER, abi, Path::new("/"))
}

/// Starts a C program in its own session with no inherited fds.
fn start_program(source: &str, abi: Abi) -> Workload {
    start_program_in(source, abi, Path::new("/"))
}

/// Starts a C program in working directory `workdir`, in its own session
/// with no inherited fds.
fn start_program_in(source: &str, abi: Abi, workdir: &Path) -> Workload {
    let program = compile_c(source, abi, &["-O2"]).expect("compile the program");
    let mut command = Command::new(program);
    command
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid and close_range are async-signal-safe raw syscalls.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0);
            Ok(())
        });
    }
    let workload = Workload::spawn(&mut command).expect("start the program");
    std::thread::sleep(Duration::from_millis(200));
    workload
}

/// A failed restore left nothing with `pid`, not even a zombie.
fn assert_no_process(pid: i32) {
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "a failed restore left pid {pid}"
    );
}

/// Dumps a sleeper into `dir` (killing it) and returns its pid.
fn dumped_sleeper(dir: &Path) -> i32 {
    dumped_sleeper_in(dir, Path::new("/"))
}

/// Dumps a sleeper running in `workdir` into `dir` (killing it); its pid.
fn dumped_sleeper_in(dir: &Path, workdir: &Path) -> i32 {
    let mut sleeper = start_program_in(SLEEPER, Abi::X86_64, workdir);
    let pid = sleeper.pid().as_raw();
    let finished = run(&["dump", "-t", &pid.to_string(), "-D", &dir.to_string_lossy()]);
    assert_eq!(finished.code(), Some(0), "dump: {}", finished.stderr);
    sleeper
        .collect_dumped(TIMEOUT)
        .expect("the dump kills the sleeper");
    pid
}

fn image_named(dir: &Path, prefix: &str) -> std::path::PathBuf {
    fs::read_dir(dir)
        .expect("list images")
        .map(|entry| entry.expect("entry").path())
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no {prefix}* image in {}", dir.display()))
}

/// Copies a dump so that each test damages its own.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy");
    for entry in fs::read_dir(from).expect("list") {
        let path = entry.expect("entry").path();
        fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy image");
    }
}

fn restore_failure(dir: &Path) -> String {
    failure_line(&run(&["restore", "-D", &dir.to_string_lossy()]))
}

#[test]
fn dump_of_crust_itself_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("self").expect("temp dir");
    let images = temp.path().join("images");
    // The shell execs crust, so $$ is crust's own pid.
    let script = format!(
        "exec '{}' dump -t $$ -D '{}'",
        crust_binary().unwrap().display(),
        images.display()
    );
    let finished =
        run_with_timeout(Command::new("sh").arg("-c").arg(script), TIMEOUT).expect("run");
    let line = failure_line(&finished);
    assert!(line.ends_with("is crust itself"), "{line}");
    assert!(
        !images.exists(),
        "a refused dump wrote {}",
        images.display()
    );
}

#[test]
fn dump_of_a_kernel_thread_is_refused_without_touching_it() {
    let temp = TempDir::new("kthread").expect("temp dir");
    let kthreadd = 2;
    let status = fs::read_to_string("/proc/2/status").expect("pid 2 exists");
    assert!(
        status.contains("Kthread:\t1") || status.contains("PPid:\t0"),
        "pid 2 is not kthreadd"
    );
    let images = temp.path().join("images");
    let finished = run(&[
        "dump",
        "-t",
        &kthreadd.to_string(),
        "-D",
        &images.to_string_lossy(),
    ]);
    assert_eq!(
        failure_line(&finished),
        "crust: dump of pid 2 failed: pid 2: process is a kernel thread: kernel threads cannot be \
         dumped"
    );
    assert!(!images.exists());
}

#[test]
fn restore_from_a_missing_directory_names_it() {
    let line = restore_failure(Path::new("/nonexistent/crust-images"));
    assert!(line.contains("/nonexistent/crust-images"), "{line}");
}

#[test]
fn damaged_images_are_refused_with_the_file_and_the_damage() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("damaged").expect("temp dir");
    let good = temp.path().join("good");
    let pid = dumped_sleeper(&good);
    for entry in fs::read_dir(&good).unwrap() {
        use std::os::unix::fs::PermissionsExt;
        let path = entry.unwrap().path();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
    }

    let truncated = temp.path().join("truncated");
    copy_dir(&good, &truncated);
    let core = image_named(&truncated, "core-");
    fs::write(&core, &fs::read(&core).unwrap()[..10]).unwrap();
    let line = restore_failure(&truncated);
    assert!(
        line.contains(&format!("core-{pid}.img")) && line.contains("cut short"),
        "{line}"
    );

    let magic = temp.path().join("magic");
    copy_dir(&good, &magic);
    let mm = image_named(&magic, "mm-");
    let mut bytes = fs::read(&mm).unwrap();
    bytes[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    fs::write(&mm, bytes).unwrap();
    let line = restore_failure(&magic);
    assert!(
        line.contains("mm-") && line.contains("magic 0xefbeadde"),
        "{line}"
    );

    let huge = temp.path().join("huge");
    copy_dir(&good, &huge);
    let mm = image_named(&huge, "mm-");
    let mut bytes = fs::read(&mm).unwrap();
    // The first entry's length, right after the two magics.
    bytes[8..12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    fs::write(&mm, bytes).unwrap();
    let line = restore_failure(&huge);
    assert!(
        line.contains("mm-") && line.contains("4294967280"),
        "{line}"
    );

    let short = temp.path().join("short");
    copy_dir(&good, &short);
    let pages = image_named(&short, "pages-");
    let length = fs::metadata(&pages).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&pages)
        .unwrap()
        .set_len(length - 4096)
        .unwrap();
    let line = restore_failure(&short);
    assert!(
        line.contains("pages-1.img") && line.contains("its pagemap needs"),
        "{line}"
    );

    assert_no_process(pid);
}

#[test]
fn restore_into_a_pid_in_use_is_refused_and_harms_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("inuse").expect("temp dir");
    let images = temp.path().join("images");
    let sleeper = start_sleeper(Abi::X86_64);
    let pid = sleeper.pid().as_raw();
    let dumped = run(&[
        "dump",
        "--leave-running",
        "-t",
        &pid.to_string(),
        "-D",
        &images.to_string_lossy(),
    ]);
    assert_eq!(dumped.code(), Some(0), "{}", dumped.stderr);
    let line = restore_failure(&images);
    assert!(
        line.ends_with(&format!("pid {pid} is in use by \"{}\"", comm_of(pid))),
        "{line}"
    );
    let state = fs::read_to_string(format!("/proc/{pid}/stat")).expect("the original still runs");
    assert!(
        state.contains(") S "),
        "the original is not asleep as it was: {state}"
    );
}

fn comm_of(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .expect("comm")
        .trim_end()
        .to_string()
}

/// A restore that fails after the task was forked (here: the images claim a
/// vdso of another size than this kernel's) kills what it made: right after
/// crust exits, nothing holds the pid, not even a zombie.
#[test]
fn a_restore_failing_half_way_leaves_no_process_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("halfway").expect("temp dir");
    let images = temp.path().join("images");
    let pid = dumped_sleeper(&images);
    shrink_vdso(&image_named(&images, "mm-"), &temp.path().join("mm.json"));

    let line = restore_failure(&images);
    assert!(line.contains("vdso layout"), "{line}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "half-restored pid {pid} is left"
    );
}

/// Rewrites an mm image with crit so that its vdso starts one page later.
fn shrink_vdso(mm: &Path, json: &Path) {
    let decoded = run_with_timeout(
        Command::new("crit")
            .args(["decode", "--pretty", "-i"])
            .arg(mm),
        TIMEOUT,
    )
    .expect("crit decode");
    assert_eq!(decoded.code(), Some(0), "{}", decoded.stderr);
    let mut value: serde_json::Value = serde_json::from_str(&decoded.stdout).expect("crit's JSON");
    let vmas = value["entries"][0]["vmas"].as_array_mut().expect("vmas");
    let vdso = vmas
        .iter_mut()
        .find(|vma| vma["status"].as_str().is_some_and(|s| s.contains("VDSO")))
        .expect("a vdso area");
    let start = u64::from_str_radix(
        vdso["start"]
            .as_str()
            .expect("hex start")
            .trim_start_matches("0x"),
        16,
    )
    .expect("start address");
    vdso["start"] = serde_json::Value::String(format!("{:#x}", start + 4096));
    fs::write(json, value.to_string()).expect("write JSON");
    let encoded = run_with_timeout(
        Command::new("crit")
            .args(["encode", "-i"])
            .arg(json)
            .arg("-o")
            .arg(mm),
        TIMEOUT,
    )
    .expect("crit encode");
    assert_eq!(encoded.code(), Some(0), "{}", encoded.stderr);
}

/// A 32-bit (ia32) program is refused before it is touched, and runs on.
#[test]
fn a_32_bit_task_is_refused_and_runs_on() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("ia32").expect("temp dir");
    let sleeper = start_sleeper(Abi::Ia32);
    let pid = sleeper.pid().as_raw();
    let images = temp.path().join("images");
    let finished = run(&[
        "dump",
        "-t",
        &pid.to_string(),
        "-D",
        &images.to_string_lossy(),
    ]);
    assert_eq!(
        failure_line(&finished),
        format!(
            "crust: dump of pid {pid} failed: pid {pid}: process runs 32-bit (ia32) code: 32-bit \
             tasks are not supported yet"
        )
    );
    assert!(!images.exists());
    let state = fs::read_to_string(format!("/proc/{pid}/stat")).expect("it still runs");
    assert!(state.contains(") S "), "{state}");
}

/// Unmounts a tmpfs on drop.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A dump into a full disk fails with one line, and the process goes on as
/// it was: no signal left pending (a SIGPIPE from the page pipe would kill
/// it), no area of compel's left in it, no images left behind.
#[test]
fn a_full_disk_fails_the_dump_and_harms_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("full").expect("temp dir");
    let small = temp.path().join("small");
    fs::create_dir(&small).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .expect("run mount");
    assert!(mounted.success(), "mount a small tmpfs");
    let _unmount = Mounted(small.clone());
    let sleeper = start_sleeper(Abi::X86_64);
    let pid = sleeper.pid().as_raw();
    let images = small.join("images");
    let finished = run(&[
        "dump",
        "--leave-running",
        "-t",
        &pid.to_string(),
        "-D",
        &images.to_string_lossy(),
    ]);
    let line = failure_line(&finished);
    assert!(line.contains("No space left on device"), "{line}");
    std::thread::sleep(Duration::from_millis(100));
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("it still runs");
    assert!(status.contains("State:\tS"), "{status}");
    assert!(status.contains("SigPnd:\t0000000000000000"), "{status}");
    assert!(status.contains("ShdPnd:\t0000000000000000"), "{status}");
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    assert!(!maps.contains("rwxs"), "compel's area is left:\n{maps}");
    let left: Vec<_> = fs::read_dir(&images)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// An image replaced by a FIFO, or by a link to a device or a directory, is
/// named for what it is: the restore neither waits in open(2) for a writer
/// nor reads from the device.
#[test]
fn an_image_that_is_not_a_regular_file_is_named_not_waited_on() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("notregular").expect("temp dir");
    let good = temp.path().join("good");
    let pid = dumped_sleeper(&good);

    let fifo = temp.path().join("fifo");
    copy_dir(&good, &fifo);
    let core = fifo.join(format!("core-{pid}.img"));
    fs::remove_file(&core).expect("remove core");
    nix::unistd::mkfifo(&core, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let line = restore_failure(&fifo);
    let expected = format!("{} is a FIFO, not an image file", core.display());
    assert!(line.ends_with(&expected), "{line}");

    for (target, what) in [("/dev/zero", "character device"), ("/tmp", "directory")] {
        let linked = temp.path().join(format!("link-{}", what.replace(' ', "-")));
        copy_dir(&good, &linked);
        let pages = image_named(&linked, "pages-");
        fs::remove_file(&pages).expect("remove pages");
        std::os::unix::fs::symlink(target, &pages).expect("symlink");
        let line = restore_failure(&linked);
        let expected = format!("{} is a {what}, not an image file", pages.display());
        assert!(line.ends_with(&expected), "{line}");
    }

    let passwd = temp.path().join("passwd");
    copy_dir(&good, &passwd);
    let mm = image_named(&passwd, "mm-");
    fs::remove_file(&mm).expect("remove mm");
    std::os::unix::fs::symlink("/etc/passwd", &mm).expect("symlink");
    let line = restore_failure(&passwd);
    assert!(line.contains("mm-") && line.contains("magic"), "{line}");
    assert_no_process(pid);
}

#[test]
fn restore_from_an_empty_directory_says_it_holds_no_dump() {
    let temp = TempDir::new("emptydump").expect("temp dir");
    let line = restore_failure(temp.path());
    let expected = format!("{} holds no dump (no inventory.img)", temp.path().display());
    assert!(line.ends_with(&expected), "{line}");
}

/// A dump with a pipe whose pipes-data.img is gone is refused: restoring it
/// would give the pipe back empty.
#[test]
fn a_missing_pipe_data_image_is_refused_not_taken_for_empty_pipes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("pipedata").expect("temp dir");
    let images = temp.path().join("images");
    let mut holder = start_program(PIPE_HOLDER, Abi::X86_64);
    let pid = holder.pid().as_raw();
    let finished = run(&[
        "dump",
        "-t",
        &pid.to_string(),
        "-D",
        &images.to_string_lossy(),
    ]);
    assert_eq!(finished.code(), Some(0), "dump: {}", finished.stderr);
    holder
        .collect_dumped(TIMEOUT)
        .expect("the dump kills the holder");

    let pipe_data = images.join("pipes-data.img");
    fs::remove_file(&pipe_data).expect("the dump wrote pipes-data.img");
    let line = restore_failure(&images);
    let expected = format!(
        "{} is missing, and files.img describes pipes whose contents it holds",
        pipe_data.display()
    );
    assert!(line.ends_with(&expected), "{line}");
    assert_no_process(pid);
}

/// crust without CAP_CHECKPOINT_RESTORE (and CAP_SYS_ADMIN) still dumps (compel shares its
/// area through a memfd), but says up front that a restore needs it, and creates nothing.
#[test]
fn crust_without_checkpoint_restore_dumps_but_says_restore_needs_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("nocap").expect("temp dir");
    let mut sleeper = start_sleeper(Abi::X86_64);
    let pid = sleeper.pid().as_raw().to_string();
    let images = temp.path().join("images");
    let images_text = images.to_string_lossy().into_owned();
    let crust_path = crust_binary().expect("crust binary");
    let unprivileged = |args: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .arg("--bounding-set=-checkpoint_restore,-sys_admin")
            .arg(&crust_path)
            .args(args);
        run_with_timeout(&mut command, TIMEOUT).expect("run crust under setpriv")
    };
    let checked = unprivileged(&["check", "-t", &pid]);
    assert_eq!(checked.code(), Some(0), "{checked:?}");
    let dumped = unprivileged(&["dump", "-t", &pid, "-D", &images_text]);
    assert_eq!(dumped.code(), Some(0), "{dumped:?}");
    sleeper
        .collect_dumped(TIMEOUT)
        .expect("the dump killed the sleeper");
    tests::crit_decode_dir(&images).expect("crit decodes every image");

    let restored = unprivileged(&["restore", "-D", &images_text, "-d"]);
    assert_eq!(
        failure_line(&restored),
        format!(
            "crust: restore from {images_text} failed: crust needs CAP_CHECKPOINT_RESTORE to \
             restore (processes are forked with their pids) (run it as root, or give it the \
             capability); it has not"
        )
    );
    assert_no_process(sleeper.pid().as_raw());
}

/// A restore whose working directory is gone names it as the working
/// directory, and leaves no process.
#[test]
fn a_vanished_working_directory_is_named() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let temp = TempDir::new("cwd").expect("temp dir");
    let workdir = temp.path().join("workdir");
    fs::create_dir(&workdir).expect("workdir");
    let images = temp.path().join("images");
    let pid = dumped_sleeper_in(&images, &workdir);
    fs::rename(&workdir, temp.path().join("moved")).expect("move the working directory");
    let line = restore_failure(&images);
    let expected = format!(
        "pid {pid}: cannot open its working directory {}: ",
        workdir.display()
    );
    assert!(line.contains(&expected), "{line}");
    assert_no_process(pid);
}

/// `crust check` without CAP_CHECKPOINT_RESTORE says which probe needs it and what crust
/// does without it, not that the kernel lacks the feature, and passes.
#[test]
fn the_kernel_check_without_capabilities_says_so() {
    let mut command = Command::new("setpriv");
    command
        .arg("--bounding-set=-checkpoint_restore,-sys_admin")
        .arg(crust_binary().expect("crust binary"))
        .arg("check");
    let finished = run_with_timeout(&mut command, TIMEOUT).expect("run crust check");
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    let needs = "needs    /proc/PID/map_files readable: CAP_CHECKPOINT_RESTORE, which crust has \
                 not; without it compel shares its area through a memfd";
    assert!(finished.stdout.contains(needs), "{}", finished.stdout);
    assert!(
        finished
            .stdout
            .contains("crust can run here with what it holds: 1 of 17 required features need"),
        "{}",
        finished.stdout
    );
}
