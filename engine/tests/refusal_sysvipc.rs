//! Refusals of SysV message queues and semaphore sets, on real children using objects the test
//! makes (and removes, whatever the outcome).

mod refusal_child;

use refusal_child::{lines, serial, Child};

/// A SysV IPC object made by the test, removed on drop.
enum Ipc {
    Queue(i32),
    Semaphores(i32),
}

impl Ipc {
    fn queue() -> Ipc {
        // SAFETY: msgget takes integers only.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "msgget: {}", std::io::Error::last_os_error());
        Ipc::Queue(id)
    }

    fn semaphores(count: i32) -> Ipc {
        // SAFETY: semget takes integers only.
        let id = unsafe { libc::semget(libc::IPC_PRIVATE, count, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "semget: {}", std::io::Error::last_os_error());
        Ipc::Semaphores(id)
    }

    fn id(&self) -> i32 {
        match self {
            Ipc::Queue(id) | Ipc::Semaphores(id) => *id,
        }
    }
}

impl Drop for Ipc {
    fn drop(&mut self) {
        match self {
            // SAFETY: IPC_RMID takes no buffer.
            Ipc::Queue(id) => unsafe { libc::msgctl(*id, libc::IPC_RMID, std::ptr::null_mut()) },
            // SAFETY: IPC_RMID takes no fourth argument.
            Ipc::Semaphores(id) => unsafe { libc::semctl(*id, 0, libc::IPC_RMID) },
        };
    }
}

/// A message as msgsnd takes it: a positive type, then the text.
#[repr(C)]
struct Message {
    kind: libc::c_long,
    text: [u8; 4],
}

#[test]
fn message_queue_sent_to_is_refused() {
    let _serial = serial();
    let queue = Ipc::queue();
    let id = queue.id();
    let child = Child::spawn(&[], move || {
        let message = Message {
            kind: 1,
            text: *b"ping",
        };
        // SAFETY: `message` is a valid msgbuf with 4 bytes of text; msgsnd only reads it.
        unsafe { libc::msgsnd(id, (&message as *const Message).cast(), 4, 0) == 0 }
    });
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: SysV message queue (key 0x00000000, id {id}): \
             crust does not dump the SysV objects of its own IPC namespace; a tree running in \
             an IPC namespace of its own (started with `unshare --ipc`) is dumped with its \
             objects"
        )]
    );
}

#[test]
fn message_queue_received_from_is_refused() {
    let _serial = serial();
    let queue = Ipc::queue();
    let id = queue.id();
    let message = Message {
        kind: 1,
        text: *b"pong",
    };
    // SAFETY: `message` is a valid msgbuf with 4 bytes of text; msgsnd only reads it.
    let sent = unsafe { libc::msgsnd(id, (&message as *const Message).cast(), 4, 0) };
    assert_eq!(sent, 0);
    let child = Child::spawn(&[], move || {
        let mut message = Message {
            kind: 0,
            text: [0; 4],
        };
        // SAFETY: `message` has room for 4 bytes of text, the size given.
        let got = unsafe { libc::msgrcv(id, (&mut message as *mut Message).cast(), 4, 0, 0) };
        got == 4
    });
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: SysV message queue (key 0x00000000, id {id}): \
             crust does not dump the SysV objects of its own IPC namespace; a tree running in \
             an IPC namespace of its own (started with `unshare --ipc`) is dumped with its \
             objects"
        )]
    );
}

#[test]
fn semaphore_operated_on_with_undo_is_refused() {
    let _serial = serial();
    let set = Ipc::semaphores(2);
    let id = set.id();
    let child = Child::spawn(&[], move || {
        let mut op = libc::sembuf {
            sem_num: 1,
            sem_op: 1,
            sem_flg: libc::SEM_UNDO as libc::c_short,
        };
        // SAFETY: `op` is one valid sembuf; semop only reads it.
        unsafe { libc::semop(id, &mut op, 1) == 0 }
    });
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: SysV semaphore set (key 0x00000000, id {id}): \
             crust does not dump the SysV objects of its own IPC namespace; a tree running in \
             an IPC namespace of its own (started with `unshare --ipc`) is dumped with its \
             objects"
        )]
    );
}

#[test]
fn unused_objects_are_not_refused() {
    let _serial = serial();
    let (_queue, _set) = (Ipc::queue(), Ipc::semaphores(1));
    let child = Child::spawn(&[], || true);
    assert_eq!(lines(child.pid), Vec::<String>::new());
}
