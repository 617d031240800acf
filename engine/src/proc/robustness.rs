//! Every pure parser of [`crate::proc`] returns an error, never panics, whatever the text.

use proptest::prelude::*;

use super::{
    auxv, fdinfo, limits, locks, maps, mountinfo, smaps, stat, status, sysvipc, task, timers,
};

/// Text shaped a little like /proc files: digits, hex, separators and brackets.
fn proc_like_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[0-9a-fA-F:()\\[\\] \t\n/\\-\\\\rwxps.]{0,200}").unwrap()
}

proptest! {
    #[test]
    fn text_parsers_do_not_panic(text in proc_like_text()) {
        let _ = maps::parse_maps(&text);
        let _ = smaps::parse_smaps(&text);
        let _ = status::parse_status(&text);
        let _ = stat::parse_stat(&text);
        let _ = fdinfo::parse_fdinfo(&text);
        let _ = limits::parse_limits(&text);
        let _ = mountinfo::parse_mountinfo(&text);
        let _ = mountinfo::unescape(&text);
        let _ = timers::parse_timers(&text);
        let _ = locks::parse_locks(&text);
        let _ = sysvipc::parse_shm(&text);
        let _ = sysvipc::parse_msg(&text);
        let _ = sysvipc::parse_sem(&text);
        let _ = task::parse_children(&text);
    }

    #[test]
    fn arbitrary_unicode_does_not_panic(text in any::<String>()) {
        let _ = maps::parse_maps(&text);
        let _ = stat::parse_stat(&text);
        let _ = limits::parse_limits(&text);
        let _ = mountinfo::unescape(&text);
        let _ = locks::parse_locks(&text);
    }

    #[test]
    fn auxv_bytes_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let pairs = auxv::parse_auxv(&bytes);
        prop_assert!(pairs.len() * 16 <= bytes.len());
    }
}
