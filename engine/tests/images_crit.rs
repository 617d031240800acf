//! Images crust writes are images CRIU's own tool reads: a realistic dump
//! directory is written through the public API, then every file goes through
//! `crit decode --pretty` (and the directory through `crit x`), and key
//! fields of crit's JSON are checked against what was written. crit is a
//! test dependency: without it this test fails, it does not skip.

mod images_sample;

use std::fs;
use std::path::Path;
use std::process::Command;

use engine::images::{ImageKind, ImageName};
use images_sample::{ipc, write_sample, Sample, Scratch, CHILD, LEADER, THREAD};
use serde_json::Value;

fn crit(args: &[&str]) -> String {
    let out = Command::new("crit")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("crit must be installed (Debian package criu): {e}"));
    assert!(
        out.status.success(),
        "crit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("crit prints UTF-8")
}

fn decode(dir: &Path, name: ImageName) -> Value {
    let path = dir.join(name.to_string());
    let text = crit(&[
        "decode",
        "-i",
        path.to_str().expect("utf-8 path"),
        "--pretty",
    ]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("crit JSON for {name}: {e}\n{text}"))
}

/// crit prints fields marked `hex` as "0x…" strings, others as numbers.
fn num(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().expect("unsigned"),
        Value::String(s) => {
            u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex string from crit")
        }
        other => panic!("not a number: {other}"),
    }
}

#[test]
fn crit_decodes_every_image_crust_writes() {
    let scratch = Scratch::new("crit");
    let sample = write_sample(&scratch.0);

    let mut decoded = 0;
    for dirent in fs::read_dir(&scratch.0).expect("list dump") {
        let file = dirent.expect("dirent").file_name();
        let file = file.to_str().expect("utf-8 name");
        let name = ImageName::parse(file).unwrap_or_else(|| panic!("unexpected file {file}"));
        if name.kind == ImageKind::Pages {
            continue; // raw pages: crit has no decoder for them
        }
        let img = decode(&scratch.0, name);
        assert!(img["entries"].is_array(), "{file}: {img}");
        decoded += 1;
    }
    assert_eq!(decoded, 24, "images decoded");

    check_inventory(&scratch.0, &sample);
    check_pstree(&scratch.0);
    check_leader_core(&scratch.0, &sample);
    check_thread_core(&scratch.0);
    check_mm(&scratch.0, &sample);
    check_pagemap(&scratch.0);
    check_files(&scratch.0);
    check_pipes_data(&scratch.0);
    check_special_files(&scratch.0);
    check_terminal_and_queues(&scratch.0);
    check_ipc_namespace(&scratch.0);
}

fn check_inventory(dir: &Path, sample: &Sample) {
    let inv = &decode(dir, ImageName::fixed(ImageKind::Inventory));
    assert_eq!(inv["magic"], "INVENTORY");
    let e = &inv["entries"][0];
    assert_eq!(e["img_version"], 2);
    assert_eq!(e["fdinfo_per_id"], true);
    assert_eq!(e["ns_per_id"], true);
    assert_eq!(e["lsmtype"], "NO_LSM");
    let ids = sample.inventory.root_ids.as_ref().expect("root ids");
    assert_eq!(num(&e["root_ids"]["files_id"]), u64::from(ids.files_id));
}

fn check_pstree(dir: &Path) {
    let ps = &decode(dir, ImageName::fixed(ImageKind::Pstree));
    assert_eq!(ps["magic"], "PSTREE");
    assert_eq!(ps["entries"][0]["pid"], LEADER);
    assert_eq!(
        ps["entries"][0]["threads"],
        serde_json::json!([LEADER, THREAD])
    );
    assert_eq!(ps["entries"][1]["pid"], CHILD);
    assert_eq!(ps["entries"][1]["ppid"], LEADER);
}

