//! Raw Linux syscalls for code that has no libc (the parasite blob).
#![no_std]
