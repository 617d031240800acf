//! An infected victim: a shared area mapped in it, holding the parasite blob,
//! the area trampoline and the self-cure sigframe.

use arch::x86_64::nr;
use arch::x86_64::sigframe;
use arch::x86_64::trampoline;
use nix::unistd::Pid;

use super::first_map::Backing;
use super::layout::{AreaLayout, AreaRequest, LayoutError};
use super::protocol::{SELFCURE_SYMBOL, SIGFRAME_SYMBOL};
use super::shared::{SharedArea, SharedError};
use super::victim::{SeizedThread, Victim};
use super::{InfectError, InfectOptions};
use crate::blob::Blob;
use crate::remote::{check_result, RemoteError};
use crate::signals;

/// Every signal blocked (the kernel still lets SIGKILL and SIGSTOP through).
const ALL_SIGNALS: u64 = u64::MAX;

/// A victim with the shared area mapped; remote syscalls go through the area
/// trampoline. Dropping it cures the victim (best effort, logged);
/// [`Infection::cure`] returns the error.
#[derive(Debug)]
pub struct Infection {
    victim: Victim,
    area: SharedArea,
    pub(crate) layout: AreaLayout,
    pub(crate) blob: Blob,
    /// The victim's own fds compel opened (closed by the cure).
    pub(crate) remote_fds: Vec<i32>,
    signals_blocked: bool,
    cured: bool,
    /// The thread (by index) whose saved state the threads' sigframe holds.
    thread_in_frame: Option<usize>,
}

/// Offsets of the blob's symbols compel needs, looked up before anything is
/// done to the victim.
#[derive(Debug, Clone, Copy)]
struct BlobSymbols {
    selfcure: u64,
}

impl Victim {
    /// Infects with the built-in parasite and default sizes.
    pub fn infect(self) -> Result<Infection, InfectError> {
        self.infect_with(InfectOptions::default())
    }

    /// Maps the shared area in the victim and prepares it: blob, area
    /// trampoline, self-cure sigframe. Errors found before the remote mmap
    /// (a blob too large for the area, a 32-bit victim) leave the victim
    /// untouched; on any error the victim is cured and released.
    pub fn infect_with(mut self, mut options: InfectOptions) -> Result<Infection, InfectError> {
        signals::check()?;
        let pid = self.pid();
        if self.leader().regs.is_compat() {
            return Err(InfectError::Compat { pid });
        }
        let blob = match options.blob.take() {
            Some(blob) => blob,
            None => crate::blob::parasite().map_err(|source| InfectError::Blob { pid, source })?,
        };
        let symbols = blob_symbols(pid, &blob)?;
        let layout = plan(&self, &blob, &options)?;

        let backing = Backing::create(pid, options.sharing, layout.size)?;
        let remote = self.map_area(layout.size, &backing)?;
        let area = match self.share_area(remote, &layout, symbols, backing) {
            Ok(area) => area,
            Err(error) => {
                self.unmap_with_code_trampoline(remote, layout.size);
                return Err(error);
            }
        };
        let mut infection = Infection {
            victim: self,
            area,
            layout,
            blob,
            remote_fds: Vec::new(),
            signals_blocked: false,
            cured: false,
            thread_in_frame: None,
        };
        infection.fill_area()?;
        log::debug!("pid {pid}: area of {:#x} bytes at {remote:#x}", layout.size);
        Ok(infection)
    }

    /// Maps the area in the host and writes the area trampoline first, so
    /// that from here on a cure can go through it.
    fn share_area(
        &self,
        remote: u64,
        layout: &AreaLayout,
        symbols: BlobSymbols,
        backing: Backing,
    ) -> Result<SharedArea, InfectError> {
        let pid = self.pid();
        let area = match backing {
            Backing::Anonymous => SharedArea::map(pid, remote, layout.size),
            Backing::Memfd(memfd) => SharedArea::map_memfd(remote, layout.size, memfd),
        };
        let area = area.map_err(|source| InfectError::Shared { pid, source })?;
        let at = area.remote_at(layout.trampoline);
        let bytes = trampoline::syscall_jmp(at, remote + symbols.selfcure)
            .ok_or(InfectError::TrampolineReach { pid, at })?;
        area.write(layout.trampoline, &bytes)
            .map_err(|source| InfectError::Shared { pid, source })?;
        // The other threads' trampoline returns each to its own saved state, should the tool
        // die while it runs a syscall there.
        let at = area.remote_at(layout.thread_trampoline);
        let frame = area.remote_at(layout.thread_sigframe);
        let bytes =
            trampoline::syscall_sigreturn(frame).ok_or(InfectError::TrampolineReach { pid, at })?;
        area.write(layout.thread_trampoline, &bytes)
            .map_err(|source| InfectError::Shared { pid, source })?;
        Ok(area)
    }
}

fn blob_symbols(pid: Pid, blob: &Blob) -> Result<BlobSymbols, InfectError> {
    let symbol = |name| {
        blob.require_symbol(name)
            .map_err(|source| InfectError::Blob { pid, source })
    };
    symbol(SIGFRAME_SYMBOL)?;
    Ok(BlobSymbols {
        selfcure: symbol(SELFCURE_SYMBOL)?,
    })
}

