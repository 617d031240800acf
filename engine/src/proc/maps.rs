//! Memory mappings: `/proc/PID/maps`, merged with the `VmFlags` of `/proc/PID/smaps`.

use std::path::PathBuf;

use bitflags::bitflags;
use nix::unistd::Pid;

use super::smaps::{self, VmFlags};
use super::{hex_u64, proc_path, read_parsed, BadLine, DevId, ProcError};

bitflags! {
    /// Access rights of a mapping, with the values of `PROT_*`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Prot: u32 {
        /// `PROT_READ`
        const READ = 0x1;
        /// `PROT_WRITE`
        const WRITE = 0x2;
        /// `PROT_EXEC`
        const EXEC = 0x4;
    }
}

/// What a mapping maps, from the name column of maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmaKind {
    /// Private anonymous memory (no name).
    Anonymous,
    /// Shared anonymous memory (`MAP_SHARED | MAP_ANONYMOUS`, shown as `/dev/zero (deleted)`).
    SharedAnonymous,
    /// `[heap]`
    Heap,
    /// `[stack]`
    Stack,
    /// `[vdso]`
    Vdso,
    /// `[vvar]`
    Vvar,
    /// `[vvar_vclock]` (shown after `[vvar]` since Linux 6.13)
    VvarVclock,
    /// `[vsyscall]`
    Vsyscall,
    /// `[uprobes]`: the page of uprobe trampolines
    Uprobes,
    /// Anonymous memory named with `PR_SET_VMA_ANON_NAME` (`[anon:NAME]`)
    AnonNamed(String),
    /// Shared anonymous memory named with `PR_SET_VMA_ANON_NAME` (`[anon_shmem:NAME]`)
    SharedAnonNamed(String),
    /// A file; `deleted` when the kernel marks the path ` (deleted)`.
    File { path: PathBuf, deleted: bool },
    /// A memfd (`/memfd:NAME (deleted)`).
    Memfd { name: String },
    /// A SysV shared memory attachment (`/SYSVKEY (deleted)`; the maps inode is the shmid).
    SysvShm { key: u32 },
    /// hugetlbfs-backed anonymous memory (`/anon_hugepage (deleted)`).
    AnonHugepage,
    /// Any other bracketed name the kernel invents.
    Special(String),
}

/// One mapping of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vma {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Access rights.
    pub prot: Prot,
    /// `MAP_SHARED` (an `s` in maps) rather than private.
    pub shared: bool,
    /// Offset into the file, in bytes.
    pub offset: u64,
    /// Device of the mapped file.
    pub dev: DevId,
    /// Inode of the mapped file (for SysV shm: the shmid).
    pub inode: u64,
    /// What is mapped.
    pub kind: VmaKind,
    /// The `VmFlags` line of smaps (empty when read from maps alone).
    pub flags: VmFlags,
}

impl Vma {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the mapping is empty (never true for a kernel-made vma).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The `/proc/PID/map_files/START-END` link through which the mapped file can be opened.
    pub fn map_files_path(&self, pid: Pid) -> PathBuf {
        proc_path(pid, &format!("map_files/{:x}-{:x}", self.start, self.end))
    }

    /// Whether the vma maps a file (of any kind, memfd and SysV shm included).
    pub fn is_file_backed(&self) -> bool {
        matches!(
            self.kind,
            VmaKind::File { .. }
                | VmaKind::Memfd { .. }
                | VmaKind::SysvShm { .. }
                | VmaKind::AnonHugepage
        )
    }
}

/// The mappings of `pid`, with smaps' `VmFlags` filled in.
pub fn maps(pid: Pid) -> Result<Vec<Vma>, ProcError> {
    read_parsed(pid, "smaps", smaps::parse_smaps)
}

/// The mappings of `pid` from maps alone (no `VmFlags`; cheaper than [`maps`]).
pub fn maps_only(pid: Pid) -> Result<Vec<Vma>, ProcError> {
    read_parsed(pid, "maps", parse_maps)
}

/// Parse a whole maps file.
pub fn parse_maps(text: &str) -> Result<Vec<Vma>, BadLine> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(parse_vma_line)
        .collect()
}

