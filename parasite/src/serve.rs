//! The command loop: receive, dispatch, reply, until Finish or the host
//! disappears.

use syscalls::signal::{sigtimedwait_now, SIGPIPE};
use syscalls::Errno;

use crate::area::Area;
use crate::commands::{self, close_fd, failed, ok};
use crate::control::{Control, Received};
use crate::entry;
use crate::protocol::{Command, CommandKind, Reply};

/// What the parasite holds between commands.
struct State {
    area: Area,
    control: Control,
    pipe: Option<i32>,
    saw_epipe: bool,
}

/// Serves commands until Finish (then traps to the host) or until the host
/// is gone (then cures itself).
pub fn run(area: Area) -> ! {
    let control = Control::new(area.control_fd());
    let mut state = State {
        area,
        control,
        pipe: None,
        saw_epipe: false,
    };
    loop {
        match state.control.receive() {
            Received::Command(command, fd) => state.handle(command, fd),
            Received::Malformed(errno) => state.reply(failed(errno, 0)),
            Received::Gone => state.cure(),
        }
    }
}

impl State {
    fn handle(&mut self, command: Command, fd: Option<i32>) {
        let kind = CommandKind::from_raw(command.kind);
        if kind != Some(CommandKind::ReceivePipe) {
            close_fd(fd);
        }
        let reply = match kind {
            Some(CommandKind::Info) => commands::info(&self.area),
            Some(CommandKind::ReceivePipe) => self.receive_pipe(fd),
            Some(CommandKind::DrainPages) => self.drain_pages(command.count),
            Some(CommandKind::SendFds) => return self.send_fds(command.count),
            Some(CommandKind::Finish) => self.finish(),
            Some(CommandKind::Fault) => entry::fault(),
            None => failed(Errno::ENOSYS, 0),
        };
        self.reply(reply);
    }

    fn receive_pipe(&mut self, fd: Option<i32>) -> Reply {
        let Some(fd) = fd else {
            return failed(Errno::EINVAL, 0);
        };
        close_fd(self.pipe.replace(fd));
        ok(0)
    }

    fn drain_pages(&mut self, count: u32) -> Reply {
        let Some(pipe) = self.pipe else {
            return failed(Errno::EBADF, 0);
        };
        let drained = commands::drain_pages(&self.area, pipe, count);
        match drained.error {
            None => ok(drained.bytes),
            Some(errno) => {
                self.saw_epipe |= errno == Errno::EPIPE;
                failed(errno, drained.bytes)
            }
        }
    }

    fn send_fds(&mut self, count: u32) {
        if commands::send_fds(&self.area, &self.control, count).is_err() {
            self.cure();
        }
    }

    fn finish(&mut self) -> ! {
        self.reply(ok(0));
        close_fd(self.pipe.take());
        entry::trap()
    }

    /// Sends a reply; a host that cannot be reached is a host that is gone.
    fn reply(&mut self, reply: Reply) {
        if self.control.send(reply, &[]).is_err() {
            self.cure();
        }
    }

    /// The host is gone: drop what the parasite holds and return the thread
    /// to its saved state.
    fn cure(&mut self) -> ! {
        close_fd(self.pipe.take());
        close_fd(Some(self.control.fd()));
        if self.saw_epipe {
            let _ = sigtimedwait_now(1 << (SIGPIPE - 1));
        }
        entry::selfcure()
    }
}