fn plan(victim: &Victim, blob: &Blob, options: &InfectOptions) -> Result<AreaLayout, InfectError> {
    let pid = victim.pid();
    let layout_error = |source| InfectError::Layout { pid, source };
    let blob_len = usize::try_from(blob.image_size()).map_err(|_| {
        layout_error(LayoutError::Overflow {
            blob_len: usize::MAX,
        })
    })?;
    let request = AreaRequest {
        blob_len,
        sigframe_size: sigframe::max_size(victim.leader().xstate.len()),
        args_size: options.args_size,
        stack_size: options.stack_size,
        area_size: options.area_size,
    };
    AreaLayout::plan(request).map_err(layout_error)
}

impl Infection {
    /// Writes the relocated blob (with the sigframe's address patched in)
    /// and the self-cure sigframe into the area.
    fn fill_area(&mut self) -> Result<(), InfectError> {
        let pid = self.pid();
        let layout = self.layout;
        let blob_error = |source| InfectError::Blob { pid, source };
        let shared = |source| InfectError::Shared { pid, source };

        let remote = self.area.remote();
        let sigframe_remote = self.area.remote_at(layout.sigframe);
        let mut image = vec![0u8; layout.blob_len];
        self.blob
            .image_for(remote, &mut image)
            .map_err(blob_error)?;
        self.blob
            .patch_u64(&mut image, SIGFRAME_SYMBOL, sigframe_remote)
            .map_err(blob_error)?;
        self.area.write(0, &image).map_err(shared)?;

        let frame = self.self_cure_frame(pid, sigframe_remote)?;
        self.area.write(layout.sigframe, &frame).map_err(shared)
    }

    /// The rt_sigframe that returns the leader to its saved state.
    fn self_cure_frame(&self, pid: Pid, remote: u64) -> Result<Vec<u8>, InfectError> {
        self.victim.leader().cure_frame(pid, remote)
    }

    /// Puts thread `index`'s saved state in the threads' sigframe, unless it is there already.
    fn frame_thread(&mut self, index: usize) -> Result<(), InfectError> {
        if self.thread_in_frame == Some(index) {
            return Ok(());
        }
        let pid = self.pid();
        let thread = self
            .victim
            .threads()
            .get(index)
            .ok_or(InfectError::Gone { pid })?;
        let remote = self.area.remote_at(self.layout.thread_sigframe);
        let frame = thread.cure_frame(pid, remote)?;
        self.area
            .write(self.layout.thread_sigframe, &frame)
            .map_err(|source| InfectError::Shared { pid, source })?;
        self.thread_in_frame = Some(index);
        Ok(())
    }

    pub(crate) fn victim(&self) -> &Victim {
        &self.victim
    }

    pub(crate) fn victim_mut(&mut self) -> &mut Victim {
        &mut self.victim
    }

    pub(crate) fn area(&self) -> &SharedArea {
        &self.area
    }

    /// The victim's process id.
    pub fn pid(&self) -> Pid {
        self.victim().pid()
    }

    /// Remote address and size of the shared area.
    pub fn area_range(&self) -> (u64, usize) {
        (self.area().remote(), self.layout.size)
    }

    /// Runs syscall `nr` in the leader through the area trampoline; returns the
    /// raw result (negative errno on failure). The leader's signals stay
    /// blocked from the first call until the cure.
    pub fn syscall(&mut self, nr: i64, args: [u64; 6]) -> Result<i64, InfectError> {
        signals::check()?;
        let pid = self.pid();
        if self.cured {
            return Err(InfectError::Cured { pid });
        }
        let trampoline = self.area.remote_at(self.layout.trampoline);
        self.block_leader_signals()?;
        let leader = &mut self.victim.leader_mut().tracee;
        let result = leader.syscall(trampoline, nr, args);
        if let Err(RemoteError::Exited { .. }) = result {
            self.victim.mark_exited();
        }
        result.map_err(|source| InfectError::remote(pid, "user syscall", source))
    }

    /// Blocks every signal in the leader before compel's code first runs
    /// there (the saved mask comes back with the cure or the self-cure).
    fn block_leader_signals(&mut self) -> Result<(), InfectError> {
        if std::mem::replace(&mut self.signals_blocked, true) {
            return Ok(());
        }
        let pid = self.pid();
        let leader = &mut self.victim.leader_mut().tracee;
        leader
            .set_sigmask(ALL_SIGNALS)
            .map_err(|source| InfectError::ptrace(pid, source))
    }

    /// The seized threads, leader first, with the state each had when seized.
    pub fn threads(&self) -> &[SeizedThread] {
        self.victim.threads()
    }