/// Parse one line of maps (also the header lines of smaps).
pub fn parse_vma_line(line: &str) -> Result<Vma, BadLine> {
    let mut fields = line.splitn(6, ' ');
    let mut next = |what| fields.next().ok_or(BadLine::new(line, what));
    let range = next("no address range")?;
    let perms = next("no permissions")?;
    let offset = next("no offset")?;
    let dev = next("no device")?;
    let inode = next("no inode")?;
    let name = fields.next().unwrap_or("").trim_start_matches(' ');

    let (start, end) = range
        .split_once('-')
        .ok_or(BadLine::new(line, "range is not START-END"))?;
    let (start, end) = (
        hex_u64(start, line, "bad start")?,
        hex_u64(end, line, "bad end")?,
    );
    let (prot, shared) = parse_perms(perms, line)?;
    let dev = DevId::parse_hex(dev, line)?;
    let inode = inode.parse().map_err(|_| BadLine::new(line, "bad inode"))?;
    let kind = classify_name(name, dev, inode);
    let offset = hex_u64(offset, line, "bad offset")?;
    Ok(Vma {
        start,
        end,
        prot,
        shared,
        offset,
        dev,
        inode,
        kind,
        flags: VmFlags::empty(),
    })
}

fn parse_perms(perms: &str, line: &str) -> Result<(Prot, bool), BadLine> {
    let bytes = perms.as_bytes();
    if bytes.len() != 4 {
        return Err(BadLine::new(line, "permissions are not four letters"));
    }
    let mut prot = Prot::empty();
    prot.set(Prot::READ, bytes[0] == b'r');
    prot.set(Prot::WRITE, bytes[1] == b'w');
    prot.set(Prot::EXEC, bytes[2] == b'x');
    let shared = match bytes[3] {
        b's' => true,
        b'p' => false,
        _ => return Err(BadLine::new(line, "sharing is neither p nor s")),
    };
    Ok((prot, shared))
}

/// The device the kernel gives to its internal shmem mount (SysV shm, memfd, shared anon).
const SHMEM_DEV: DevId = DevId { major: 0, minor: 1 };

fn classify_name(name: &str, dev: DevId, inode: u64) -> VmaKind {
    if name.is_empty() {
        return VmaKind::Anonymous;
    }
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return classify_bracketed(inner);
    }
    let (path, deleted) = match name.strip_suffix(" (deleted)") {
        Some(path) => (path, true),
        None => (name, false),
    };
    if deleted && path == "/anon_hugepage" {
        // hugetlbfs' internal mount, whatever its device number.
        return VmaKind::AnonHugepage;
    }
    if dev == SHMEM_DEV && deleted {
        if let Some(kind) = classify_shmem(path, inode) {
            return kind;
        }
    }
    VmaKind::File {
        path: PathBuf::from(path),
        deleted,
    }
}

fn classify_bracketed(inner: &str) -> VmaKind {
    match inner {
        "heap" => VmaKind::Heap,
        "stack" => VmaKind::Stack,
        "vdso" => VmaKind::Vdso,
        "vvar" => VmaKind::Vvar,
        "vvar_vclock" => VmaKind::VvarVclock,
        "vsyscall" => VmaKind::Vsyscall,
        "uprobes" => VmaKind::Uprobes,
        _ => {
            if let Some(name) = inner.strip_prefix("anon:") {
                VmaKind::AnonNamed(name.to_string())
            } else if let Some(name) = inner.strip_prefix("anon_shmem:") {
                VmaKind::SharedAnonNamed(name.to_string())
            } else {
                VmaKind::Special(inner.to_string())
            }
        }
    }
}

