//! A process written as images reads back equal, and crit (CRIU 3.17's
//! image tool) decodes every image it wrote the way CRIU would.

mod codec_sample;

use std::path::Path;
use std::process::Command;

use codec_sample as sample;
use codec_sample::read_process;
use engine::images::ImageDir;
use serde_json::Value;

#[test]
fn a_process_reads_back_equal() {
    let path = sample::scratch_dir("round-trip");
    let process = sample::process();
    process.validate().unwrap();
    sample::dump(&path, &process);

    let images = read_process(&path).unwrap();
    assert_eq!(images.process, process);
    assert_eq!(images.pages_path, path.join("pages-1.img"));
    images.process.validate().unwrap();
    std::fs::remove_dir_all(&path).unwrap();
}

#[test]
fn pages_read_back_where_the_pagemap_says() {
    let path = sample::scratch_dir("pages");
    let process = sample::process();
    sample::dump(&path, &process);

    let reader = ImageDir::open(&path)
        .unwrap()
        .pages_reader(sample::PID as u32)
        .unwrap();
    let run = reader.runs()[1];
    assert_eq!(run.vaddr, 0x60_0000);
    let mut bytes = vec![0u8; run.len() as usize];
    reader.read_run(&run, &mut bytes).unwrap();
    assert_eq!(bytes, sample::page_bytes(0x60_0000, 3));
    std::fs::remove_dir_all(&path).unwrap();
}

#[test]
fn cwd_and_root_stay_out_of_the_file_list() {
    let path = sample::scratch_dir("fs");
    let mut process = sample::process();
    process.cwd = "/".into();
    sample::dump(&path, &process);

    let read = read_process(&path).unwrap().process;
    assert_eq!(read.cwd, "/");
    assert_eq!(read.files, process.files);
    std::fs::remove_dir_all(&path).unwrap();
}

/// `crit decode -i FILE --pretty` as JSON; crit must be installed.
fn crit_decode(file: &Path) -> Value {
    let output = Command::new("crit")
        .args(["decode", "-i"])
        .arg(file)
        .arg("--pretty")
        .output()
        .expect("crit (Debian package criu) must be installed to check images");
    assert!(
        output.status.success(),
        "crit failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn crit_decodes_every_image() {
    let path = sample::scratch_dir("crit");
    sample::dump(&path, &sample::process());

    let mut decoded = std::collections::BTreeMap::new();
    for dirent in std::fs::read_dir(&path).unwrap() {
        let name = dirent.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("pages-") {
            decoded.insert(name.clone(), crit_decode(&path.join(&name)));
        }
    }
    let names: Vec<&str> = decoded.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "core-4242.img",
            "core-4243.img",
            "fdinfo-1.img",
            "filelocks.img",
            "files.img",
            "fs-4242.img",
            "ids-4242.img",
            "inventory.img",
            "mm-4242.img",
            "pagemap-4242.img",
            "pipes-data.img",
            "pstree.img",
        ]
    );
    let entries = |name: &str| decoded[name]["entries"].as_array().unwrap().clone();

    let inventory = &entries("inventory.img")[0];
    assert_eq!(inventory["img_version"], 2);
    assert_eq!(inventory["fdinfo_per_id"], true);
    assert_eq!(inventory["root_ids"]["files_id"], 1);

    let pstree = entries("pstree.img");
    assert_eq!(pstree.len(), 1);
    assert_eq!(pstree[0]["pid"], sample::PID);
    assert_eq!(pstree[0]["ppid"], 0);
    assert_eq!(
        pstree[0]["threads"],
        serde_json::json!([sample::PID, sample::TID])
    );

    check_cores(&entries("core-4242.img")[0], &entries("core-4243.img")[0]);
    check_mm(&entries("mm-4242.img")[0]);
    check_files(
        &entries("files.img"),
        &entries("fdinfo-1.img"),
        &entries("fs-4242.img")[0],
    );

    let pipes = entries("pipes-data.img");
    assert_eq!(pipes[0]["pipe_id"], sample::PIPE_ID);
    assert_eq!(pipes[0]["bytes"], sample::PIPE_DATA.len());

    // CRIU's FL_FLOCK (2) with F_RDLCK (0), then FL_POSIX (1) with F_WRLCK (1).
    let locks = entries("filelocks.img");
    let fields = |lock: &Value| {
        ["flag", "type", "pid", "fd", "start", "len"].map(|field| lock[field].as_i64().unwrap())
    };
    assert_eq!(locks.len(), 2);
    assert_eq!(fields(&locks[0]), [2, 0, i64::from(sample::PID), 1, 0, 0]);
    assert_eq!(fields(&locks[1]), [1, 1, i64::from(sample::PID), 1, 10, 20]);

    let pagemap = entries("pagemap-4242.img");
    assert_eq!(pagemap[0]["pages_id"], 1);
    assert_eq!(pagemap[2]["vaddr"], "0x600000");
    assert_eq!(pagemap[2]["nr_pages"], 3);
    std::fs::remove_dir_all(&path).unwrap();
}