fn check_leader_core(dir: &Path, sample: &Sample) {
    let core = &decode(dir, ImageName::with_id(ImageKind::Core, LEADER));
    assert_eq!(core["magic"], "CORE");
    let e = &core["entries"][0];
    assert_eq!(e["mtype"], "X86_64");
    let ti = sample.leader.thread_info.as_ref().expect("thread info");
    let regs = &e["thread_info"]["gpregs"];
    assert_eq!(num(&regs["ip"]), ti.gpregs.ip);
    assert_eq!(num(&regs["sp"]), ti.gpregs.sp);
    assert_eq!(num(&regs["fs_base"]), ti.gpregs.fs_base);
    assert_eq!(regs["mode"], "NATIVE");
    let fp = &e["thread_info"]["fpregs"];
    assert_eq!(fp["xmm_space"].as_array().map(Vec::len), Some(64));
    assert_eq!(fp["st_space"].as_array().map(Vec::len), Some(32));
    let xsave = ti.fpregs.xsave.as_ref().expect("xsave");
    assert_eq!(num(&fp["xsave"]["xstate_bv"]), xsave.xstate_bv);
    assert_eq!(fp["xsave"]["ymmh_space"][5], xsave.ymmh_space[5]);
    assert_eq!(e["thread_info"]["tls"].as_array().map(Vec::len), Some(3));

    let tc = &e["tc"];
    assert_eq!(tc["comm"], "sample-app");
    assert_eq!(num(&tc["blk_sigset"]), 1 << 9);
    assert_eq!(tc["rlimits"]["rlimits"].as_array().map(Vec::len), Some(16));
    assert_eq!(tc["rlimits"]["rlimits"][7]["cur"], 1024);
    assert_eq!(tc["timers"]["real"]["isec"], 2);
    assert_eq!(tc["timers"]["posix"][0]["it_id"], 0);
    assert_eq!(tc["sigactions"].as_array().map(Vec::len), Some(64));
    assert_eq!(num(&tc["sigactions"][9]["sigaction"]), 0x40_1230);
    assert_eq!(tc["signals_s"]["signals"].as_array().map(Vec::len), Some(1));
    assert_eq!(tc["child_subreaper"], true);
    assert_eq!(tc["oom_score_adj"], 200);

    let th = &e["thread_core"];
    assert_eq!(num(&th["futex_rla"]), 0x7f00_0000_2a20);
    assert_eq!(th["creds"]["uid"], 1000);
    assert_eq!(th["creds"]["cap_eff"], serde_json::json!([0, 0]));
    assert_eq!(th["seccomp_mode"], "filter");
    assert_eq!(th["sas"]["ss_size"], 8192);
    assert_eq!(num(&th["rseq_entry"]["rseq_abi_pointer"]), 0x7f00_0000_2fe0);
}

fn check_thread_core(dir: &Path) {
    let core = &decode(dir, ImageName::with_id(ImageKind::Core, THREAD));
    let e = &core["entries"][0];
    assert!(
        e.get("tc").is_none(),
        "a thread's core has no task part: {e}"
    );
    assert_eq!(e["thread_core"]["comm"], "worker");
    assert_eq!(e["thread_core"]["sched_nice"], -5);
}

fn check_mm(dir: &Path, sample: &Sample) {
    let mm = &decode(dir, ImageName::with_id(ImageKind::Mm, LEADER));
    let e = &mm["entries"][0];
    assert_eq!(num(&e["mm_start_code"]), sample.mm.mm_start_code);
    assert_eq!(num(&e["mm_brk"]), sample.mm.mm_brk);
    assert_eq!(
        e["mm_saved_auxv"].as_array().map(Vec::len),
        Some(sample.mm.mm_saved_auxv.len())
    );
    let vmas = e["vmas"].as_array().expect("vmas");
    assert_eq!(vmas.len(), sample.mm.vmas.len());
    assert_eq!(vmas[0]["prot"], "PROT_READ | PROT_EXEC");
    assert_eq!(vmas[0]["flags"], "MAP_PRIVATE");
    assert_eq!(vmas[0]["status"], "VMA_AREA_REGULAR | VMA_FILE_PRIVATE");
    assert_eq!(
        vmas[2]["status"],
        "VMA_AREA_REGULAR | VMA_AREA_HEAP | VMA_ANON_PRIVATE"
    );
    assert_eq!(vmas[0]["fd"], -1);
    for (vma, ours) in vmas.iter().zip(&sample.mm.vmas) {
        assert_eq!(num(&vma["start"]), ours.start);
        assert_eq!(num(&vma["end"]), ours.end);
    }
}

fn check_pagemap(dir: &Path) {
    let pm = &decode(dir, ImageName::with_id(ImageKind::Pagemap, LEADER));
    let e = pm["entries"].as_array().expect("entries");
    assert_eq!(e[0]["pages_id"], 1);
    assert_eq!(e.len(), 3, "head and two runs: {pm}");
    assert_eq!(num(&e[1]["vaddr"]), 0x60_2000);
    assert_eq!(e[1]["nr_pages"], 3);
    assert_eq!(e[1]["flags"], "PE_PRESENT");
    assert_eq!(num(&e[2]["vaddr"]), 0x7ffd_0000_0000 - 0x2000);
    let pages = dir.join(ImageName::with_id(ImageKind::Pages, 1).to_string());
    assert_eq!(fs::metadata(pages).expect("pages file").len(), 5 * 4096);
}