fn classify_shmem(path: &str, _inode: u64) -> Option<VmaKind> {
    if path == "/dev/zero" {
        return Some(VmaKind::SharedAnonymous);
    }
    if let Some(name) = path.strip_prefix("/memfd:") {
        return Some(VmaKind::Memfd {
            name: name.to_string(),
        });
    }
    let key = path.strip_prefix("/SYSV")?;
    u32::from_str_radix(key, 16)
        .ok()
        .map(|key| VmaKind::SysvShm { key })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
555743ac8000-555743aca000 r--p 00000000 fe:00 247030                     /usr/bin/cat
555780fcb000-555780fec000 rw-p 00000000 00:00 0                          [heap]
7fbbf32e7000-7fbbf3309000 rw-p 00000000 00:00 0 
7fbbf3391000-7fbbf34e7000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
7fbbf354f000-7fbbf3556000 r--s 00000000 fe:00 325745                     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache
7fbbf3559000-7fbbf355d000 r--p 00000000 00:00 0                          [vvar]
7fbbf355d000-7fbbf355f000 r--p 00000000 00:00 0                          [vvar_vclock]
7fbbf355f000-7fbbf3561000 r-xp 00000000 00:00 0                          [vdso]
7fac42152000-7fac42153000 rw-s 00000000 00:01 0                          /SYSV00001234 (deleted)
7fac42153000-7fac42155000 rw-s 00000000 00:01 1026                       /dev/zero (deleted)
7fa3b5093000-7fa3b5095000 rw-s 00000000 00:01 1025                       /memfd:hello (deleted)
7fa3b5095000-7fa3b5096000 rw-p 00000000 fe:00 99                         /tmp/gone file (deleted)
7fa3b5096000-7fa3b5097000 rw-p 00000000 00:00 0                          [anon:my arena]
7ffd864e4000-7ffd86505000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";

    #[test]
    fn sample_maps_parse() {
        let vmas = parse_maps(SAMPLE).unwrap();
        let kinds: Vec<&VmaKind> = vmas.iter().map(|v| &v.kind).collect();
        assert_eq!(
            kinds[0],
            &VmaKind::File {
                path: "/usr/bin/cat".into(),
                deleted: false
            }
        );
        assert_eq!(kinds[1], &VmaKind::Heap);
        assert_eq!(kinds[2], &VmaKind::Anonymous);
        assert_eq!(kinds[5], &VmaKind::Vvar);
        assert_eq!(kinds[6], &VmaKind::VvarVclock);
        assert_eq!(kinds[7], &VmaKind::Vdso);
        assert_eq!(kinds[8], &VmaKind::SysvShm { key: 0x1234 });
        assert_eq!(kinds[9], &VmaKind::SharedAnonymous);
        assert_eq!(
            kinds[10],
            &VmaKind::Memfd {
                name: "hello".into()
            }
        );
        assert_eq!(
            kinds[11],
            &VmaKind::File {
                path: "/tmp/gone file".into(),
                deleted: true
            }
        );
        assert_eq!(kinds[12], &VmaKind::AnonNamed("my arena".into()));
        assert_eq!(kinds[13], &VmaKind::Stack);
        assert_eq!(kinds[14], &VmaKind::Vsyscall);
    }

    #[test]
    fn fields_of_a_file_line() {
        let vma = &parse_maps(SAMPLE).unwrap()[3];
        assert_eq!((vma.start, vma.end), (0x7fbbf3391000, 0x7fbbf34e7000));
        assert_eq!(vma.prot, Prot::READ | Prot::EXEC);
        assert!(!vma.shared);
        assert_eq!(vma.offset, 0x26000);
        assert_eq!(
            vma.dev,
            DevId {
                major: 0xfe,
                minor: 0
            }
        );
        assert_eq!(vma.inode, 326279);
        assert!(parse_maps(SAMPLE).unwrap()[4].shared);
        assert_eq!(parse_maps(SAMPLE).unwrap()[14].prot, Prot::EXEC);
    }

    #[test]
    fn broken_lines_are_named() {
        let bad = parse_vma_line("1000-zz r--p 0 00:00 0").unwrap_err();
        assert_eq!(bad.reason, "bad end");
        assert_eq!(
            parse_vma_line("1000-2000 r--q 0 00:00 0")
                .unwrap_err()
                .reason,
            "sharing is neither p nor s"
        );
        assert!(parse_vma_line("1000-2000 r--p").is_err());
    }

    #[test]
    fn own_maps_have_a_stack_and_flags() {
        let vmas = maps(nix::unistd::getpid()).unwrap();
        let stack = vmas.iter().find(|v| v.kind == VmaKind::Stack).unwrap();
        assert!(stack.flags.contains(VmFlags::GROWSDOWN));
    }
}