    /// Runs syscall `nr` in thread `index` of [`Infection::threads`] (0 is the
    /// leader) through the area trampoline; returns the raw result. The
    /// thread's signals are blocked from its first call until the cure, which
    /// gives it back its registers and mask.
    pub fn syscall_in(
        &mut self,
        index: usize,
        nr: i64,
        args: [u64; 6],
    ) -> Result<i64, InfectError> {
        if index == 0 {
            return self.syscall(nr, args);
        }
        signals::check()?;
        let pid = self.pid();
        self.frame_thread(index)?;
        let trampoline = self.area.remote_at(self.layout.thread_trampoline);
        let thread = self
            .victim
            .thread_mut(index)
            .ok_or(InfectError::Gone { pid })?;
        let tid = thread.tracee.tid();
        if !std::mem::replace(&mut thread.adjusted, true) {
            let blocked = thread.tracee.set_sigmask(ALL_SIGNALS);
            blocked.map_err(|source| InfectError::Ptrace { pid: tid, source })?;
        }
        let result = thread.tracee.syscall(trampoline, nr, args);
        if let Err(RemoteError::Exited { .. }) = result {
            self.victim.mark_exited();
        }
        result.map_err(|source| InfectError::remote(tid, "", source))
    }

    /// The remote address of byte `offset` of the args region, where remote
    /// syscalls can be given pointers to read from or write to.
    pub fn scratch_addr(&self, offset: usize) -> u64 {
        self.area.remote_at(self.layout.args + offset)
    }

    /// Copies bytes out of the args region at `offset`.
    pub fn scratch_read(&self, offset: usize, out: &mut [u8]) -> Result<(), InfectError> {
        self.check_scratch(offset, out.len())?;
        let read = self.area.read(self.layout.args + offset, out);
        read.map_err(|source| InfectError::Shared {
            pid: self.pid(),
            source,
        })
    }

    /// Copies bytes into the args region at `offset`.
    pub fn scratch_write(&self, offset: usize, bytes: &[u8]) -> Result<(), InfectError> {
        self.check_scratch(offset, bytes.len())?;
        let written = self.area.write(self.layout.args + offset, bytes);
        written.map_err(|source| InfectError::Shared {
            pid: self.pid(),
            source,
        })
    }

    fn check_scratch(&self, offset: usize, len: usize) -> Result<(), InfectError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.layout.args_size => Ok(()),
            _ => Err(InfectError::Shared {
                pid: self.pid(),
                source: SharedError::OutOfBounds {
                    offset,
                    len,
                    size: self.layout.args_size,
                },
            }),
        }
    }

    /// Ends the victim with SIGKILL instead of curing it, as a dump does once
    /// its images are safe: the threads die stopped, so nothing the infection
    /// changed is ever seen.
    pub fn kill(mut self) -> Result<(), InfectError> {
        self.kill_in_place()
    }

    pub(crate) fn kill_in_place(&mut self) -> Result<(), InfectError> {
        self.cured = true;
        self.victim.kill_in_place()
    }

    /// [`Infection::syscall`] with a negative result turned into an error
    /// naming the syscall.
    pub fn syscall_checked(&mut self, nr: i64, args: [u64; 6]) -> Result<u64, InfectError> {
        let result = self.syscall(nr, args)?;
        let tid = self.victim().leader().tracee.tid();
        check_result(tid, nr, result)
            .map_err(|source| InfectError::remote(self.pid(), "user syscall", source))
    }

    /// Closes compel's fds in the victim, unmaps the area (the last remote
    /// syscall; the leader stops at its exit so the vanished trampoline never
    /// runs), restores every thread and detaches.
    pub fn cure(mut self) -> Result<(), InfectError> {
        self.cure_in_place()
    }

    pub(crate) fn cure_in_place(&mut self) -> Result<(), InfectError> {
        if std::mem::replace(&mut self.cured, true) {
            return Ok(());
        }
        let unmapped = if self.victim.has_exited() {
            Ok(())
        } else {
            self.unmap_area()
        };
        let released = self.victim.release();
        unmapped.and(released)
    }

    /// Remote close of compel's fds and munmap of the area. Stops at the
    /// first remote error: the victim is gone or no longer obeys.
    fn unmap_area(&mut self) -> Result<(), InfectError> {
        self.block_leader_signals()?;
        let pid = self.pid();
        let (remote, size) = (self.area.remote(), self.layout.size as u64);
        let trampoline = self.area.remote_at(self.layout.trampoline);
        let leader = &mut self.victim.leader_mut().tracee;
        for fd in std::mem::take(&mut self.remote_fds) {
            let args = [fd as u64, 0, 0, 0, 0, 0];
            leader
                .syscall_checked(trampoline, nr::CLOSE as i64, args)
                .map_err(|source| InfectError::remote(pid, "closing compel's fd", source))?;
        }
        leader
            .syscall_checked(trampoline, nr::MUNMAP as i64, [remote, size, 0, 0, 0, 0])
            .map_err(|source| InfectError::remote(pid, "unmapping the area", source))?;
        Ok(())
    }
}

impl Drop for Infection {
    fn drop(&mut self) {
        if let Err(error) = self.cure_in_place() {
            log::warn!("curing the infection: {error}");
        }
    }
}