fn check_files(dir: &Path) {
    let files = &decode(dir, ImageName::fixed(ImageKind::Files));
    let e = files["entries"].as_array().expect("entries");
    assert_eq!(e[0]["type"], "REG");
    assert_eq!(e[0]["reg"]["name"], "/usr/bin/sample-app");
    assert_eq!(e[0]["reg"]["flags"], "O_LARGEFILE");
    assert_eq!(e[2]["type"], "PIPE");
    assert_eq!(e[2]["pipe"]["pipe_id"], 77_001);
    let fdinfo = &decode(dir, ImageName::with_id(ImageKind::Fdinfo, 1));
    assert_eq!(fdinfo["entries"][3]["type"], "PIPE");
    assert_eq!(fdinfo["entries"][3]["fd"], 3);
    let fs_img = &decode(dir, ImageName::with_id(ImageKind::Fs, LEADER));
    assert_eq!(fs_img["entries"][0]["umask"], 0o022);
}

fn check_pipes_data(dir: &Path) {
    let pd = &decode(dir, ImageName::fixed(ImageKind::PipesData));
    let e = &pd["entries"][0];
    assert_eq!(e["pipe_id"], 77_001);
    assert_eq!(e["bytes"], 13);
    // crit shows the data after the entry as base64 (with a trailing newline).
    assert_eq!(
        e["extra"].as_str().map(str::trim),
        Some("aGVsbG8sIHBpcGUhCg==")
    );
}