fn check_cores(leader: &Value, worker: &Value) {
    assert_eq!(leader["mtype"], "X86_64");
    let tc = &leader["tc"];
    assert_eq!(tc["comm"], "sample");
    assert_eq!(tc["sigactions"].as_array().unwrap().len(), 62);
    assert_eq!(tc["rlimits"]["rlimits"].as_array().unwrap().len(), 16);
    assert_eq!(tc["timers"]["posix"].as_array().unwrap().len(), 2);
    assert_eq!(tc["child_subreaper"], true);
    let info = &leader["thread_info"];
    assert_eq!(info["gpregs"]["ip"], "0x400123");
    assert_eq!(info["gpregs"]["mode"], "NATIVE");
    assert_eq!(info["fpregs"]["st_space"].as_array().unwrap().len(), 32);
    assert_eq!(info["fpregs"]["xsave"]["xstate_bv"], 7);
    assert_eq!(
        info["fpregs"]["xsave"]["ymmh_space"]
            .as_array()
            .unwrap()
            .len(),
        64
    );
    assert!(worker.get("tc").is_none());
    let core = &worker["thread_core"];
    assert_eq!(core["comm"], "sample-worker");
    assert_eq!(core["creds"]["euid"], 1001);
    assert_eq!(core["creds"]["cap_prm"], serde_json::json!([1025, 256]));
    assert_eq!(core["signals_p"]["signals"].as_array().unwrap().len(), 1);
    assert_eq!(core["pdeath_sig"], libc::SIGTERM);
}

fn check_mm(mm: &Value) {
    let vmas = mm["vmas"].as_array().unwrap();
    assert_eq!(vmas.len(), 10);
    assert_eq!(vmas[0]["start"], "0x400000");
    assert_eq!(vmas[0]["shmid"], 3);
    assert_eq!(vmas[0]["status"], "VMA_AREA_REGULAR | VMA_FILE_PRIVATE");
    assert_eq!(
        vmas[2]["status"],
        "VMA_AREA_REGULAR | VMA_AREA_HEAP | VMA_ANON_PRIVATE"
    );
    assert_eq!(vmas[4]["status"], "VMA_AREA_REGULAR | VMA_ANON_SHARED");
    assert_eq!(
        vmas[7]["status"],
        "VMA_AREA_REGULAR | VMA_AREA_VDSO | VMA_ANON_PRIVATE"
    );
    assert_eq!(vmas[9]["start"], "0xffffffffff600000");
    assert_eq!(mm["exe_file_id"], 3);
    assert_eq!(mm["dumpable"], 1);
}

fn check_files(files: &[Value], fds: &[Value], fs: &Value) {
    let log = files.iter().find(|f| f["id"] == 1).unwrap();
    assert_eq!(log["type"], "REG");
    assert_eq!(log["reg"]["name"], sample::LOG_PATH);
    assert_eq!(log["reg"]["pos"], sample::LOG_POS);
    let pipe = files.iter().find(|f| f["id"] == 2).unwrap();
    assert_eq!(pipe["type"], "PIPE");
    assert_eq!(pipe["pipe"]["pipe_id"], sample::PIPE_ID);
    let cwd = files.iter().find(|f| f["id"] == fs["cwd_id"]).unwrap();
    assert_eq!(cwd["reg"]["name"], "/var/tmp");
    assert_eq!(fs["umask"], 0o027);
    assert_eq!(fds.len(), 4);
    assert_eq!(fds[2]["fd"], 3);
    assert_eq!(fds[2]["flags"], 1);
    assert_eq!(fds[2]["type"], "PIPE");
}