fn check_special_files(dir: &Path) {
    let files = &decode(dir, ImageName::fixed(ImageKind::Files));
    let find = |kind: &str| {
        let e = files["entries"].as_array().expect("entries");
        e.iter()
            .find(|f| f["type"] == kind)
            .unwrap_or_else(|| panic!("{kind}"))
            .clone()
    };
    let usk = &find("UNIXSK")["usk"];
    assert_eq!(usk["type"], "STREAM");
    assert_eq!(usk["state"], "ESTABLISHED");
    assert_eq!(usk["peer"], 90_002);
    assert_eq!(usk["name"], "=00sample-abstract"); // crit quotes bytes as =XX
    let isk = &find("INETSK")["isk"];
    assert_eq!(isk["family"], "INET");
    assert_eq!(isk["state"], "LISTEN");
    assert_eq!(isk["src_addr"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(isk["src_port"], 8080);
    assert_eq!(isk["opts"]["reuseaddr"], true);
    let epfd = &find("EVENTPOLL")["epfd"];
    assert_eq!(epfd["tfd"][0]["tfd"], 3);
    assert_eq!(num(&find("SIGNALFD")["sgfd"]["sigmask"]), 1 << 16);
    assert_eq!(find("TIMERFD")["tfd"]["isec"], 1);
    assert_eq!(find("TTY")["tty"]["tty_info_id"], 1);
}

fn check_terminal_and_queues(dir: &Path) {
    let info = &decode(dir, ImageName::fixed(ImageKind::TtyInfo));
    let e = &info["entries"][0];
    assert_eq!(e["type"], "PTY");
    assert_eq!(e["pty"]["index"], 3);
    assert_eq!(e["winsize"]["ws_col"], 80);
    assert_eq!(e["termios"]["c_cc"].as_array().map(Vec::len), Some(19));
    let data = &decode(dir, ImageName::fixed(ImageKind::TtyData));
    assert_eq!(
        data["entries"][0]["data"].as_str().map(str::trim),
        Some("bHMK")
    );
    let queues = &decode(dir, ImageName::fixed(ImageKind::SkQueues));
    let e = &queues["entries"][0];
    assert_eq!(e["id_for"], 9);
    assert_eq!(e["length"], 5);
    assert_eq!(e["extra"].as_str().map(str::trim), Some("cGluZyE="));
}

/// The sample's IPC namespace, as crit reads it: the bytes, values and messages after each
/// entry land where crit looks for them, paddings included.
fn check_ipc_namespace(dir: &Path) {
    let ipc = |kind| decode(dir, ImageName::with_id(kind, engine::codec::ipc::IPC_NS_ID));
    let var = &ipc(ImageKind::IpcVar)["entries"][0];
    assert_eq!(var["sem_ctls"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        (&var["msg_ctlmni"], &var["shm_rmid_forced"]),
        (&1234.into(), &1.into())
    );
    assert_eq!(var["sem_next_id"], 12);

    let shm = &ipc(ImageKind::IpcShm)["entries"];
    assert_eq!(num(&shm[0]["desc"]["key"]), ipc::SHM_KEY as u64);
    assert_eq!(
        (&shm[0]["desc"]["id"], &shm[0]["size"]),
        (&3.into(), &ipc::SHM_SIZE.into())
    );
    // base64 of the bytes 0, 1, 2, 3, 4, 5.
    let data = shm[0]["extra"].as_str().expect("shm bytes");
    assert!(data.starts_with("AAECAwQF"), "{data}");

    let sem = &ipc(ImageKind::IpcSem)["entries"];
    assert_eq!(sem[0]["nsems"], 3);
    assert_eq!(sem[0]["extra"], serde_json::json!(ipc::SEM_VALUES));

    let msg = &ipc(ImageKind::IpcMsg)["entries"];
    assert_eq!(
        (&msg[0]["qnum"], &msg[0]["qbytes"]),
        (&2.into(), &8000.into())
    );
    let messages = msg[0]["extra"]
        .as_array()
        .expect("messages and their bodies");
    assert_eq!(messages.len(), 4);
    assert_eq!(
        (&messages[0]["mtype"], &messages[0]["msize"]),
        (&2.into(), &0.into())
    );
    assert_eq!(
        (&messages[2]["mtype"], &messages[2]["msize"]),
        (&1.into(), &9.into())
    );
    // base64 of "nine byte".
    assert_eq!(messages[3].as_str().map(str::trim), Some("bmluZSBieXRl"));
}

#[test]
fn crit_explores_the_dump_as_a_whole() {
    let scratch = Scratch::new("crit-x");
    write_sample(&scratch.0);
    let dir = scratch.0.to_str().expect("utf-8 path");

    let ps = crit(&["x", dir, "ps"]);
    assert!(ps.contains("sample-app"), "{ps}");
    let fds = crit(&["x", dir, "fds"]);
    assert!(fds.contains("/var/log/sample.log"), "{fds}");
    assert!(fds.contains("pipe[77001]"), "{fds}");
    assert!(
        fds.contains("unix[90001 (90002) =00sample-abstract]"),
        "{fds}"
    );
    assert!(fds.contains("EVENTPOLL.11"), "{fds}");
    let mems = crit(&["x", dir, "mems"]);
    assert!(mems.contains("/usr/bin/sample-app"), "{mems}");
    let rss = crit(&["x", dir, "rss"]);
    assert!(rss.contains("602000"), "{rss}");
}

/// crit's own encoder turns its decoding of each image back into the very
/// bytes crust wrote: same fields, same order, same (unpacked) encoding.
#[test]
fn crit_reencodes_crust_images_byte_for_byte() {
    let scratch = Scratch::new("crit-encode");
    write_sample(&scratch.0);
    let json_dir = std::env::temp_dir().join(format!("crust-crit-json-{}", std::process::id()));
    let json_scratch = Scratch(json_dir.clone());
    fs::create_dir_all(&json_dir).expect("json dir");

    for dirent in fs::read_dir(&scratch.0).expect("list dump") {
        let path = dirent.expect("dirent").path();
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .expect("utf-8 name")
            .to_owned();
        // crit cannot encode a shm segment's bytes again: its ipc_shm_handler.dump hands
        // base64.decodebytes a str, which Python 3 rejects.
        let kind = ImageName::parse(&file).map(|n| n.kind);
        if matches!(kind, Some(ImageKind::Pages | ImageKind::IpcShm)) {
            continue;
        }
        let json = json_dir.join(format!("{file}.json"));
        let again = json_dir.join(&file);
        let (path_s, json_s, again_s) = (
            path.to_str().expect("utf-8"),
            json.to_str().expect("utf-8"),
            again.to_str().expect("utf-8"),
        );
        crit(&["decode", "-i", path_s, "-o", json_s]);
        crit(&["encode", "-i", json_s, "-o", again_s]);
        let (ours, theirs) = (
            fs::read(&path).expect("ours"),
            fs::read(&again).expect("crit's"),
        );
        assert!(ours == theirs, "{file}: crit re-encodes to different bytes");
    }
    drop(json_scratch);
}
